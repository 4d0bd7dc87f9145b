// RUN: kiln-opt %s --kiln-select-lowering-strategy=vector-bits=512 | FileCheck %s --check-prefix=AVX512
// RUN: kiln-opt %s --kiln-select-lowering-strategy=vector-bits=256 | FileCheck %s --check-prefix=AVX2
// RUN: kiln-opt %s --kiln-select-lowering-strategy="level=workgroup vector-bits=512" | FileCheck %s --check-prefix=WG512
// RUN: kiln-opt %s --kiln-select-lowering-strategy="level=workgroup vector-bits=256" | FileCheck %s --check-prefix=WG256
// RUN: not kiln-opt %s --kiln-select-lowering-strategy=level=register 2>&1 | FileCheck %s --check-prefix=LEVEL

// The target is written here, not taken from the host: AVX-512 (32 registers of 16 f32) and
// AVX2 (16 registers of 8 f32). Each op of a dispatch gets the whole decision as one attribute.

// LEVEL: kiln-select-lowering-strategy: level must be workgroup or codegen, not 'register'

// The workgroup level (chosen as dispatches form, for async functions to apply): 256 rows
// into 16 workgroups of 16 rows on AVX-512 (whole 8-row register tiles); on AVX2 256 rows
// never split into whole 6-row tiles, so 16 workgroups of 16 columns. Nothing else is chosen
// at this level.
// WG512-LABEL: func.func private @matrix
// WG512: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [16, 0, 0]>}
// WG256-LABEL: func.func private @matrix
// WG256: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [0, 16, 0]>}

// A matrix product: register tiles of 8 rows x 2 vectors on AVX-512, 6 x 2 on AVX2 (where 8
// rows spill the 16 registers), the reduction stepped one at a time (outer products). A ragged
// column tile is cut at one vector (ragged_split): whole vectors, then a partial one.
// AVX512-LABEL: func.func private @matrix
// AVX512: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, tiles = [8, 32, 1], vector_sizes = [8, 32, 1], ragged_split = [0, 16, 0], named_contraction>}
// AVX2-LABEL: func.func private @matrix
// AVX2: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, tiles = [6, 16, 1], vector_sizes = [6, 16, 1], ragged_split = [0, 8, 0], named_contraction>}
func.func private @matrix(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  return
}

// 64 rows split into whole register tiles would have each of 8 workgroups stream all of B
// (16 MB); 10 workgroups of 100 columns each read A (1 MB) instead, their ragged column
// edges cut at whole vectors (ragged_split).
// WG512-LABEL: func.func private @deep_b
// WG512: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [0, 100, 0]>}
func.func private @deep_b(%a: memref<64x4096xf32>, %b: memref<4096x1000xf32>, %c: memref<64x1000xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<64x4096xf32>, memref<4096x1000xf32>) outs(%c : memref<64x1000xf32>)
  return
}

// One row: B streamed row by row (the reduction outside the column loop, 4 steps per tile),
// prefetched 4 rows ahead since B (2 MB) comes from memory.
// AVX512-LABEL: func.func private @few_rows
// AVX512: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = few_rows, tiles = [0, 32, 4], order = [0, 2, 1], vector_sizes = [1, 32, 4], ragged_split = [0, 16, 0], prefetch_b_rows = 4, named_contraction>}
// AVX2-LABEL: func.func private @few_rows
// AVX2: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = few_rows, tiles = [0, 16, 4], order = [0, 2, 1], vector_sizes = [1, 16, 4], ragged_split = [0, 8, 0], prefetch_b_rows = 4, named_contraction>}
func.func private @few_rows(%a: memref<1x513xf32>, %b: memref<513x1000xf32>, %c: memref<1x1000xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<1x513xf32>, memref<513x1000xf32>) outs(%c : memref<1x1000xf32>)
  return
}

