// RUN: kiln-opt %s --pass-pipeline="builtin.module(func.func(kiln-lower-to-vectors{vector-bits=512}))" | FileCheck %s

// Odd shapes: 8-row register tiles over 13 rows; the row and column loops are peeled, so the
// full tiles and the remainders are all static, unmasked vector code. N=17 is a 16-column
// vector and a 1-column remainder, not one 17-wide vector (LLVM splits odd vectors lane by
// lane: N=24 ran 18x slower than N=32). The k loop feeds vector.contract (lowered later to
// outer-product FMAs).
// CHECK-LABEL: func.func private @mm
// CHECK-NOT: vector.mask
// CHECK: vector.contract {{.*}} vector<8x1xf32>, vector<1x16xf32> into vector<8x16xf32>
// CHECK: vector.contract {{.*}} vector<8x1xf32>, vector<1x1xf32> into vector<8x1xf32>
// CHECK: vector.contract {{.*}} vector<5x1xf32>, vector<1x16xf32> into vector<5x16xf32>
// CHECK: vector.contract {{.*}} vector<5x1xf32>, vector<1x1xf32> into vector<5x1xf32>
// CHECK-NOT: linalg.matmul
func.func private @mm(%a: memref<13x19xf32>, %b: memref<19x17xf32>, %c: memref<13x17xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<13x19xf32>, memref<19x17xf32>) outs(%c : memref<13x17xf32>)
  return
}

// Aligned: the 8x32 accumulator is read once before the k loop, carried in registers through
// iter_args and written once after it.
// CHECK-LABEL: func.func private @mm_aligned
// CHECK: %[[ACC:.*]] = vector.transfer_read {{.*}} vector<8x32xf32>
// CHECK: %[[SUM:.*]] = scf.for {{.*}} iter_args(%[[IT:.*]] = %[[ACC]]) -> (vector<8x32xf32>)
// CHECK-NOT: vector.transfer_write
// CHECK: vector.contract {{.*}} %[[IT]]
// CHECK: scf.yield
// CHECK: vector.transfer_write %[[SUM]]
func.func private @mm_aligned(%a: memref<16x16xf32>, %b: memref<16x64xf32>, %c: memref<16x64xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<16x16xf32>, memref<16x64xf32>) outs(%c : memref<16x64xf32>)
  return
}

// A long reduction (64 steps and more) starts its accumulator from zero and adds C after the
// loop, C's lines prefetched before it, so the loop hides C's latency.
// CHECK-LABEL: func.func private @mm_deferred
// CHECK: memref.prefetch %[[TILE:.*]][%c0, %c0], write, locality<3>, data
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8x32xf32>
// CHECK-NEXT: %[[SUM:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]]) -> (vector<8x32xf32>)
// CHECK: vector.contract
// CHECK: scf.yield
// CHECK: %[[C:.*]] = vector.transfer_read %[[TILE]]
// CHECK: %[[NEW:.*]] = arith.addf %[[C]], %[[SUM]] : vector<8x32xf32>
// CHECK: vector.transfer_write %[[NEW]], %[[TILE]]
func.func private @mm_deferred(%a: memref<16x64xf32>, %b: memref<64x64xf32>, %c: memref<16x64xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<16x64xf32>, memref<64x64xf32>) outs(%c : memref<16x64xf32>)
  return
}

// A column sum over 128 rows is deferred the same way; a column max is not: its accumulator
// combines with max, so it keeps reading the output first.
// CHECK-LABEL: func.func private @colsum
// CHECK: memref.prefetch
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<16xf32>
// CHECK-NEXT: scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]]) -> (vector<16xf32>)
// CHECK-LABEL: func.func private @colmax
// CHECK-NOT: memref.prefetch
// CHECK: %[[ACC:.*]] = vector.transfer_read
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[ACC]])
// CHECK: arith.maximumf
func.func private @colsum(%x: memref<128x16xf32>, %o: memref<16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<128x16xf32>) outs(%o : memref<16xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %acc, %v : f32
    linalg.yield %s : f32
  }
  return
}
func.func private @colmax(%x: memref<128x16xf32>, %o: memref<16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<128x16xf32>) outs(%o : memref<16xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.maximumf %acc, %v : f32
    linalg.yield %s : f32
  }
  return
}

