// RUN: kiln-opt %s --kiln-verify-no-element-access --split-input-file --verify-diagnostics | FileCheck %s

// Element reads inside a linalg op's body (a gather at computed indices) run in its dispatch.
// CHECK-LABEL: func.func @gather
func.func @gather(%table: tensor<16xf32>, %ids: tensor<4xindex>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%ids : tensor<4xindex>) outs(%e : tensor<4xf32>) {
  ^bb0(%id: index, %o: f32):
    %v = tensor.extract %table[%id] : tensor<16xf32>
    linalg.yield %v : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

func.func @runtime_index(%x: tensor<4xf32>, %i: tensor<1xi32>) -> tensor<1xf32> {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{'tensor.extract' accesses a single tensor element outside a linalg op, which kiln cannot run: it compiles whole-tensor ops (index inside a linalg.generic body, or use tosa.gather)}}
  %n = tensor.extract %i[%c0] : tensor<1xi32>
  %idx = arith.index_cast %n : i32 to index
  // expected-error @+1 {{'tensor.extract' accesses a single tensor element outside a linalg op}}
  %v = tensor.extract %x[%idx] : tensor<4xf32>
  %t = tensor.from_elements %v : tensor<1xf32>
  return %t : tensor<1xf32>
}

// -----

func.func @insert(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c1 = arith.constant 1 : index
  %f = arith.constant 3.0 : f32
  // expected-error @+1 {{'tensor.insert' accesses a single tensor element outside a linalg op}}
  %t = tensor.insert %f into %x[%c1] : tensor<4xf32>
  return %t : tensor<4xf32>
}
