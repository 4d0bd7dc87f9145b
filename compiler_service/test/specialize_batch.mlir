// RUN: kiln-opt %s --split-input-file --kiln-specialize-batch=batch-size=4 | FileCheck %s

// linalg: the batch reaches every op through folded casts; the result is refined and both ends
// are marked as the batch.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xf32> {kiln.batch, kiln.name = "x"}) -> (tensor<4x10xf32> {kiln.batch, kiln.name = "y"})
// CHECK: tensor.empty() : tensor<4x10xf32>
// CHECK: linalg.matmul ins(%[[X]], %{{.*}} : tensor<4x64xf32>, tensor<64x10xf32>) outs(%{{.*}} : tensor<4x10xf32>) -> tensor<4x10xf32>
// CHECK-NOT: tensor.cast
// CHECK: return %{{.*}} : tensor<4x10xf32>
func.func @mlp(%x: tensor<?x64xf32> {kiln.name = "x"}) -> (tensor<?x10xf32> {kiln.name = "y"}) {
  %w = arith.constant dense<1.0> : tensor<64x10xf32>
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%n) : tensor<?x10xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x10xf32>) -> tensor<?x10xf32>
  %m = linalg.matmul ins(%x, %w : tensor<?x64xf32>, tensor<64x10xf32>) outs(%f : tensor<?x10xf32>) -> tensor<?x10xf32>
  return %m : tensor<?x10xf32>
}

// -----

// TOSA: shape inference refines the ops' results. A static argument and a static result are
// neither changed nor marked.
// CHECK-LABEL: func.func @tosa
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32> {kiln.batch}, %[[S:.*]]: tensor<1x8xf32>) -> (tensor<4x1xf32> {kiln.batch}, tensor<1x8xf32>)
// CHECK: %[[A:.*]] = tosa.abs %[[X]] : (tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[R:.*]] = tosa.reduce_sum %[[A]] {axis = 1 : i32} : (tensor<4x8xf32>) -> tensor<4x1xf32>
// CHECK: return %[[R]], %[[S]] : tensor<4x1xf32>, tensor<1x8xf32>
func.func @tosa(%x: tensor<?x8xf32>, %s: tensor<1x8xf32>) -> (tensor<?x1xf32>, tensor<1x8xf32>) {
  %a = tosa.abs %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %r = tosa.reduce_sum %a {axis = 1 : i32} : (tensor<?x8xf32>) -> tensor<?x1xf32>
  return %r, %s : tensor<?x1xf32>, tensor<1x8xf32>
}

// -----

// Private functions are inlined later and keep their types.
// CHECK-LABEL: func.func private @helper
// CHECK-SAME: tensor<?x8xf32>
func.func private @helper(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}
// CHECK-LABEL: func.func @uses_helper
// CHECK-SAME: tensor<4x8xf32> {kiln.batch}
func.func @uses_helper(%x: tensor<?x8xf32>) -> tensor<8xf32> {
  %c = arith.constant dense<0.0> : tensor<8xf32>
  return %c : tensor<8xf32>
}
