// RUN: kiln-opt %s --kiln-vectorize-tiles | FileCheck %s

// Ops that carry a #kiln.lowering_config are tiles (kiln-tile-to-registers leaves it on them):
// a static tile is vectorized at its own shape, as vector.contract with named_contraction.
// CHECK-LABEL: func.func private @static_tile
// CHECK-NOT: vector.mask
// CHECK: vector.contract {{.*}} vector<8x1xf32>, vector<1x16xf32> into vector<8x16xf32>
// CHECK-NOT: linalg.matmul
// CHECK-NOT: lowering_config
func.func private @static_tile(%a: memref<8x1xf32>, %b: memref<1x16xf32>, %c: memref<8x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<"contraction", product = matrix, tiles = [8, 16, 1], vector_sizes = [8, 16, 1], named_contraction>}
      ins(%a, %b : memref<8x1xf32>, memref<1x16xf32>) outs(%c : memref<8x16xf32>)
  return
}

// A tile whose shape stayed dynamic is masked to the config's vector sizes.
// CHECK-LABEL: func.func private @dynamic_tile
// CHECK: vector.mask {{.*}} vector.transfer_read {{.*}} vector<16xf32>
// CHECK: math.exp {{.*}} vector<16xf32>
// CHECK-NOT: lowering_config
func.func private @dynamic_tile(%x: memref<?xf32>, %y: memref<?xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"], kiln.lowering_config = #kiln.lowering_config<"elementwise", tiles = [16], vector_sizes = [16]>}
      ins(%x : memref<?xf32>) outs(%y : memref<?xf32>) {
  ^bb0(%a: f32, %b: f32):
    %e = math.exp %a : f32
    linalg.yield %e : f32
  }
  return
}

// No config: not a tile (left whole by kiln-tile-to-registers), so not vectorized here.
// CHECK-LABEL: func.func private @not_a_tile
// CHECK: linalg.matmul ins
func.func private @not_a_tile(%a: memref<8x1xf32>, %b: memref<1x16xf32>, %c: memref<8x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<8x1xf32>, memref<1x16xf32>) outs(%c : memref<8x16xf32>)
  return
}
