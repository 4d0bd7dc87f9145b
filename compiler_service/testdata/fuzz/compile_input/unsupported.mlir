func.func @dynamic(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  return %x : tensor<?x3xf32>
}
func.func @other_dialect(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = scf.execute_region -> tensor<4xf32> {
    scf.yield %x : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}
func.func @scalar_arg(%x: f32, %y: tensor<4xi4>, %z: memref<4xf32>) -> tensor<*xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %u = tensor.cast %e : tensor<4xf32> to tensor<*xf32>
  return %u : tensor<*xf32>
}
