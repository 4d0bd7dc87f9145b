// RUN: kiln-opt %s --kiln-guard-element-reads --split-input-file | FileCheck %s

// A gather: the row index comes from the data. It is checked against the table's extent, the
// read takes row 0 instead of one out of range, and the check is asserted (lowered to the
// dispatch's status by kiln-lower-dispatch-asserts). The column index is the op's own loop
// over 8 columns of an 8-column table: in range whatever the data, left alone.
// CHECK-LABEL: func.func @gather
// CHECK: %[[K:.*]] = arith.index_cast
// CHECK: %[[J:.*]] = linalg.index 1 : index
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[C64:.*]] = arith.constant 64 : index
// CHECK: %[[GE:.*]] = arith.cmpi sge, %[[K]], %[[C0]] : index
// CHECK: %[[LT:.*]] = arith.cmpi slt, %[[K]], %[[C64]] : index
// CHECK: %[[OK:.*]] = arith.andi %[[GE]], %[[LT]] : i1
// CHECK: %[[SAFE:.*]] = arith.select %[[OK]], %[[K]], %[[C0]] : index
// CHECK: cf.assert %[[OK]], "an index computed from the inputs is out of range"
// CHECK: tensor.extract %arg0[%[[SAFE]], %[[J]]] : tensor<64x8xf32>
func.func @gather(%t: tensor<64x8xf32>, %ids: tensor<5xi32>) -> tensor<5x8xf32> {
  %e = tensor.empty() : tensor<5x8xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%ids : tensor<5xi32>) outs(%e : tensor<5x8xf32>) {
  ^bb0(%id: i32, %o: f32):
    %k = arith.index_cast %id : i32 to index
    %j = linalg.index 1 : index
    %v = tensor.extract %t[%k, %j] : tensor<64x8xf32>
    linalg.yield %v : f32
  } -> tensor<5x8xf32>
  return %r : tensor<5x8xf32>
}

// -----

// Both indices from data, against a table of dynamic extent: each checked (tensor.dim for the
// extent), one assert for the read.
// CHECK-LABEL: func.func @dynamic_table
// CHECK: %[[D0:.*]] = tensor.dim %arg0, %c0
// CHECK: arith.cmpi slt, %{{.*}}, %[[D0]]
// CHECK: %[[D1:.*]] = tensor.dim %arg0, %c1
// CHECK: arith.cmpi slt, %{{.*}}, %[[D1]]
// CHECK-COUNT-1: cf.assert
// CHECK-NOT: cf.assert
func.func @dynamic_table(%t: tensor<?x?xf32>, %ids: tensor<5x2xi32>) -> tensor<5xf32> {
  %e = tensor.empty() : tensor<5xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i, 0)>, affine_map<(i) -> (i, 1)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%ids, %ids : tensor<5x2xi32>, tensor<5x2xi32>) outs(%e : tensor<5xf32>) {
  ^bb0(%a: i32, %b: i32, %o: f32):
    %i = arith.index_cast %a : i32 to index
    %j = arith.index_cast %b : i32 to index
    %v = tensor.extract %t[%i, %j] : tensor<?x?xf32>
    linalg.yield %v : f32
  } -> tensor<5xf32>
  return %r : tensor<5xf32>
}

// -----

// Reads known in range stay unguarded: a constant index inside the extent, and the op's own
// loop index over a range no larger than the extent. A loop of 9 over a table of 8 is not.
// CHECK-LABEL: func.func @known
// CHECK-NOT: cf.assert
// CHECK: tensor.extract %arg0[%c3, %{{.*}}] : tensor<4x8xf32>
// CHECK-LABEL: func.func @loop_past_the_table
// CHECK: cf.assert
func.func @known(%t: tensor<4x8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      outs(%e : tensor<8xf32>) {
  ^bb0(%o: f32):
    %c3 = arith.constant 3 : index
    %i = linalg.index 0 : index
    %v = tensor.extract %t[%c3, %i] : tensor<4x8xf32>
    linalg.yield %v : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}
func.func @loop_past_the_table(%t: tensor<4x8xf32>) -> tensor<9xf32> {
  %e = tensor.empty() : tensor<9xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      outs(%e : tensor<9xf32>) {
  ^bb0(%o: f32):
    %c0 = arith.constant 0 : index
    %i = linalg.index 0 : index
    %v = tensor.extract %t[%c0, %i] : tensor<4x8xf32>
    linalg.yield %v : f32
  } -> tensor<9xf32>
  return %r : tensor<9xf32>
}

// -----

// An empty table has no element to fall back to: the read is replaced by zero and the check
// always fails (whenever the body runs at all).
// CHECK-LABEL: func.func @empty_table
// CHECK: %[[FALSE:.*]] = arith.constant false
// CHECK: cf.assert %[[FALSE]], "an index computed from the inputs is out of range"
// CHECK-NOT: tensor.extract
// CHECK: linalg.yield %{{.*}} : f32
func.func @empty_table(%t: tensor<0x8xf32>, %ids: tensor<5xi32>) -> tensor<5xf32> {
  %e = tensor.empty() : tensor<5xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%ids : tensor<5xi32>) outs(%e : tensor<5xf32>) {
  ^bb0(%id: i32, %o: f32):
    %k = arith.index_cast %id : i32 to index
    %c0 = arith.constant 0 : index
    %v = tensor.extract %t[%k, %c0] : tensor<0x8xf32>
    linalg.yield %v : f32
  } -> tensor<5xf32>
  return %r : tensor<5xf32>
}