// One row times a matrix: the reduction loop runs outside the column loop (B streams row by
// row), 4 reduction steps per tile, and the ragged last column tile is peeled.
// CHECK-LABEL: func.func private @vecmat
// CHECK: scf.for {{.*}} to %c512 step %c4
// CHECK: scf.for {{.*}} to %c992 step %c32
// CHECK: vector.contract {{.*}} vector<1x4xf32>, vector<4x32xf32> into vector<1x32xf32>
// CHECK: vector.contract {{.*}} vector<1x4xf32>, vector<4x8xf32> into vector<1x8xf32>
func.func private @vecmat(%a: memref<1x513xf32>, %b: memref<513x1000xf32>, %c: memref<1x1000xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<1x513xf32>, memref<513x1000xf32>) outs(%c : memref<1x1000xf32>)
  return
}

// Elementwise: one 16-lane vector along the innermost dimension.
// CHECK-LABEL: func.func private @ew
// CHECK: vector.transfer_read {{.*}} vector<1x16xf32>
// CHECK: math.tanh {{.*}} : vector<1x16xf32>
// CHECK-NOT: linalg.generic
func.func private @ew(%a: memref<4x64xf32>, %b: memref<4x64xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<4x64xf32>) outs(%b : memref<4x64xf32>) {
  ^bb0(%x: f32, %o: f32):
    %t = math.tanh %x : f32
    linalg.yield %t : f32
  }
  return
}

// 2-D convolutions: a register tile of output columns by output channels (6 x 4 here, the
// whole row) accumulates in registers over the window rows, window columns and input channels
// (one step each), like a matmul's k loop; each step is a 1-D convolution on rank-reducing
// views, vectorized into an outer-product contraction.
// CHECK-LABEL: func.func private @conv
// CHECK: %[[ACC:.*]] = vector.transfer_read {{.*}} vector<1x6x4xf32>
// CHECK: scf.for {{.*}} to %c3 step %c1 iter_args(%{{.*}} = %[[ACC]])
// CHECK: scf.for {{.*}} to %c3 step %c1 iter_args
// CHECK: scf.for {{.*}} to %c3 step %c1 iter_args
// CHECK: memref.subview {{.*}} to memref<1x6x1xf32
// CHECK: vector.contract {{.*}} vector<1x6x1xf32>, vector<1x4xf32> into vector<1x6x4xf32>
// CHECK-NOT: linalg.conv
// CHECK: return
func.func private @conv(%x: memref<1x8x8x3xf32>, %w: memref<3x3x3x4xf32>, %y: memref<1x6x6x4xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.conv_2d_nhwc_hwcf ins(%x, %w : memref<1x8x8x3xf32>, memref<3x3x3x4xf32>) outs(%y : memref<1x6x6x4xf32>)
  return
}

