// RUN: kiln-opt %s --kiln-normalize-convolutions --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-normalize-convolutions="pad-filter-min-bytes=0" --split-input-file | FileCheck %s --check-prefix=PAD

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

// Rows of a constant filter that are a multiple of two cache lines apart (32 f32 channels,
// 128 bytes) get one more cache line (16 zeros): the conv reads a slice of the padded constant.
// Rows that are not such a multiple (8 channels) are not padded, nor is a filter under
// pad-filter-min-bytes (1 MiB by default: the CHECK lines).
// CHECK-LABEL: func.func @padded_filter
// CHECK-NOT: tensor.extract_slice
// CHECK: return
// PAD-LABEL: func.func @padded_filter
// PAD: %[[P:.*]] = arith.constant dense<{{.*}}> : tensor<1x1x2x48xf32>
// PAD: %[[S:.*]] = tensor.extract_slice %[[P]][0, 0, 0, 0] [1, 1, 2, 32] [1, 1, 1, 1] : tensor<1x1x2x48xf32> to tensor<1x1x2x32xf32>
// PAD: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%arg0, %[[S]] : tensor<1x4x4x2xf32>, tensor<1x1x2x32xf32>)
// PAD-NOT: tensor.extract_slice
// PAD: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%arg0, %{{.*}} : tensor<1x4x4x2xf32>, tensor<1x1x2x8xf32>)
func.func @padded_filter(%x: tensor<1x4x4x2xf32>, %y: tensor<1x4x4x32xf32>, %y8: tensor<1x4x4x8xf32>)
    -> (tensor<1x4x4x32xf32>, tensor<1x4x4x8xf32>) {
  %w = arith.constant dense<[[[[0.0, 1.0]]], [[[2.0, 3.0]]], [[[4.0, 5.0]]], [[[6.0, 7.0]]], [[[8.0, 9.0]]], [[[10.0, 11.0]]], [[[12.0, 13.0]]], [[[14.0, 15.0]]], [[[16.0, 17.0]]], [[[18.0, 19.0]]], [[[20.0, 21.0]]], [[[22.0, 23.0]]], [[[24.0, 25.0]]], [[[26.0, 27.0]]], [[[28.0, 29.0]]], [[[30.0, 31.0]]], [[[32.0, 33.0]]], [[[34.0, 35.0]]], [[[36.0, 37.0]]], [[[38.0, 39.0]]], [[[40.0, 41.0]]], [[[42.0, 43.0]]], [[[44.0, 45.0]]], [[[46.0, 47.0]]], [[[48.0, 49.0]]], [[[50.0, 51.0]]], [[[52.0, 53.0]]], [[[54.0, 55.0]]], [[[56.0, 57.0]]], [[[58.0, 59.0]]], [[[60.0, 61.0]]], [[[62.0, 63.0]]]]> : tensor<32x1x1x2xf32>
  %r = linalg.conv_2d_nhwc_fhwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x4x4x2xf32>, tensor<32x1x1x2xf32>) outs(%y : tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
  %w8 = arith.constant dense<[[[[1.0, 2.0]]], [[[3.0, 4.0]]], [[[5.0, 6.0]]], [[[7.0, 8.0]]], [[[1.0, 2.0]]], [[[3.0, 4.0]]], [[[5.0, 6.0]]], [[[7.0, 9.0]]]]> : tensor<8x1x1x2xf32>
  %r8 = linalg.conv_2d_nhwc_fhwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w8 : tensor<1x4x4x2xf32>, tensor<8x1x1x2xf32>) outs(%y8 : tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  return %r, %r8 : tensor<1x4x4x32xf32>, tensor<1x4x4x8xf32>
}
