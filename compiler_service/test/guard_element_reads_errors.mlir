// RUN: kiln-opt %s --kiln-guard-element-reads --split-input-file --verify-diagnostics

// A body may read other tensors only element by element: slices and writes at offsets it
// computes would reach memory no check covers (an insert becomes a store at a data-chosen
// address), so they are refused where they are written.

func.func @insert(%t: tensor<4xf32>, %ids: tensor<5xi32>) -> tensor<5xf32> {
  %e = tensor.empty() : tensor<5xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%ids : tensor<5xi32>) outs(%e : tensor<5xf32>) {
  ^bb0(%id: i32, %o: f32):
    %k = arith.index_cast %id : i32 to index
    %c0 = arith.constant 0 : index
    %one = arith.constant 1.0 : f32
    // expected-error @+1 {{'tensor.insert' inside a linalg op's body is not supported: a body may read other tensors only element by element, with tensor.extract}}
    %w = tensor.insert %one into %t[%k] : tensor<4xf32>
    %v = tensor.extract %w[%c0] : tensor<4xf32>
    linalg.yield %v : f32
  } -> tensor<5xf32>
  return %r : tensor<5xf32>
}

// -----

func.func @slice(%t: tensor<64xf32>, %ids: tensor<5xi32>) -> tensor<5xf32> {
  %e = tensor.empty() : tensor<5xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%ids : tensor<5xi32>) outs(%e : tensor<5xf32>) {
  ^bb0(%id: i32, %o: f32):
    %k = arith.index_cast %id : i32 to index
    %c0 = arith.constant 0 : index
    // expected-error @+1 {{'tensor.extract_slice' inside a linalg op's body is not supported: a body may read other tensors only element by element, with tensor.extract}}
    %s = tensor.extract_slice %t[%k] [1] [1] : tensor<64xf32> to tensor<1xf32>
    %v = tensor.extract %s[%c0] : tensor<1xf32>
    linalg.yield %v : f32
  } -> tensor<5xf32>
  return %r : tensor<5xf32>
}