// Rows in two dims, 4 x 2: the register tile spans the innermost (2 rows), so it is few-row
// on both targets, as workgroup distribution classes it (distribute_workgroups.mlir).
// AVX512-LABEL: func.func private @rows4x2
// AVX512: product = few_rows
// AVX2-LABEL: func.func private @rows4x2
// AVX2: product = few_rows
#a3 = affine_map<(i, j, n, k) -> (i, j, k)>
#b3 = affine_map<(i, j, n, k) -> (k, n)>
#c3 = affine_map<(i, j, n, k) -> (i, j, n)>
func.func private @rows4x2(%a: memref<4x2x512xf32>, %b: memref<512x1024xf32>, %c: memref<4x2x1024xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [#a3, #b3, #c3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : memref<4x2x512xf32>, memref<512x1024xf32>) outs(%c : memref<4x2x1024xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// Six rows: a full register tile on AVX2; on AVX-512 one tile of 6 rows (12 accumulators keep
// both FMA units busy, which streaming B row by row did not: TargetInfo::FewRowsBelow).
// AVX512-LABEL: func.func private @six_rows
// AVX512: product = matrix, tiles = [0, 32, 1], vector_sizes = [6, 32, 1]
// AVX2-LABEL: func.func private @six_rows
// AVX2: product = matrix
func.func private @six_rows(%a: memref<6x64xf32>, %b: memref<64x64xf32>, %c: memref<6x64xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<6x64xf32>, memref<64x64xf32>) outs(%c : memref<6x64xf32>)
  return
}

// Rows that 8-row tiles would leave a last tile of under 4 (a workgroup of 11 rows: 8 + 3,
// whose 6 accumulators idle the FMA units) take the height nearest 8 that divides them, up to
// the 14 rows AVX-512's registers hold: one tile of 11, one of 10 (TargetInfo::RowTileFor).
// AVX2's 6-row tiles leave 5 of 11 and 4 of 10, enough for its 3-row half.
// AVX512-LABEL: func.func private @eleven_rows
// AVX512: tiles = [0, 32, 1], vector_sizes = [11, 32, 1]
// AVX512: tiles = [0, 32, 1], vector_sizes = [10, 32, 1]
// AVX2-LABEL: func.func private @eleven_rows
// AVX2: tiles = [6, 16, 1], vector_sizes = [6, 16, 1]
// AVX2: tiles = [6, 16, 1], vector_sizes = [6, 16, 1]
func.func private @eleven_rows(%a: memref<11x300xf32>, %b: memref<300x77xf32>, %c: memref<11x77xf32>,
                               %d: memref<10x300xf32>, %e: memref<10x77xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<11x300xf32>, memref<300x77xf32>) outs(%c : memref<11x77xf32>)
  linalg.matmul ins(%d, %b : memref<10x300xf32>, memref<300x77xf32>) outs(%e : memref<10x77xf32>)
  return
}

// B outgrows L2 (4 MB): cache blocks of 256 columns x 256 reduction steps, columns outermost.
// Its rows are 4 KB apart, under the 8 KB from which packing pays: no pack_b.
// AVX512-LABEL: func.func private @blocked
// AVX512: #kiln.lowering_config<"contraction", product = matrix, cache_tiles = [0, 256, 256], cache_order = [1, 2, 0], tiles = [8, 32, 1]
// AVX2-LABEL: func.func private @blocked
// AVX2: #kiln.lowering_config<"contraction", product = matrix, cache_tiles = [0, 256, 256], cache_order = [1, 2, 0], tiles = [6, 16, 1]
func.func private @blocked(%a: memref<1024x1024xf32>, %b: memref<1024x1024xf32>, %c: memref<1024x1024xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<1024x1024xf32>, memref<1024x1024xf32>) outs(%c : memref<1024x1024xf32>)
  return
}

// Rows 8 KB apart: each cache block's B is packed into panels as wide as the register tile.
// AVX512-LABEL: func.func private @packed
// AVX512: cache_tiles = [0, 256, 256], cache_order = [1, 2, 0], pack_b = [32, 8], tiles = [8, 32, 1]
// AVX2-LABEL: func.func private @packed
// AVX2: cache_tiles = [0, 256, 256], cache_order = [1, 2, 0], pack_b = [16, 6], tiles = [6, 16, 1]
func.func private @packed(%a: memref<512x2048xf32>, %b: memref<2048x2048xf32>, %c: memref<512x2048xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<512x2048xf32>, memref<2048x2048xf32>) outs(%c : memref<512x2048xf32>)
  return
}

// A 3x3 convolution: decomposed to 1-D per output row, 8 (6 on AVX2) output columns by two
// vectors of output channels (32 channels are one AVX-512 tile: 0, not tiled).
// AVX512-LABEL: func.func private @conv
// AVX512: linalg.conv_2d_nhwc_hwcf {kiln.lowering_config = #kiln.lowering_config<"windowed 2-D (decomposed to 1-D)", tiles = [0, 1, 8, 0, 1, 1, 1], ragged_split = [0, 0, 0, 16, 0, 0, 0], decompose_windowed>}
// AVX2-LABEL: func.func private @conv
// AVX2: linalg.conv_2d_nhwc_hwcf {kiln.lowering_config = #kiln.lowering_config<"windowed 2-D (decomposed to 1-D)", tiles = [0, 1, 6, 16, 1, 1, 1], ragged_split = [0, 0, 0, 8, 0, 0, 0], decompose_windowed>}
func.func private @conv(%x: memref<1x58x58x32xf32>, %w: memref<3x3x32x32xf32>, %y: memref<1x56x56x32xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.conv_2d_nhwc_hwcf ins(%x, %w : memref<1x58x58x32xf32>, memref<3x3x32x32xf32>) outs(%y : memref<1x56x56x32xf32>)
  return
}