// A fill of the buffer an op accumulates into moves into the op's tiles: each register tile
// starts from the constant instead of a pass that writes the output and one that reads it
// back. Through the 1-D views of a windowed op too.
// CHECK-LABEL: func.func private @fill_mm
// CHECK-NOT: vector.transfer_write
// CHECK-NOT: vector.transfer_read {{.*}} vector<8x32xf32>
// CHECK: scf.for {{.*}} step %c32
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8x32xf32>
// CHECK-NEXT: %[[SUM:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]]) -> (vector<8x32xf32>)
// CHECK: vector.transfer_write %[[SUM]]
// CHECK-NOT: vector.transfer_write
// CHECK: return
func.func private @fill_mm(%a: memref<16x64xf32>, %b: memref<64x64xf32>, %c: memref<16x64xf32>, %wg: index) attributes {kiln.dispatch} {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%c : memref<16x64xf32>)
  linalg.matmul ins(%a, %b : memref<16x64xf32>, memref<64x64xf32>) outs(%c : memref<16x64xf32>)
  return
}
// CHECK-LABEL: func.func private @fill_dw
// CHECK-NOT: vector.transfer_write
// CHECK: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : vector<1x6x16xf32>
// CHECK-NEXT: %[[SUM:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[ONE]]) -> (vector<1x6x16xf32>)
// CHECK: vector.fma
// CHECK: vector.transfer_write %[[SUM]]
// CHECK-NOT: vector.transfer_write
// CHECK: return
func.func private @fill_dw(%x: memref<1x8x8x16xf32>, %w: memref<3x3x16xf32>, %y: memref<1x6x6x16xf32>, %wg: index) attributes {kiln.dispatch} {
  %one = arith.constant 1.0 : f32
  linalg.fill ins(%one : f32) outs(%y : memref<1x6x6x16xf32>)
  linalg.depthwise_conv_2d_nhwc_hwc ins(%x, %w : memref<1x8x8x16xf32>, memref<3x3x16xf32>) outs(%y : memref<1x6x6x16xf32>)
  return
}
// A fill that something reads before the op stays a fill.
// CHECK-LABEL: func.func private @fill_read_first
// CHECK: vector.transfer_write {{.*}} : vector<1x16xf32>
// CHECK: memref.copy
// CHECK: return
func.func private @fill_read_first(%a: memref<16x64xf32>, %b: memref<64x64xf32>, %c: memref<16x64xf32>, %d: memref<16x64xf32>, %wg: index) attributes {kiln.dispatch} {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%c : memref<16x64xf32>)
  memref.copy %c, %d : memref<16x64xf32> to memref<16x64xf32>
  linalg.matmul ins(%a, %b : memref<16x64xf32>, memref<64x64xf32>) outs(%c : memref<16x64xf32>)
  return
}

// Depthwise convolution and pooling take the same route to their 1-D forms.
// CHECK-LABEL: func.func private @dw_pool
// CHECK-NOT: linalg.depthwise_conv_2d
// CHECK-NOT: linalg.pooling_nhwc_max
// CHECK: vector.fma
// CHECK: arith.maximumf {{.*}} : vector<
func.func private @dw_pool(%x: memref<1x8x8x16xf32>, %w: memref<3x3x16xf32>, %y: memref<1x6x6x16xf32>, %k: memref<2x2xf32>, %p: memref<1x4x4x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.depthwise_conv_2d_nhwc_hwc ins(%x, %w : memref<1x8x8x16xf32>, memref<3x3x16xf32>) outs(%y : memref<1x6x6x16xf32>)
  linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>} ins(%x, %k : memref<1x8x8x16xf32>, memref<2x2xf32>) outs(%p : memref<1x4x4x16xf32>)
  return
}

// Cache blocking (B is 1.2 MB): N = 1024 in 256-column blocks, K = 300 in a 256-step block and
// a peeled 44-step block, each feeding a register-resident 8x32 accumulator loop.
// CHECK-LABEL: func.func private @mm_blocked
// CHECK-NOT: memref.alloca
// CHECK: scf.for {{.*}} to %c1024 step %c256
// CHECK: scf.for {{.*}} = %c0 to %c256 step %c1 iter_args({{.*}}) -> (vector<8x32xf32>)
// CHECK: vector.contract {{.*}} vector<8x1xf32>, vector<1x32xf32> into vector<8x32xf32>
// CHECK: scf.for {{.*}} = %c0 to %c44 step %c1 iter_args({{.*}}) -> (vector<8x32xf32>)
func.func private @mm_blocked(%a: memref<8x300xf32>, %b: memref<300x1024xf32>, %c: memref<8x1024xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<8x300xf32>, memref<300x1024xf32>) outs(%c : memref<8x1024xf32>)
  return
}

