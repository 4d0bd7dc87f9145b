// RUN: kiln-opt %s --kiln-decompose-windowed-tiles --verify-diagnostics | FileCheck %s

// A register tile of a 2-D convolution one output row high over a one-row window: the 1-D
// convolution over rank-reducing views, its config kept for kiln-vectorize-tiles.
// CHECK-LABEL: func.func private @row
// CHECK: %[[X:.*]] = memref.subview %arg0[0, 0, 0, 0] [1, 1, 10, 8] [1, 1, 1, 1] : memref<1x1x10x8xf32> to memref<1x10x8xf32
// CHECK: %[[W:.*]] = memref.subview %arg1[0, 0, 0, 0] [1, 3, 8, 16] [1, 1, 1, 1] : memref<1x3x8x16xf32> to memref<3x8x16xf32
// CHECK: %[[Y:.*]] = memref.subview %arg2[0, 0, 0, 0] [1, 1, 8, 16] [1, 1, 1, 1] : memref<1x1x8x16xf32> to memref<1x8x16xf32
// CHECK: linalg.conv_1d_nwc_wcf {{{.*}}kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 16, 1, 1, 1], vector_sizes = [1, 1, 8, 16, 1, 3, 8], decompose_windowed>{{.*}}} ins(%[[X]], %[[W]] {{.*}}) outs(%[[Y]] {{.*}})
// CHECK-NOT: conv_2d
func.func private @row(%x: memref<1x1x10x8xf32>, %w: memref<1x3x8x16xf32>, %y: memref<1x1x8x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.conv_2d_nhwc_hwcf {kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 16, 1, 1, 1], vector_sizes = [1, 1, 8, 16, 1, 3, 8], decompose_windowed>}
      ins(%x, %w : memref<1x1x10x8xf32>, memref<1x3x8x16xf32>) outs(%y : memref<1x1x8x16xf32>)
  return
}

// Two output rows: no 1-D form, so the tile stays scalar loops (its config goes) and says so.
// CHECK-LABEL: func.func private @two_rows
// CHECK: linalg.conv_2d_nhwc_hwcf ins
func.func private @two_rows(%x: memref<1x2x10x8xf32>, %w: memref<1x3x8x16xf32>, %y: memref<1x2x8x16xf32>, %wg: index) attributes {kiln.dispatch} {
  // expected-remark @+1 {{kiln-decompose-windowed-tiles: this tile is not one output row by one window row; it stays scalar loops}}
  linalg.conv_2d_nhwc_hwcf {kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 16, 1, 1, 1], vector_sizes = [1, 1, 8, 16, 1, 3, 8], decompose_windowed>}
      ins(%x, %w : memref<1x2x10x8xf32>, memref<1x3x8x16xf32>) outs(%y : memref<1x2x8x16xf32>)
  return
}

// A config that does not ask for it: left alone.
// CHECK-LABEL: func.func private @not_asked
// CHECK: linalg.conv_2d_nhwc_hwcf {kiln.lowering_config
func.func private @not_asked(%x: memref<1x1x10x8xf32>, %w: memref<1x3x8x16xf32>, %y: memref<1x1x8x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.conv_2d_nhwc_hwcf {kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 16, 1, 1, 1], vector_sizes = [1, 1, 8, 16, 1, 3, 8]>}
      ins(%x, %w : memref<1x1x10x8xf32>, memref<1x3x8x16xf32>) outs(%y : memref<1x1x8x16xf32>)
  return
}

// A register tile of a grouped convolution (one group, one output row, one window row): per
// group the same 1-D convolution, on views without the group and height dims (the width's
// stride 2 kept).
// CHECK-LABEL: func.func private @grouped_row
// CHECK: %[[X1:.*]] = memref.subview %arg0[0, 0, 0, 0, 0] [1, 1, 17, 1, 8] [1, 1, 1, 1, 1] : memref<1x1x17x1x8xf32, strided<[1632, 1632, 96, 8, 1]>> to memref<1x1x17x8xf32, strided<[1632, 1632, 96, 1]>>
// CHECK: %[[X:.*]] = memref.subview %[[X1]][0, 0, 0, 0] [1, 1, 17, 8] [1, 1, 1, 1] : memref<1x1x17x8xf32, strided<[1632, 1632, 96, 1]>> to memref<1x17x8xf32, strided<[1632, 96, 1]>>
// CHECK: %[[W1:.*]] = memref.subview %arg1[0, 0, 0, 0, 0] [1, 1, 3, 8, 16] {{.*}} to memref<1x3x8x16xf32
// CHECK: %[[W:.*]] = memref.subview %[[W1]][0, 0, 0, 0] [1, 3, 8, 16] {{.*}} to memref<3x8x16xf32
// CHECK: %[[Y1:.*]] = memref.subview %arg2{{.*}} to memref<1x1x8x16xf32
// CHECK: %[[Y:.*]] = memref.subview %[[Y1]]{{.*}} to memref<1x8x16xf32
// CHECK: linalg.conv_1d_nwc_wcf {dilations = dense<1> : tensor<1xi64>, kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 1, 16, 1, 1, 1], decompose_windowed>, strides = dense<2> : tensor<1xi64>} ins(%[[X]], %[[W]] {{.*}}) outs(%[[Y]] {{.*}})
// CHECK-NOT: linalg.generic
#gin = affine_map<(n, oh, ow, g, f, kh, kw, c) -> (n, oh + kh, ow * 2 + kw, g, c)>
#gw = affine_map<(n, oh, ow, g, f, kh, kw, c) -> (g, kh, kw, c, f)>
#gout = affine_map<(n, oh, ow, g, f, kh, kw, c) -> (n, oh, ow, g, f)>
func.func private @grouped_row(%x: memref<1x1x17x1x8xf32, strided<[1632, 1632, 96, 8, 1]>>, %w: memref<1x1x3x8x16xf32>, %y: memref<1x1x8x1x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [#gin, #gw, #gout], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : memref<1x1x17x1x8xf32, strided<[1632, 1632, 96, 8, 1]>>, memref<1x1x3x8x16xf32>) outs(%y : memref<1x1x8x1x16xf32>)
      attrs = {kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 1, 16, 1, 1, 1], decompose_windowed>} {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// Not a multiply-accumulate (a max): not the grouped form, left alone.
// CHECK-LABEL: func.func private @grouped_max
// CHECK: linalg.generic
func.func private @grouped_max(%x: memref<1x1x17x1x8xf32>, %w: memref<1x1x3x8x16xf32>, %y: memref<1x1x8x1x16xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.generic {indexing_maps = [#gin, #gw, #gout], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : memref<1x1x17x1x8xf32>, memref<1x1x3x8x16xf32>) outs(%y : memref<1x1x8x1x16xf32>)
      attrs = {kiln.lowering_config = #kiln.lowering_config<"convolution", tiles = [1, 1, 8, 1, 16, 1, 1, 1], decompose_windowed>} {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.maximumf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
