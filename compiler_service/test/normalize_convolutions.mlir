// RUN: kiln-opt %s --kiln-normalize-convolutions --split-input-file | FileCheck %s

// Constant FHWC weights are transposed to HWCF at compile time: no transpose op remains.
// CHECK-LABEL: func.func @constant_filter
// CHECK-NOT: linalg.transpose
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}1.000000e+00, 4.000000e+00], [2.000000e+00, 5.000000e+00], [3.000000e+00, 6.000000e+00]]]]> : tensor<1x1x3x2xf32>
// CHECK-NOT: linalg.transpose
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%arg0, %[[W]] : tensor<1x4x4x3xf32>, tensor<1x1x3x2xf32>)
func.func @constant_filter(%x: tensor<1x4x4x3xf32>, %y: tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32> {
  %w = arith.constant dense<[[[[1.0, 2.0, 3.0]]], [[[4.0, 5.0, 6.0]]]]> : tensor<2x1x1x3xf32>
  %r = linalg.conv_2d_nhwc_fhwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x4x4x3xf32>, tensor<2x1x1x3xf32>) outs(%y : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  return %r : tensor<1x4x4x2xf32>
}

// -----

// A runtime filter is transposed by an op (its own dispatch later).
// CHECK-LABEL: func.func @runtime_filter
// CHECK: %[[T:.*]] = linalg.transpose ins(%arg1 : tensor<8x3x3x4xf32>) outs(%{{.*}} : tensor<3x3x4x8xf32>) permutation = [1, 2, 3, 0]
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%arg0, %[[T]] : tensor<1x6x6x4xf32>, tensor<3x3x4x8xf32>)
func.func @runtime_filter(%x: tensor<1x6x6x4xf32>, %w: tensor<8x3x3x4xf32>, %y: tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32> {
  %r = linalg.conv_2d_nhwc_fhwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x6x6x4xf32>, tensor<8x3x3x4xf32>) outs(%y : tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  return %r : tensor<1x4x4x8xf32>
}

// -----

// Depthwise with a channel multiplier of 1: the plain depthwise form on collapsed views; a
// multiplier of 2 is left alone.
// CHECK-LABEL: func.func @depthwise
// CHECK: %[[W:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0], [1], [2, 3]] : tensor<3x3x16x1xf32> into tensor<3x3x16xf32>
// CHECK: %[[Y:.*]] = tensor.collapse_shape %arg2 {{\[\[}}0], [1], [2], [3, 4]] : tensor<1x4x4x16x1xf32> into tensor<1x4x4x16xf32>
// CHECK: %[[D:.*]] = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%arg0, %[[W]] : tensor<1x6x6x16xf32>, tensor<3x3x16xf32>) outs(%[[Y]] : tensor<1x4x4x16xf32>)
// CHECK: tensor.expand_shape %[[D]] {{\[\[}}0], [1], [2], [3, 4]]
// CHECK: linalg.depthwise_conv_2d_nhwc_hwcm {{.*}} tensor<3x3x16x2xf32>
func.func @depthwise(%x: tensor<1x6x6x16xf32>, %w: tensor<3x3x16x1xf32>, %y: tensor<1x4x4x16x1xf32>,
                     %w2: tensor<3x3x16x2xf32>, %y2: tensor<1x4x4x16x2xf32>)
    -> (tensor<1x4x4x16x1xf32>, tensor<1x4x4x16x2xf32>) {
  %r = linalg.depthwise_conv_2d_nhwc_hwcm {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x6x6x16xf32>, tensor<3x3x16x1xf32>) outs(%y : tensor<1x4x4x16x1xf32>) -> tensor<1x4x4x16x1xf32>
  %r2 = linalg.depthwise_conv_2d_nhwc_hwcm {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w2 : tensor<1x6x6x16xf32>, tensor<3x3x16x2xf32>) outs(%y2 : tensor<1x4x4x16x2xf32>) -> tensor<1x4x4x16x2xf32>
  return %r, %r2 : tensor<1x4x4x16x1xf32>, tensor<1x4x4x16x2xf32>
}

// -----

// The usual output of tosa.depthwise_conv2d, a filled 5-D tensor.empty: the 4-D form fills a
// 4-D empty tensor, no collapsed view of a 5-D one is left for bufferization to copy.
// CHECK-LABEL: func.func @depthwise_filled
// CHECK: %[[E:.*]] = tensor.empty() : tensor<1x4x4x16xf32>
// CHECK: %[[F:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<1x4x4x16xf32>)
// CHECK: linalg.depthwise_conv_2d_nhwc_hwc {{.*}} outs(%[[F]] : tensor<1x4x4x16xf32>)
// CHECK-NOT: tensor<1x4x4x16x1xf32> into
func.func @depthwise_filled(%x: tensor<1x6x6x16xf32>, %w: tensor<3x3x16x1xf32>) -> tensor<1x4x4x16x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4x16x1xf32>
  %y = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x16x1xf32>) -> tensor<1x4x4x16x1xf32>
  %r = linalg.depthwise_conv_2d_nhwc_hwcm {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x6x6x16xf32>, tensor<3x3x16x1xf32>) outs(%y : tensor<1x4x4x16x1xf32>) -> tensor<1x4x4x16x1xf32>
  return %r : tensor<1x4x4x16x1xf32>
}
