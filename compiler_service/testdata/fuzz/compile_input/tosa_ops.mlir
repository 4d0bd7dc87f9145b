func.func @main(%a: tensor<1x2x3xf32>, %b: tensor<1x3x4xf32>, %c: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %za = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %zb = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %m = tosa.matmul %a, %b, %za, %zb : (tensor<1x2x3xf32>, tensor<1x3x4xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x2x4xf32>
  %s = tosa.add %m, %c : (tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %t = tosa.tanh %s : (tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  return %t : tensor<1x2x4xf32>
}
