#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<2x3xf16>, %k: tensor<2x3xi32>) -> (tensor<2x3xf16>, tensor<2x3xi1>) {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf16>
  %e = tensor.empty() : tensor<2x3xf16>
  %y = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x, %w : tensor<2x3xf16>, tensor<2x3xf16>) outs(%e : tensor<2x3xf16>) {
  ^bb0(%a: f16, %b: f16, %o: f16):
    %m = arith.mulf %a, %b : f16
    %r = math.exp %m : f16
    linalg.yield %r : f16
  } -> tensor<2x3xf16>
  %zero = arith.constant dense<0> : tensor<2x3xi32>
  %p = arith.cmpi sgt, %k, %zero : tensor<2x3xi32>
  return %y, %p : tensor<2x3xf16>, tensor<2x3xi1>
}
