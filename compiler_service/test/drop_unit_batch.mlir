// RUN: kiln-opt %s --kiln-drop-unit-batch | FileCheck %s

// A batch of 1 (tosa.matmul): a matmul on collapsed views, its fill on the same view, right
// before it. A batch of 2 is left alone.
// CHECK-LABEL: func.func @unit_batch
// CHECK-DAG: %[[A:.*]] = memref.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : memref<1x8x16xf32> into memref<8x16xf32>
// CHECK-DAG: %[[B:.*]] = memref.collapse_shape %arg1 {{\[\[}}0, 1], [2]] : memref<1x16x32xf32> into memref<16x32xf32>
// CHECK-DAG: %[[C:.*]] = memref.collapse_shape %arg2 {{\[\[}}0, 1], [2]] : memref<1x8x32xf32> into memref<8x32xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[C]] : memref<8x32xf32>)
// CHECK-NEXT: linalg.matmul ins(%[[A]], %[[B]] : memref<8x16xf32>, memref<16x32xf32>) outs(%[[C]] : memref<8x32xf32>)
// CHECK: linalg.batch_matmul {{.*}} memref<2x8x16xf32>
func.func @unit_batch(%a: memref<1x8x16xf32>, %b: memref<1x16x32xf32>, %c: memref<1x8x32xf32>,
                      %a2: memref<2x8x16xf32>, %b2: memref<2x16x32xf32>, %c2: memref<2x8x32xf32>) {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%c : memref<1x8x32xf32>)
  linalg.batch_matmul ins(%a, %b : memref<1x8x16xf32>, memref<1x16x32xf32>) outs(%c : memref<1x8x32xf32>)
  linalg.batch_matmul ins(%a2, %b2 : memref<2x8x16xf32>, memref<2x16x32xf32>) outs(%c2 : memref<2x8x32xf32>)
  return
}
