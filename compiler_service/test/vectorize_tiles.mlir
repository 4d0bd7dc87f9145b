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

// A windowed tile in its 1-D form (kiln-decompose-windowed-tiles): vectorized whole, the
// window's taps unrolled into contractions.
// CHECK-LABEL: func.func private @one_d
// CHECK: vector.transfer_read %arg0{{.*}} : memref<1x10x8xf32>, vector<1x10x8xf32>
// CHECK-COUNT-3: vector.contract
// CHECK: vector.transfer_write {{.*}} : vector<1x8x16xf32>, memref<1x8x16xf32>
// CHECK-NOT: linalg.conv
func.func private @one_d(%x: memref<1x10x8xf32>, %w: memref<3x8x16xf32>, %y: memref<1x8x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.conv_1d_nwc_wcf {kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 16, 1, 1, 1], vector_sizes = [1, 1, 8, 16, 1, 3, 8], decompose_windowed>}
      ins(%x, %w : memref<1x10x8xf32>, memref<3x8x16xf32>) outs(%y : memref<1x8x16xf32>)
  return
}

// A windowed tile still 2-D (not decomposed): the vectorizer does not take it; scalar loops.
// CHECK-LABEL: func.func private @still_2d
// CHECK-NOT: vector.
// CHECK: linalg.conv_2d_nhwc_hwcf ins
func.func private @still_2d(%x: memref<1x2x10x8xf32>, %w: memref<1x3x8x16xf32>, %y: memref<1x2x8x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.conv_2d_nhwc_hwcf {kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 16, 1, 1, 1], vector_sizes = [1, 1, 8, 16, 1, 3, 8], decompose_windowed>}
      ins(%x, %w : memref<1x2x10x8xf32>, memref<1x3x8x16xf32>) outs(%y : memref<1x2x8x16xf32>)
  return
}
