// RUN: kiln-opt %s --split-input-file --kiln-specialize-batch=batch-size=4 --verify-diagnostics

// kiln-specialize-batch: only the leading dim may be dynamic, the results must follow from
// the arguments, and a dynamic leading dim of a result must be the batch.

// expected-error @+1 {{function 'two_dynamic' argument #0 ('x') of type tensor<?x?xf32>: dim 1 is dynamic; only the leading (batch) dim may be}}
func.func @two_dynamic(%x: tensor<?x?xf32> {kiln.name = "x"}) -> tensor<?x?xf32> {
  return %x : tensor<?x?xf32>
}

// -----

// expected-error @+1 {{batch size 4 given, but no public function has an argument with a dynamic leading (batch) dim such as tensor<?x...>}}
module {
  func.func @static(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
    return %x : tensor<2x8xf32>
  }
}

// -----

// expected-error @+1 {{function 'sum_batch' result #0 of type tensor<?x8xf32> is tensor<1x8xf32> for batch 4: a dynamic leading dim of a result must be the batch}}
func.func @sum_batch(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %r = tosa.reduce_sum %x {axis = 0 : i32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}
