// RUN: kiln-opt %s --kiln-distinct-results --split-input-file | FileCheck %s
// The whole bufferization sequence: before the pass, buffer-results-to-out-params crashed on
// @computed_twice.
// RUN: kiln-opt %s --split-input-file --kiln-distinct-results \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --buffer-results-to-out-params="hoist-static-allocs modify-public-functions" \
// RUN:   | FileCheck %s --check-prefix=BUF

// A computed value returned twice: the second result is a copy of the first.
// CHECK-LABEL: func.func @computed_twice
// CHECK: %[[R:.*]] = linalg.add
// CHECK: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK: %[[C:.*]] = linalg.copy ins(%[[R]] : tensor<4xf32>) outs(%[[E]] : tensor<4xf32>)
// CHECK: return %[[R]], %[[C]] : tensor<4xf32>, tensor<4xf32>
// BUF-LABEL: func.func @computed_twice
// BUF-SAME: (%[[A:.*]]: memref<4xf32>, %[[B:.*]]: memref<4xf32>, %[[O0:.*]]: memref<4xf32>, %[[O1:.*]]: memref<4xf32>)
// BUF: linalg.add ins(%[[A]], %[[B]] : memref<4xf32>, memref<4xf32>) outs(%[[O0]] : memref<4xf32>)
// BUF: linalg.copy ins(%[[O0]] : memref<4xf32>) outs(%[[O1]] : memref<4xf32>)
// BUF-NEXT: return
func.func @computed_twice(%a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.add ins(%a, %b : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %r, %r : tensor<4xf32>, tensor<4xf32>
}

// -----

// Three times, with another result between: two copies, one per repeat.
// CHECK-LABEL: func.func @three_times
// CHECK: %[[R:.*]] = linalg.exp
// CHECK: %[[C1:.*]] = linalg.copy ins(%[[R]] : tensor<2x3xf32>)
// CHECK: %[[C2:.*]] = linalg.copy ins(%[[R]] : tensor<2x3xf32>)
// CHECK: return %[[R]], %arg0, %[[C1]], %[[C2]]
// BUF-LABEL: func.func @three_times
// BUF-SAME: (%[[A:.*]]: memref<2x3xf32>, %[[O0:.*]]: memref<2x3xf32>, %[[O1:.*]]: memref<2x3xf32>, %[[O2:.*]]: memref<2x3xf32>, %[[O3:.*]]: memref<2x3xf32>)
// BUF: linalg.exp ins(%[[A]] : memref<2x3xf32>) outs(%[[O0]] : memref<2x3xf32>)
// BUF-DAG: linalg.copy ins(%[[O0]] : memref<2x3xf32>) outs(%[[O2]] : memref<2x3xf32>)
// BUF-DAG: linalg.copy ins(%[[O0]] : memref<2x3xf32>) outs(%[[O3]] : memref<2x3xf32>)
// BUF-DAG: memref.copy %[[A]], %[[O1]]
// BUF: return
func.func @three_times(%a: tensor<2x3xf32>)
    -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %e = tensor.empty() : tensor<2x3xf32>
  %r = linalg.exp ins(%a : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %r, %a, %r, %r : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// An argument and a constant, each returned twice: a copy for each repeat.
// CHECK-LABEL: func.func @argument_and_constant_twice
// CHECK-DAG: %[[K:.*]] = arith.constant dense<[1, 2]> : tensor<2xi32>
// CHECK-DAG: %[[CA:.*]] = linalg.copy ins(%arg0 : tensor<2xi32>)
// CHECK-DAG: %[[CK:.*]] = linalg.copy ins(%[[K]] : tensor<2xi32>)
// CHECK: return %arg0, %[[CA]], %[[K]], %[[CK]]
// BUF-LABEL: func.func @argument_and_constant_twice
// BUF-SAME: (%[[A:.*]]: memref<2xi32>, %[[O0:.*]]: memref<2xi32>, %[[O1:.*]]: memref<2xi32>, %[[O2:.*]]: memref<2xi32>, %[[O3:.*]]: memref<2xi32>)
// BUF: %[[K:.*]] = memref.get_global
// BUF-DAG: linalg.copy ins(%[[A]] : memref<2xi32>) outs(%[[O1]] : memref<2xi32>)
// BUF-DAG: linalg.copy ins(%[[K]] : memref<2xi32>) outs(%[[O3]] : memref<2xi32>)
// BUF-DAG: memref.copy %[[A]], %[[O0]]
// BUF-DAG: memref.copy %[[K]], %[[O2]]
// BUF: return
func.func @argument_and_constant_twice(%a: tensor<2xi32>)
    -> (tensor<2xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2xi32>) {
  %k = arith.constant dense<[1, 2]> : tensor<2xi32>
  return %a, %a, %k, %k : tensor<2xi32>, tensor<2xi32>, tensor<2xi32>, tensor<2xi32>
}

// -----

// Distinct results are left alone.
// CHECK-LABEL: func.func @distinct
// CHECK-NOT: linalg.copy
// CHECK: return %arg1, %arg0
func.func @distinct(%a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  return %b, %a : tensor<4xf32>, tensor<4xf32>
}
