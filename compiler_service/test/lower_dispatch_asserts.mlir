// RUN: kiln-opt %s --pass-pipeline="builtin.module(func.func(kiln-lower-dispatch-asserts))" | FileCheck %s

// A dispatch's checks become the status it returns: 0 (KILN_DISPATCH_OK) at entry, 1
// (KILN_DISPATCH_INDEX_OUT_OF_RANGE) once a check fails, branch-free inside the loop; no
// cf.assert is left for convert-cf-to-llvm to lower to abort().
// CHECK-LABEL: func.func private @dispatch
// CHECK-SAME: -> i32
// CHECK: %[[STATUS:.*]] = memref.alloca() : memref<i32>
// CHECK: %[[OK:.*]] = arith.constant 0 : i32
// CHECK: memref.store %[[OK]], %[[STATUS]][] : memref<i32>
// CHECK: %[[FAILED:.*]] = arith.constant 1 : i32
// CHECK: scf.for
// CHECK: %[[BEFORE:.*]] = memref.load %[[STATUS]][] : memref<i32>
// CHECK: %[[AFTER:.*]] = arith.select %{{.*}}, %[[BEFORE]], %[[FAILED]] : i32
// CHECK: memref.store %[[AFTER]], %[[STATUS]][] : memref<i32>
// CHECK-NOT: cf.assert
// CHECK: %[[RESULT:.*]] = memref.load %[[STATUS]][] : memref<i32>
// CHECK: return %[[RESULT]] : i32
func.func private @dispatch(%ids: memref<5xindex>, %t: memref<64xf32>, %out: memref<5xf32>, %wg: index) attributes {kiln.dispatch} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c5 step %c1 {
    %k = memref.load %ids[%i] : memref<5xindex>
    %ok = arith.cmpi ult, %k, %c64 : index
    %safe = arith.select %ok, %k, %c0 : index
    cf.assert %ok, "an index computed from the inputs is out of range"
    %v = memref.load %t[%safe] : memref<64xf32>
    memref.store %v, %out[%i] : memref<5xf32>
  }
  return
}

// A dispatch without checks keeps its signature: it cannot fail.
// CHECK-LABEL: func.func private @no_checks
// CHECK-SAME: %arg3: index) attributes
// CHECK-NOT: memref.alloca
// CHECK: return{{$}}
func.func private @no_checks(%a: memref<4xf32>, %b: memref<4xf32>, %c: memref<4xf32>, %wg: index) attributes {kiln.dispatch} {
  memref.copy %a, %c : memref<4xf32> to memref<4xf32>
  return
}
