// RUN: kiln-opt %s --kiln-pad-constant-rows="min-bytes=0" --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-pad-constant-rows --split-input-file | FileCheck %s --check-prefix=DEFAULT

// Rows of a constant filter that are a multiple of two cache lines apart (32 f32 channels,
// 128 bytes) get one more cache line (16 zeros): the conv reads a slice of the padded constant.
// Rows that are not such a multiple (8 channels) are not padded.
// CHECK-LABEL: func.func @conv_filter
// CHECK: %[[P:.*]] = arith.constant dense<{{\[\[\[\[}}0.000000e+00, 1.000000e+00, {{.*}}, 3.100000e+01, 0.000000e+00, {{.*}}], [3.200000e+01, {{.*}}, 6.300000e+01, 0.000000e+00, {{.*}}]]]]> : tensor<1x1x2x48xf32>
// CHECK: %[[S:.*]] = tensor.extract_slice %[[P]][0, 0, 0, 0] [1, 1, 2, 32] [1, 1, 1, 1] : tensor<1x1x2x48xf32> to tensor<1x1x2x32xf32>
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%arg0, %[[S]] : tensor<1x4x4x2xf32>, tensor<1x1x2x32xf32>)
// CHECK-NOT: tensor.extract_slice
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%arg0, %{{.*}} : tensor<1x4x4x2xf32>, tensor<1x1x2x8xf32>)
// Under the default min-bytes (1 MiB) nothing is padded.
// DEFAULT-LABEL: func.func @conv_filter
// DEFAULT-NOT: tensor.extract_slice
// DEFAULT: return
func.func @conv_filter(%x: tensor<1x4x4x2xf32>, %y: tensor<1x4x4x32xf32>, %y8: tensor<1x4x4x8xf32>)
    -> (tensor<1x4x4x32xf32>, tensor<1x4x4x8xf32>) {
  %w = arith.constant dense<[[[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0], [32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0]]]]> : tensor<1x1x2x32xf32>
  %r = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x4x4x2xf32>, tensor<1x1x2x32xf32>) outs(%y : tensor<1x4x4x32xf32>) -> tensor<1x4x4x32xf32>
  %w8 = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0]]]]> : tensor<1x1x2x8xf32>
  %r8 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w8 : tensor<1x4x4x2xf32>, tensor<1x1x2x8xf32>) outs(%y8 : tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  return %r, %r8 : tensor<1x4x4x32xf32>, tensor<1x4x4x8xf32>
}

// -----

// B of a matmul and of a batch matmul; A (a constant too) and a runtime B are not padded.
// CHECK-LABEL: func.func @matmul_b
// CHECK: %[[P:.*]] = arith.constant dense<{{.*}}> : tensor<2x48xf32>
// CHECK: %[[S:.*]] = tensor.extract_slice %[[P]][0, 0] [2, 32] [1, 1] : tensor<2x48xf32> to tensor<2x32xf32>
// CHECK: linalg.matmul ins(%{{.*}}, %[[S]] : tensor<2x2xf32>, tensor<2x32xf32>)
// CHECK: %[[PB:.*]] = arith.constant dense<{{.*}}> : tensor<1x2x48xf32>
// CHECK: %[[SB:.*]] = tensor.extract_slice %[[PB]][0, 0, 0] [1, 2, 32] [1, 1, 1] : tensor<1x2x48xf32> to tensor<1x2x32xf32>
// CHECK: linalg.batch_matmul ins(%arg0, %[[SB]] : tensor<1x2x2xf32>, tensor<1x2x32xf32>)
// CHECK-NOT: tensor.extract_slice
// CHECK: linalg.matmul ins(%arg1, %arg2 :
func.func @matmul_b(%a: tensor<1x2x2xf32>, %a2: tensor<2x2xf32>, %b2: tensor<2x32xf32>, %y: tensor<2x32xf32>, %yb: tensor<1x2x32xf32>)
    -> (tensor<2x32xf32>, tensor<1x2x32xf32>, tensor<2x32xf32>) {
  %ca = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0], [32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0]]> : tensor<2x32xf32>
  %r = linalg.matmul ins(%ca, %b : tensor<2x2xf32>, tensor<2x32xf32>) outs(%y : tensor<2x32xf32>) -> tensor<2x32xf32>
  %bb = arith.constant dense<[[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0], [32.0, 33.0, 34.0, 35.0, 36.0, 37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0, 50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0, 63.0]]]> : tensor<1x2x32xf32>
  %rb = linalg.batch_matmul ins(%a, %bb : tensor<1x2x2xf32>, tensor<1x2x32xf32>) outs(%yb : tensor<1x2x32xf32>) -> tensor<1x2x32xf32>
  %r2 = linalg.matmul ins(%a2, %b2 : tensor<2x2xf32>, tensor<2x32xf32>) outs(%y : tensor<2x32xf32>) -> tensor<2x32xf32>
  return %r, %rb, %r2 : tensor<2x32xf32>, tensor<1x2x32xf32>, tensor<2x32xf32>
}
