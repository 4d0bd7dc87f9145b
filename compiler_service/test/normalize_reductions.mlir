// RUN: kiln-opt %s --kiln-normalize-reductions --split-input-file | FileCheck %s

// The scale fused into the product moves out into an elementwise op on its input; the plain
// product is then a named batch_matmul.
// CHECK-LABEL: func.func @scaled_product
// CHECK: %[[S:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} ins(%arg0 : tensor<2x4x8xf32>)
// CHECK: arith.mulf %{{.*}}, %cst : f32
// CHECK: linalg.batch_matmul ins(%[[S]], %arg1 : tensor<2x4x8xf32>, tensor<2x8x16xf32>) outs(%arg2 : tensor<2x4x16xf32>)
#a = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#b = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
#c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @scaled_product(%a: tensor<2x4x8xf32>, %b: tensor<2x8x16xf32>, %init: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
  %scale = arith.constant 0.125 : f32
  %r = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<2x4x8xf32>, tensor<2x8x16xf32>) outs(%init : tensor<2x4x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %s = arith.mulf %x, %scale : f32
    %p = arith.mulf %s, %y : f32
    %sum = arith.addf %acc, %p : f32
    linalg.yield %sum : f32
  } -> tensor<2x4x16xf32>
  return %r : tensor<2x4x16xf32>
}


// -----

// A transform that reads the loop index is not an elementwise op on the input: left whole.
// CHECK-LABEL: func.func @indexed_transform
// CHECK: linalg.generic
// CHECK: linalg.index 3
// CHECK-NOT: linalg.batch_matmul

#a = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#b = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
#c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @indexed_transform(%a: tensor<2x4x8xf32>, %b: tensor<2x8x16xf32>, %init: tensor<2x4x16xf32>) -> tensor<2x4x16xf32> {
  %r = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<2x4x8xf32>, tensor<2x8x16xf32>) outs(%init : tensor<2x4x16xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %i = linalg.index 3 : index
    %ii = arith.index_cast %i : index to i32
    %f = arith.sitofp %ii : i32 to f32
    %s = arith.mulf %x, %f : f32
    %p = arith.mulf %s, %y : f32
    %sum = arith.addf %acc, %p : f32
    linalg.yield %sum : f32
  } -> tensor<2x4x16xf32>
  return %r : tensor<2x4x16xf32>
}


// -----

// Unit dimensions of a reduction are dropped: it runs over 4x8 through reshapes.
// CHECK-LABEL: func.func @unit_reduction
// CHECK: %[[X:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2, 3]] : tensor<4x1x8x1xf32> into tensor<4x8xf32>
// CHECK: %[[I:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1]] : tensor<4x1xf32> into tensor<4xf32>
// CHECK: %[[R:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[X]] : tensor<4x8xf32>) outs(%[[I]] : tensor<4xf32>)
// CHECK: tensor.expand_shape %[[R]] {{\[\[}}0, 1]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>

#in = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#out = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
func.func @unit_reduction(%x: tensor<4x1x8x1xf32>, %init: tensor<4x1xf32>) -> tensor<4x1xf32> {
  %r = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x : tensor<4x1x8x1xf32>) outs(%init : tensor<4x1xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %m = arith.maximumf %v, %acc : f32
    linalg.yield %m : f32
  } -> tensor<4x1xf32>
  return %r : tensor<4x1xf32>
}

// -----

// The transformed element is used twice (a sum of squares of scaled inputs): moving the scale
// out would apply it twice, so the payload is left whole.
#a = affine_map<(d0, d1) -> (d0, d1)>
#c = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @squared_transform
// CHECK: linalg.generic
// CHECK: %[[S:.*]] = arith.mulf %in, %cst : f32
// CHECK: arith.mulf %[[S]], %[[S]] : f32
func.func @squared_transform(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>, %init: tensor<4xf32>) -> tensor<4xf32> {
  %scale = arith.constant 0.5 : f32
  %r = linalg.generic {indexing_maps = [#a, #a, #c], iterator_types = ["parallel", "reduction"]}
      ins(%a, %b : tensor<4x8xf32>, tensor<4x8xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %s = arith.mulf %x, %scale : f32
    %p = arith.mulf %s, %s : f32
    %sum = arith.addf %acc, %p : f32
    linalg.yield %sum : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}
