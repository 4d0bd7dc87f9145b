// RUN: kiln-compile %s --target-cpu znver4 -o %t.kmod --dump-after dispatch 2>&1 | FileCheck %s

// The whole pipeline on TOSA: its lowerings reach the paths kiln tunes (kiln-drop-unit-batch
// after bufferization, kiln-normalize-convolutions before canonicalization), which a pass
// reordering could silently lose while results stayed right. The target is named (an AVX-512
// CPU) so that the result does not depend on the machine the test runs on.

// tosa.matmul (a batch of 1) with B of 2.2 MB: a plain matmul whose B is packed into panels
// by its own dispatch, its fill in the product's dispatch.
// CHECK-LABEL: func.func private @matmul__dispatch_0
// CHECK: linalg.transpose {{.*}} permutation = [1, 0, 2]
// CHECK-LABEL: func.func private @matmul__dispatch_1
// CHECK: linalg.fill
// CHECK: linalg.contract
func.func @matmul(%a: tensor<1x260x1100xf32>, %b: tensor<1x1100x512xf32>) -> tensor<1x260x512xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tosa.matmul %a, %b, %zp, %zp : (tensor<1x260x1100xf32>, tensor<1x1100x512xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x260x512xf32>
  return %c : tensor<1x260x512xf32>
}

// tosa.conv2d with constant OHWI weights: an HWCF convolution on a constant transposed at
// compile time (no transpose dispatch).
// CHECK-LABEL: func.func private @conv__dispatch_0
// CHECK-NOT: linalg.transpose
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} memref<1x1x3x2xf32
func.func @conv(%x: tensor<1x4x4x3xf32>) -> tensor<1x4x4x2xf32> {
  %w = "tosa.const"() <{values = dense<[[[[1.0, 2.0, 3.0]]], [[[4.0, 5.0, 6.0]]]]> : tensor<2x1x1x3xf32>}> : () -> tensor<2x1x1x3xf32>
  %b = "tosa.const"() <{values = dense<0.0> : tensor<2xf32>}> : () -> tensor<2xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tosa.conv2d %x, %w, %b, %zp, %zp {acc_type = f32, dilation = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x4x4x3xf32>, tensor<2x1x1x3xf32>, tensor<2xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4x2xf32>
  return %c : tensor<1x4x4x2xf32>
}

// tosa.depthwise_conv2d (a channel multiplier of 1): the plain depthwise form, its fill in
// the same dispatch.
// CHECK-LABEL: func.func private @depthwise__dispatch_0
// CHECK: linalg.fill
// CHECK-NEXT: linalg.depthwise_conv_2d_nhwc_hwc
func.func @depthwise(%x: tensor<1x6x6x16xf32>, %w: tensor<3x3x16x1xf32>) -> tensor<1x4x4x16xf32> {
  %b = "tosa.const"() <{values = dense<0.0> : tensor<16xf32>}> : () -> tensor<16xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tosa.depthwise_conv2d %x, %w, %b, %zp, %zp {acc_type = f32, dilation = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x6x6x16xf32>, tensor<3x3x16x1xf32>, tensor<16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x4x16xf32>
  return %c : tensor<1x4x4x16xf32>
}
