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
