// RUN: kiln-opt %s --kiln-generalize-grouped-convolutions --split-input-file | FileCheck %s

// Constant GFHWC weights (2 groups, 2 output and 1 input channel each, 1x1) become GHWCF at
// compile time, read by the grouped generic over (n, oh, ow, g, f, kh, kw, c).
// CHECK-DAG: #[[$IN:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1 + d5, d2 + d6, d3, d7)>
// CHECK-DAG: #[[$W:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d3, d5, d6, d7, d4)>
// CHECK-DAG: #[[$OUT:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3, d4)>
// CHECK-LABEL: func.func @constant_filter
// CHECK-NOT: linalg.transpose
// CHECK: %[[C:.*]] = arith.constant dense<{{\[\[\[\[\[}}1.000000e+00, 2.000000e+00]]]], {{\[\[\[\[}}3.000000e+00, 4.000000e+00]]]]]> : tensor<2x1x1x1x2xf32>
// CHECK: linalg.generic {indexing_maps = [#[[$IN]], #[[$W]], #[[$OUT]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%arg0, %[[C]] : tensor<1x3x3x2x1xf32>, tensor<2x1x1x1x2xf32>) outs(%arg1 : tensor<1x3x3x2x2xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: conv_2d_nhwgc_gfhwc
func.func @constant_filter(%x: tensor<1x3x3x2x1xf32>, %y: tensor<1x3x3x2x2xf32>) -> tensor<1x3x3x2x2xf32> {
  %w = arith.constant dense<[[[[[1.0]]], [[[2.0]]]], [[[[3.0]]], [[[4.0]]]]]> : tensor<2x2x1x1x1xf32>
  %r = linalg.conv_2d_nhwgc_gfhwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x3x3x2x1xf32>, tensor<2x2x1x1x1xf32>) outs(%y : tensor<1x3x3x2x2xf32>) -> tensor<1x3x3x2x2xf32>
  return %r : tensor<1x3x3x2x2xf32>
}

// -----

// A runtime filter is transposed by an op; strides and dilations stay in the input's map.
// CHECK-DAG: #[[$IN:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1 * 2 + d5, d2 + d6 * 2, d3, d7)>
// CHECK-LABEL: func.func @runtime_filter
// CHECK: %[[T:.*]] = linalg.transpose ins(%arg1 : tensor<4x8x3x3x2xf32>) outs(%{{.*}} : tensor<4x3x3x2x8xf32>) permutation = [0, 2, 3, 4, 1]
// CHECK: linalg.generic {indexing_maps = [#[[$IN]], {{.*}}]{{.*}} ins(%arg0, %[[T]] : tensor<1x9x9x4x2xf32>, tensor<4x3x3x2x8xf32>)
func.func @runtime_filter(%x: tensor<1x9x9x4x2xf32>, %w: tensor<4x8x3x3x2xf32>, %y: tensor<1x4x5x4x8xf32>) -> tensor<1x4x5x4x8xf32> {
  %r = linalg.conv_2d_nhwgc_gfhwc {dilations = dense<[1, 2]> : tensor<2xi64>, strides = dense<[2, 1]> : tensor<2xi64>}
      ins(%x, %w : tensor<1x9x9x4x2xf32>, tensor<4x8x3x3x2xf32>) outs(%y : tensor<1x4x5x4x8xf32>) -> tensor<1x4x5x4x8xf32>
  return %r : tensor<1x4x5x4x8xf32>
}

// -----

// Mixed element types need the named op's casts: left as it is.
// CHECK-LABEL: func.func @mixed_types
// CHECK: linalg.conv_2d_nhwgc_gfhwc
// CHECK-NOT: linalg.generic
func.func @mixed_types(%x: tensor<1x3x3x2x1xi8>, %w: tensor<2x2x1x1x1xi8>, %y: tensor<1x3x3x2x2xi32>) -> tensor<1x3x3x2x2xi32> {
  %r = linalg.conv_2d_nhwgc_gfhwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x3x3x2x1xi8>, tensor<2x2x1x1x1xi8>) outs(%y : tensor<1x3x3x2x2xi32>) -> tensor<1x3x3x2x2xi32>
  return %r : tensor<1x3x3x2x2xi32>
}

// -----

// torch-mlir's NGCHW form: the activations are transposed into kiln's layout and the result
// back; the filter [G][F][C][KH][KW] becomes [G][KH][KW][C][F].
// CHECK-LABEL: func.func @ngchw_gfchw
// CHECK-DAG: %[[W:.*]] = linalg.transpose ins(%arg1 : tensor<3x5x4x3x3xf32>) outs(%{{.*}} : tensor<3x3x3x4x5xf32>) permutation = [0, 3, 4, 2, 1]
// CHECK-DAG: %[[X:.*]] = linalg.transpose ins(%arg0 : tensor<1x3x4x9x11xf32>) outs(%{{.*}} : tensor<1x9x11x3x4xf32>) permutation = [0, 3, 4, 1, 2]
// CHECK-DAG: %[[I:.*]] = linalg.transpose ins(%arg2 : tensor<1x3x5x7x5xf32>) outs(%{{.*}} : tensor<1x7x5x3x5xf32>) permutation = [0, 3, 4, 1, 2]
// CHECK: %[[G:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[W]] : tensor<1x9x11x3x4xf32>, tensor<3x3x3x4x5xf32>) outs(%[[I]] : tensor<1x7x5x3x5xf32>)
// CHECK: %[[Y:.*]] = linalg.transpose ins(%[[G]] : tensor<1x7x5x3x5xf32>) outs(%{{.*}} : tensor<1x3x5x7x5xf32>) permutation = [0, 3, 4, 1, 2]
// CHECK: return %[[Y]]
func.func @ngchw_gfchw(%x: tensor<1x3x4x9x11xf32>, %w: tensor<3x5x4x3x3xf32>, %y: tensor<1x3x5x7x5xf32>) -> tensor<1x3x5x7x5xf32> {
  %r = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : tensor<2xi64>, strides = dense<[1, 2]> : tensor<2xi64>}
      ins(%x, %w : tensor<1x3x4x9x11xf32>, tensor<3x5x4x3x3xf32>) outs(%y : tensor<1x3x5x7x5xf32>) -> tensor<1x3x5x7x5xf32>
  return %r : tensor<1x3x5x7x5xf32>
}

// -----

// The FGCHW filter [F][G][C][KH][KW] also becomes [G][KH][KW][C][F].
// CHECK-LABEL: func.func @ngchw_fgchw
// CHECK: linalg.transpose ins(%arg1 : tensor<6x2x3x3x3xf32>) outs(%{{.*}} : tensor<2x3x3x3x6xf32>) permutation = [1, 3, 4, 2, 0]
// CHECK: linalg.generic
func.func @ngchw_fgchw(%x: tensor<2x2x3x6x6xf32>, %w: tensor<6x2x3x3x3xf32>, %y: tensor<2x2x6x4x4xf32>) -> tensor<2x2x6x4x4xf32> {
  %r = linalg.conv_2d_ngchw_fgchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<2x2x3x6x6xf32>, tensor<6x2x3x3x3xf32>) outs(%y : tensor<2x2x6x4x4xf32>) -> tensor<2x2x6x4x4xf32>
  return %r : tensor<2x2x6x4x4xf32>
}
