// RUN: kiln-opt %s --kiln-split-vector-matrix-reduction --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-split-vector-matrix-reduction=vector-bits=256 --split-input-file | FileCheck %s --check-prefix=AVX2

// A vector times 16 MB: 16 parts of 128 whole rows of B each, partial sums over an outer part
// dimension (a linalg.contract), then the parts added into the output, its fill next to them.
// CHECK-LABEL: func.func @vecmat
// CHECK-DAG: %[[A:.*]] = tensor.expand_shape %arg0 {{\[\[}}0], [1, 2]] output_shape [1, 16, 128]
// CHECK-DAG: %[[B:.*]] = tensor.expand_shape %arg1 {{\[\[}}0, 1], [2]] output_shape [16, 128, 2048]
// CHECK: %[[P0:.*]] = linalg.fill {{.*}} -> tensor<16x1x2048xf32>
// CHECK: %[[P:.*]] = linalg.contract {{.*}} ins(%[[A]], %[[B]] : tensor<1x16x128xf32>, tensor<16x128x2048xf32>) outs(%[[P0]] : tensor<16x1x2048xf32>)
// CHECK-NEXT: %[[C0:.*]] = linalg.fill {{.*}} -> tensor<1x2048xf32>
// CHECK-NEXT: %[[C:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "parallel"]} ins(%[[P]] : tensor<16x1x2048xf32>) outs(%[[C0]] : tensor<1x2048xf32>)
// CHECK: return %[[C]]
func.func @vecmat(%a: tensor<1x2048xf32>, %b: tensor<2048x2048xf32>) -> tensor<1x2048xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2048xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x2048xf32>) -> tensor<1x2048xf32>
  %r = linalg.matmul ins(%a, %b : tensor<1x2048xf32>, tensor<2048x2048xf32>) outs(%f : tensor<1x2048xf32>) -> tensor<1x2048xf32>
  return %r : tensor<1x2048xf32>
}

// -----

// 1053 rows (3^4 x 13): the most parts that divide them evenly, 13 of 81.
// CHECK-LABEL: func.func @uneven
// CHECK: tensor.expand_shape %arg1 {{\[\[}}0, 1], [2]] output_shape [13, 81, 1024]
// CHECK: linalg.contract {{.*}} outs({{.*}} : tensor<13x2x1024xf32>)
func.func @uneven(%a: tensor<2x1053xf32>, %b: tensor<1053x1024xf32>, %c: tensor<2x1024xf32>) -> tensor<2x1024xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<2x1053xf32>, tensor<1053x1024xf32>) outs(%c : tensor<2x1024xf32>) -> tensor<2x1024xf32>
  return %r : tensor<2x1024xf32>
}

// -----

// tosa.matmul's batch of 1 splits the same way (the batch dimension kept, of extent 1).
// CHECK-LABEL: func.func @unit_batch
// CHECK: tensor.expand_shape %arg1 {{\[\[}}0], [1, 2], [3]] output_shape [1, 16, 128, 2048]
// CHECK: linalg.contract {{.*}} -> tensor<16x1x1x2048xf32>
func.func @unit_batch(%a: tensor<1x1x2048xf32>, %b: tensor<1x2048x2048xf32>, %c: tensor<1x1x2048xf32>) -> tensor<1x1x2048xf32> {
  %r = linalg.batch_matmul ins(%a, %b : tensor<1x1x2048xf32>, tensor<1x2048x2048xf32>) outs(%c : tensor<1x1x2048xf32>) -> tensor<1x1x2048xf32>
  return %r : tensor<1x1x2048xf32>
}

// -----

// Left alone: B under 4 MB (it fits the caches of a few cores, where workgroups of columns
// were faster on two threads), 1031 rows (prime: no even parts), and 8 rows (a register tile).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: linalg.contract
// CHECK-COUNT-3: linalg.matmul
// CHECK-NOT: linalg.contract
func.func @left_alone(%a: tensor<1x513xf32>, %b: tensor<513x1000xf32>, %c: tensor<1x1000xf32>,
                      %d: tensor<1x1031xf32>, %e: tensor<1031x1024xf32>, %f: tensor<1x1024xf32>,
                      %g: tensor<8x2048xf32>, %h: tensor<2048x2048xf32>, %i: tensor<8x2048xf32>)
    -> (tensor<1x1000xf32>, tensor<1x1024xf32>, tensor<8x2048xf32>) {
  %0 = linalg.matmul ins(%a, %b : tensor<1x513xf32>, tensor<513x1000xf32>) outs(%c : tensor<1x1000xf32>) -> tensor<1x1000xf32>
  %1 = linalg.matmul ins(%d, %e : tensor<1x1031xf32>, tensor<1031x1024xf32>) outs(%f : tensor<1x1024xf32>) -> tensor<1x1024xf32>
  %2 = linalg.matmul ins(%g, %h : tensor<8x2048xf32>, tensor<2048x2048xf32>) outs(%i : tensor<8x2048xf32>) -> tensor<8x2048xf32>
  return %0, %1, %2 : tensor<1x1000xf32>, tensor<1x1024xf32>, tensor<8x2048xf32>
}

// -----

// Few rows means fewer than TargetInfo::FewRowsBelow (codegen/product_class.h), 6 on both
// targets: 5 rows are split, 6 are a matrix product (register tiles of 6 rows).
// CHECK-LABEL: func.func @five_rows
// CHECK: linalg.contract
// AVX2-LABEL: func.func @five_rows
// AVX2: linalg.contract
func.func @five_rows(%a: tensor<5x2048xf32>, %b: tensor<2048x2048xf32>, %c: tensor<5x2048xf32>) -> tensor<5x2048xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<5x2048xf32>, tensor<2048x2048xf32>) outs(%c : tensor<5x2048xf32>) -> tensor<5x2048xf32>
  return %r : tensor<5x2048xf32>
}

// -----

// CHECK-LABEL: func.func @six_rows
// CHECK-NOT: linalg.contract
// CHECK: linalg.matmul
// AVX2-LABEL: func.func @six_rows
// AVX2-NOT: linalg.contract
// AVX2: linalg.matmul
func.func @six_rows(%a: tensor<6x2048xf32>, %b: tensor<2048x2048xf32>, %c: tensor<6x2048xf32>) -> tensor<6x2048xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<6x2048xf32>, tensor<2048x2048xf32>) outs(%c : tensor<6x2048xf32>) -> tensor<6x2048xf32>
  return %r : tensor<6x2048xf32>
}
