// RUN: kiln-opt %s --kiln-prepare-destinations --split-input-file | FileCheck %s

// The activation feeding a padded convolution writes the interior of the padded tensor (the
// generic that wrote a tensor of its own is gone).
// CHECK-LABEL: func.func @relu_then_pad
// CHECK: %[[E:.*]] = tensor.empty() : tensor<1x6x6x8xf32>
// CHECK: %[[F:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<1x6x6x8xf32>)
// CHECK: %[[S:.*]] = tensor.extract_slice %[[F]][0, 1, 1, 0] [1, 4, 4, 8] [1, 1, 1, 1]
// CHECK: %[[G:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<1x4x4x8xf32>) outs(%[[S]] : tensor<1x4x4x8xf32>)
// CHECK: %[[R:.*]] = tensor.insert_slice %[[G]] into %[[F]][0, 1, 1, 0] [1, 4, 4, 8] [1, 1, 1, 1]
// CHECK-NOT: tensor.pad
// CHECK: return %[[R]]
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @relu_then_pad(%x: tensor<1x4x4x8xf32>) -> tensor<1x6x6x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4x8xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x4x4x8xf32>) outs(%e : tensor<1x4x4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4x8xf32>
  %p = tensor.pad %r low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x4x8xf32> to tensor<1x6x6x8xf32>
  return %p : tensor<1x6x6x8xf32>
}

// -----

// A producer with a reduction (the convolution itself) is left alone, and so is a pad of a
// function argument.
// CHECK-LABEL: func.func @not_parallel
// CHECK: linalg.conv_2d_nhwc_hwcf
// CHECK: tensor.pad
// CHECK: tensor.pad
func.func @not_parallel(%x: tensor<1x6x6x8xf32>, %w: tensor<3x3x8x8xf32>, %y: tensor<1x4x4x8xf32>)
    -> (tensor<1x6x6x8xf32>, tensor<1x8x8x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %c = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x6x6x8xf32>, tensor<3x3x8x8xf32>) outs(%y : tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  %p = tensor.pad %c low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x4x8xf32> to tensor<1x6x6x8xf32>
  %q = tensor.pad %x low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x6x6x8xf32> to tensor<1x8x8x8xf32>
  return %p, %q : tensor<1x6x6x8xf32>, tensor<1x8x8x8xf32>
}

// -----

// A producer with another user stays whole (fused, it would be computed twice).
// CHECK-LABEL: func.func @shared_producer
// CHECK: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK: tensor.pad
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @shared_producer(%x: tensor<1x4x4x8xf32>) -> (tensor<1x6x6x8xf32>, tensor<1x4x4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4x8xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x4x4x8xf32>) outs(%e : tensor<1x4x4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4x8xf32>
  %p = tensor.pad %r low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x4x4x8xf32> to tensor<1x6x6x8xf32>
  return %p, %r : tensor<1x6x6x8xf32>, tensor<1x4x4x8xf32>
}

// -----

// cse merged the zero-filled accumulators of two convolutions: each gets its own again.
// CHECK-LABEL: func.func @shared_fill
// CHECK: %[[E1:.*]] = tensor.empty() : tensor<1x4x4x8xf32>
// CHECK: %[[F1:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E1]] : tensor<1x4x4x8xf32>)
// CHECK: linalg.depthwise_conv_2d_nhwc_hwc {{.*}} outs(%[[F1]] : tensor<1x4x4x8xf32>)
// CHECK: %[[E0:.*]] = tensor.empty() : tensor<1x4x4x8xf32>
// CHECK: %[[F0:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E0]] : tensor<1x4x4x8xf32>)
// CHECK: linalg.depthwise_conv_2d_nhwc_hwc {{.*}} outs(%[[F0]] : tensor<1x4x4x8xf32>)
func.func @shared_fill(%x: tensor<1x6x6x8xf32>, %w: tensor<3x3x8xf32>, %w2: tensor<3x3x8xf32>) -> (tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  %a = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : tensor<1x6x6x8xf32>, tensor<3x3x8xf32>) outs(%f : tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  %b = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w2 : tensor<1x6x6x8xf32>, tensor<3x3x8xf32>) outs(%f : tensor<1x4x4x8xf32>) -> tensor<1x4x4x8xf32>
  return %a, %b : tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>
}
