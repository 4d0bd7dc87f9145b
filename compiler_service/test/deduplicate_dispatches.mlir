// RUN: kiln-opt %s --kiln-deduplicate-dispatches | FileCheck %s

// @main__dispatch_0 and @main__dispatch_2 differ only in their names (and locations): both
// calls go to the first. @main__dispatch_1 has another constant, @main__dispatch_3 another
// workgroup count: both stay.
// CHECK: func.func private @main__dispatch_0(
// CHECK: func.func private @main__dispatch_1(
// CHECK: arith.constant 2.000000e+00
// CHECK-NOT: func.func private @main__dispatch_2(
// CHECK: func.func private @main__dispatch_3(
// CHECK-SAME: kiln.workgroup_count = array<i64: 2, 1, 1>
// CHECK-LABEL: func.func @main
// CHECK: call @main__dispatch_0(%arg0, %arg1,
// CHECK: call @main__dispatch_1(%arg1, %arg2,
// CHECK: call @main__dispatch_0(%arg2, %arg3,
// CHECK: call @main__dispatch_3(%arg3, %arg0,
module {
  func.func private @main__dispatch_0(%arg0: memref<8xf32>, %arg1: memref<8xf32>, %arg2: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
    %cst = arith.constant 1.000000e+00 : f32
    linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg0 : memref<8xf32>) outs(%arg1 : memref<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %0 = arith.addf %in, %cst : f32
      linalg.yield %0 : f32
    }
    return
  }
  func.func private @main__dispatch_1(%arg0: memref<8xf32>, %arg1: memref<8xf32>, %arg2: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
    %cst = arith.constant 2.000000e+00 : f32
    linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg0 : memref<8xf32>) outs(%arg1 : memref<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %0 = arith.addf %in, %cst : f32
      linalg.yield %0 : f32
    }
    return
  }
  func.func private @main__dispatch_2(%a: memref<8xf32>, %b: memref<8xf32>, %id: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 1, 1, 1>} {
    %one = arith.constant 1.000000e+00 : f32 loc("elsewhere.mlir":3:4)
    linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%a : memref<8xf32>) outs(%b : memref<8xf32>) {
    ^bb0(%x: f32, %y: f32):
      %s = arith.addf %x, %one : f32
      linalg.yield %s : f32
    }
    return
  }
  func.func private @main__dispatch_3(%arg0: memref<8xf32>, %arg1: memref<8xf32>, %arg2: index) attributes {kiln.dispatch, kiln.workgroup_count = array<i64: 2, 1, 1>} {
    %cst = arith.constant 1.000000e+00 : f32
    linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%arg0 : memref<8xf32>) outs(%arg1 : memref<8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %0 = arith.addf %in, %cst : f32
      linalg.yield %0 : f32
    }
    return
  }
  func.func @main(%arg0: memref<8xf32>, %arg1: memref<8xf32>, %arg2: memref<8xf32>, %arg3: memref<8xf32>) {
    %c0 = arith.constant 0 : index
    call @main__dispatch_0(%arg0, %arg1, %c0) {kiln.dispatch} : (memref<8xf32>, memref<8xf32>, index) -> ()
    call @main__dispatch_1(%arg1, %arg2, %c0) {kiln.dispatch} : (memref<8xf32>, memref<8xf32>, index) -> ()
    call @main__dispatch_2(%arg2, %arg3, %c0) {kiln.dispatch} : (memref<8xf32>, memref<8xf32>, index) -> ()
    call @main__dispatch_3(%arg3, %arg0, %c0) {kiln.dispatch} : (memref<8xf32>, memref<8xf32>, index) -> ()
    return
  }
}