// A grouped convolution (kiln-generalize-grouped-convolutions' form): per group the NHWC
// tile above, one group at a time; 24 channels per group are one AVX-512 tile (0: whole),
// on AVX2 a tile of 16 and a ragged 8.
// AVX512-LABEL: func.func private @grouped_conv
// AVX512: linalg.generic {{.*}} attrs = {kiln.lowering_config = #kiln.lowering_config<"windowed 2-D (decomposed to 1-D)", tiles = [0, 1, 8, 1, 0, 1, 1, 1], ragged_split = [0, 0, 0, 0, 16, 0, 0, 0], decompose_windowed>}
// AVX2-LABEL: func.func private @grouped_conv
// AVX2: linalg.generic {{.*}} attrs = {kiln.lowering_config = #kiln.lowering_config<"windowed 2-D (decomposed to 1-D)", tiles = [0, 1, 6, 1, 16, 1, 1, 1], ragged_split = [0, 0, 0, 0, 8, 0, 0, 0], decompose_windowed>}
#gin = affine_map<(n, oh, ow, g, f, kh, kw, c) -> (n, oh + kh, ow + kw, g, c)>
#gw = affine_map<(n, oh, ow, g, f, kh, kw, c) -> (g, kh, kw, c, f)>
#gout = affine_map<(n, oh, ow, g, f, kh, kw, c) -> (n, oh, ow, g, f)>
func.func private @grouped_conv(%x: memref<1x58x58x4x8xf32>, %w: memref<4x3x3x8x24xf32>, %y: memref<1x56x56x4x24xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [#gin, #gw, #gout], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : memref<1x58x58x4x8xf32>, memref<4x3x3x8x24xf32>) outs(%y : memref<1x56x56x4x24xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// Elementwise ops and reductions: one vector along the innermost loop.
// AVX512-LABEL: func.func private @elementwise
// AVX512: #kiln.lowering_config<"elementwise", tiles = [1, 16], vector_sizes = [1, 16]>
// AVX512: #kiln.lowering_config<"reduction", tiles = [1, 16], vector_sizes = [1, 16]>
// AVX2-LABEL: func.func private @elementwise
// AVX2: #kiln.lowering_config<"elementwise", tiles = [1, 8], vector_sizes = [1, 8]>
// AVX2: #kiln.lowering_config<"reduction", tiles = [1, 8], vector_sizes = [1, 8]>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
func.func private @elementwise(%x: memref<32x64xf32>, %y: memref<32x64xf32>, %s: memref<32xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<32x64xf32>) outs(%y : memref<32x64xf32>) {
  ^bb0(%a: f32, %b: f32):
    %e = math.exp %a : f32
    linalg.yield %e : f32
  }
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%y : memref<32x64xf32>) outs(%s : memref<32xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %sum = arith.addf %a, %acc : f32
    linalg.yield %sum : f32
  }
  return
}

// Bools are a byte per element in kiln's buffers but bit-packed in vectors: scalar loops (no
// tiles), on every target.
// AVX512-LABEL: func.func private @bools
// AVX512: #kiln.lowering_config<"scalar (bool data)">
// AVX2-LABEL: func.func private @bools
// AVX2: #kiln.lowering_config<"scalar (bool data)">
func.func private @bools(%x: memref<64xi1>, %y: memref<64xi1>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%x : memref<64xi1>) outs(%y : memref<64xi1>) {
  ^bb0(%a: i1, %b: i1):
    %t = arith.constant true
    %n = arith.xori %a, %t : i1
    linalg.yield %n : i1
  }
  return
}

// Only dispatch functions are code-generated; an op that already has a config keeps it.
// AVX512-LABEL: func.func @host
// AVX512-NOT: lowering_config
// AVX512: return
// AVX512-LABEL: func.func private @kept
// AVX512: #kiln.lowering_config<"chosen by hand", tiles = [4, 4, 1]>
// WG512-LABEL: func.func private @kept
// WG512: #kiln.lowering_config<"chosen by hand", tiles = [4, 4, 1]>
func.func @host(%a: memref<8x8xf32>, %b: memref<8x8xf32>, %c: memref<8x8xf32>) {
  linalg.matmul ins(%a, %b : memref<8x8xf32>, memref<8x8xf32>) outs(%c : memref<8x8xf32>)
  return
}
func.func private @kept(%a: memref<8x8xf32>, %b: memref<8x8xf32>, %c: memref<8x8xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"chosen by hand", tiles = [4, 4, 1]>}
      ins(%a, %b : memref<8x8xf32>, memref<8x8xf32>) outs(%c : memref<8x8xf32>)
  return
}

// A workgroup's op: the codegen level completes the config, keeping the workgroup level (the
// op's loops already span one 16-row tile).
// AVX512-LABEL: func.func private @workgroup_op
// AVX512: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", workgroup_tiles = [16, 0, 0], product = matrix, tiles = [8, 32, 1], vector_sizes = [8, 32, 1], ragged_split = [0, 16, 0], named_contraction>}
// WG512-LABEL: func.func private @workgroup_op
// WG512: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [16, 0, 0]>}
func.func private @workgroup_op(%a: memref<16x256xf32, strided<[256, 1], offset: ?>>, %b: memref<256x256xf32>, %c: memref<16x256xf32, strided<[256, 1], offset: ?>>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [16, 0, 0]>}
      ins(%a, %b : memref<16x256xf32, strided<[256, 1], offset: ?>>, memref<256x256xf32>) outs(%c : memref<16x256xf32, strided<[256, 1], offset: ?>>)
  return
}
