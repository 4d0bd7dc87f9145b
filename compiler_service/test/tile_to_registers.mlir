// RUN: kiln-opt %s --kiln-tile-to-registers | FileCheck %s

// Tiles by the config's register tiles (written here by hand: the pass chooses nothing), rows
// 8 and columns 16 over 13 x 17: the loops are peeled (and, one iteration each, folded away),
// so full tiles and edges are static, each in its own loop over k, and every tile keeps the
// config for kiln-vectorize-tiles.
// CHECK-LABEL: func.func private @mm
// CHECK: scf.for {{.*}} to %c19 step %c1
// CHECK: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"by hand", product = matrix, tiles = [8, 16, 1], vector_sizes = [8, 16, 1], named_contraction>} ins({{.*}} : memref<8x1xf32, {{.*}}>, memref<1x16xf32, {{.*}}>) outs({{.*}} : memref<8x16xf32, {{.*}}>)
// CHECK: scf.for {{.*}} to %c19 step %c1
// CHECK: linalg.matmul {kiln.lowering_config = {{.*}} outs({{.*}} : memref<8x1xf32, {{.*}}>)
// CHECK: scf.for {{.*}} to %c19 step %c1
// CHECK: linalg.matmul {kiln.lowering_config = {{.*}} outs({{.*}} : memref<5x16xf32, {{.*}}>)
// CHECK: scf.for {{.*}} to %c19 step %c1
// CHECK: linalg.matmul {kiln.lowering_config = {{.*}} outs({{.*}} : memref<5x1xf32, {{.*}}>)
func.func private @mm(%a: memref<13x19xf32>, %b: memref<19x17xf32>, %c: memref<13x17xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"by hand", product = matrix, tiles = [8, 16, 1], vector_sizes = [8, 16, 1], named_contraction>}
      ins(%a, %b : memref<13x19xf32>, memref<19x17xf32>) outs(%c : memref<13x17xf32>)
  return
}

// The fill of the accumulator moves into the product's output tiles, with a config of its
// own (its tile's shape); a scalar config (no tiles) leaves its op whole and unmarked.
// CHECK-LABEL: func.func private @fill_mm
// CHECK: scf.for {{.*}} to %c16 step %c8
// CHECK: scf.for {{.*}} to %c64 step %c32
// CHECK: linalg.fill {kiln.lowering_config = #kiln.lowering_config<"fill fused into its consumer's tiles", tiles = [8, 32], vector_sizes = [8, 32]>}
// CHECK: linalg.matmul {kiln.lowering_config
// CHECK: linalg.generic
// CHECK-NOT: lowering_config
// CHECK: return
func.func private @fill_mm(%a: memref<16x16xf32>, %b: memref<16x64xf32>, %c: memref<16x64xf32>, %x: memref<64xi1>, %wg: index) attributes {kiln.dispatch} {
  %z = arith.constant 0.0 : f32
  linalg.fill {kiln.lowering_config = #kiln.lowering_config<"elementwise", tiles = [1, 16], vector_sizes = [1, 16]>} ins(%z : f32) outs(%c : memref<16x64xf32>)
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, tiles = [8, 32, 1], vector_sizes = [8, 32, 1], named_contraction>}
      ins(%a, %b : memref<16x16xf32>, memref<16x64xf32>) outs(%c : memref<16x64xf32>)
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = ["parallel"], kiln.lowering_config = #kiln.lowering_config<"scalar (bool data)">}
      outs(%x : memref<64xi1>) {
  ^bb0(%b0: i1):
    %t = arith.constant true
    linalg.yield %t : i1
  }
  return
}

// 87 columns in tiles of 32: two whole tiles, then a ragged edge of 23 that ragged_split cuts
// at one vector, into 16 and 7 (an odd vector of 23 would be legalized piece by piece), the
// fused fill cut with it; both parts share the edge's reduction loop.
// CHECK-LABEL: func.func private @ragged_columns
// CHECK: scf.for {{.*}} to %c64 step %c32
// CHECK: linalg.fill {{.*}} outs({{.*}} : memref<8x32xf32, {{.*}}>)
// CHECK: linalg.matmul {{.*}} outs({{.*}} : memref<8x32xf32, {{.*}}>)
// CHECK: linalg.fill {kiln.lowering_config = #kiln.lowering_config<"fill fused into its consumer's tiles", tiles = [8, 32], vector_sizes = [8, 32], ragged_split = [0, 16]>} ins({{.*}}) outs({{.*}} : memref<8x16xf32, {{.*}}>)
// CHECK: linalg.fill {{.*}} outs({{.*}} : memref<8x7xf32, {{.*}}>)
// CHECK: scf.for {{.*}} to %c4 step %c1
// CHECK: linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", {{.*}} ragged_split = [0, 16, 0], named_contraction>} ins({{.*}} : memref<8x1xf32, {{.*}}>, memref<1x16xf32, {{.*}}>) outs({{.*}} : memref<8x16xf32, {{.*}}>)
// CHECK: linalg.matmul {{.*}} ins({{.*}} : memref<8x1xf32, {{.*}}>, memref<1x7xf32, {{.*}}>) outs({{.*}} : memref<8x7xf32, {{.*}}>)
// CHECK: return
func.func private @ragged_columns(%a: memref<8x4xf32>, %b: memref<4x87xf32>, %c: memref<8x87xf32>, %wg: index) attributes {kiln.dispatch} {
  %z = arith.constant 0.0 : f32
  linalg.fill {kiln.lowering_config = #kiln.lowering_config<"elementwise", tiles = [1, 16], vector_sizes = [1, 16]>} ins(%z : f32) outs(%c : memref<8x87xf32>)
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, tiles = [0, 32, 1], vector_sizes = [8, 32, 1], ragged_split = [0, 16, 0], named_contraction>}
      ins(%a, %b : memref<8x4xf32>, memref<4x87xf32>) outs(%c : memref<8x87xf32>)
  return
}

// Without ragged_split the same edge stays one tile of 23 columns.
// CHECK-LABEL: func.func private @ragged_uncut
// CHECK: scf.for {{.*}} to %c4 step %c1
// CHECK: linalg.matmul {{.*}} outs({{.*}} : memref<8x23xf32, {{.*}}>)
// CHECK-NOT: linalg.matmul
// CHECK: return
func.func private @ragged_uncut(%a: memref<8x4xf32>, %b: memref<4x87xf32>, %c: memref<8x87xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, tiles = [0, 32, 1], vector_sizes = [8, 32, 1], named_contraction>}
      ins(%a, %b : memref<8x4xf32>, memref<4x87xf32>) outs(%c : memref<8x87xf32>)
  return
}