// A deep reduction over two row tiles is blocked although B is small (256 KB): K = 1024 in
// 256-step blocks outside the row and column tiles, so that each block's strip of B stays in L1
// for both row tiles.
// CHECK-LABEL: func.func private @mm_deep
// CHECK: scf.for {{.*}} to %c1024 step %c256
// CHECK: scf.for {{.*}} to %c16 step %c8
// CHECK: scf.for {{.*}} to %c64 step %c32
// CHECK: scf.for {{.*}} = %c0 to %c256 step %c1 iter_args({{.*}}) -> (vector<8x32xf32>)
func.func private @mm_deep(%a: memref<16x1024xf32>, %b: memref<1024x64xf32>, %c: memref<16x64xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<16x1024xf32>, memref<1024x64xf32>) outs(%c : memref<16x64xf32>)
  return
}

// B (1 MB) has rows 8 KB apart: each 256-column block of B is packed into 32-column panels in a
// stack buffer allocated once at the entry (with stack probing), and the register tiles read
// the panels.
// CHECK-LABEL: func.func private @mm_packed
// CHECK-SAME: passthrough = {{\[\["probe-stack", "inline-asm"\]\]}}
// CHECK: %[[PACKED:.*]] = memref.alloca() {alignment = 64 : i64} : memref<8x128x32xf32>
// CHECK: scf.for {{.*}} to %c2048 step %c256
// CHECK: memref.subview %[[PACKED]]
// CHECK: vector.transfer_write
// CHECK: memref.subview %[[PACKED]]
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<8x32xf32>)
// CHECK: vector.contract
func.func private @mm_packed(%a: memref<16x128xf32>, %b: memref<128x2048xf32>, %c: memref<16x2048xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<16x128xf32>, memref<128x2048xf32>) outs(%c : memref<16x2048xf32>)
  return
}

// A vector times a megabyte of B: each tile first prefetches (into L2) the two cache lines of
// each of the 4 rows 4 reduction steps ahead at its columns, rows past the last clamped to it.
// CHECK-LABEL: func.func private @vecmat_prefetch
// CHECK: scf.for %[[K:.*]] = %c0 to %c1028 step %c4
// CHECK: %[[R:.*]] = arith.addi %[[K]], %c4
// CHECK: %[[ROW:.*]] = arith.minsi %[[R]], %c1030
// CHECK: scf.for %[[N:.*]] = %c0 to %c256 step %c32
// CHECK: memref.prefetch %arg1[%[[ROW]], %[[N]]], read, locality<2>, data
// CHECK-COUNT-7: memref.prefetch
// CHECK-NOT: memref.prefetch
// CHECK: vector.contract {{.*}} vector<1x4xf32>, vector<4x32xf32> into vector<1x32xf32>
func.func private @vecmat_prefetch(%a: memref<1x1031xf32>, %b: memref<1031x256xf32>, %c: memref<1x256xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<1x1031xf32>, memref<1031x256xf32>) outs(%c : memref<1x256xf32>)
  return
}

// 24 output channels of a convolution (mobilenet_v2's projections): a 16-channel vector and
// an 8-channel remainder, never a 24-wide vector (1x56x56x144 -> 24: 4.3 ms -> 0.18 ms).
// CHECK-LABEL: func.func private @conv_narrow
// CHECK-NOT: vector<{{.*}}x24xf32>
// CHECK: vector<1x8x16xf32>
// CHECK: vector<1x8x8xf32>
func.func private @conv_narrow(%x: memref<1x4x8x144xf32>, %w: memref<1x1x144x24xf32>, %y: memref<1x4x8x24xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %w : memref<1x4x8x144xf32>, memref<1x1x144x24xf32>) outs(%y : memref<1x4x8x24xf32>)
  return
}
