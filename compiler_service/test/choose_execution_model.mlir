// RUN: kiln-opt %s --kiln-choose-execution-model --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-choose-execution-model="model=async" --split-input-file | FileCheck %s --check-prefix=FORCED

// CHECK-LABEL: func.func @small
// CHECK-SAME: kiln.execution_model = "inline-dynamic"
// CHECK-SAME: kiln.execution_model_reason = "1K iteration points over 1 dispatch: too little work
// FORCED-LABEL: func.func @small
// FORCED-SAME: kiln.execution_model = "async"
// FORCED-SAME: kiln.execution_model_reason = "requested by the compile options (1K iteration points over 1 dispatch)"
func.func private @small__dispatch_0(%a: memref<32x32xf32>, %wg: index) attributes {kiln.dispatch} {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%a : memref<32x32xf32>)
  return
}
func.func @small(%a: memref<32x32xf32>) {
  %c0 = arith.constant 0 : index
  call @small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<32x32xf32>, index) -> ()
  return
}

// -----

// CHECK-LABEL: func.func @large
// CHECK-SAME: kiln.execution_model = "async"
// CHECK-SAME: kiln.execution_model_reason = "16.7M iteration points over 1 dispatch, up to 65K parallel points per dispatch
func.func private @large__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  return
}
func.func @large(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) {
  %c0 = arith.constant 0 : index
  call @large__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  return
}

// -----

// Little work over 2 MB (a vector times a weight matrix): memory-bound, async for the workers'
// bandwidth.
// CHECK-LABEL: func.func @vecmat
// CHECK-SAME: kiln.execution_model = "async"
// CHECK-SAME: kiln.execution_model_reason = "513K iteration points over 1 dispatch, 2009 KB in one dispatch: memory-bound
func.func private @vecmat__dispatch_0(%a: memref<1x513xf32>, %b: memref<513x1000xf32>, %c: memref<1x1000xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<1x513xf32>, memref<513x1000xf32>) outs(%c : memref<1x1000xf32>)
  return
}
func.func @vecmat(%a: memref<1x513xf32>, %b: memref<513x1000xf32>, %c: memref<1x1000xf32>) {
  %c0 = arith.constant 0 : index
  call @vecmat__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<1x513xf32>, memref<513x1000xf32>, memref<1x1000xf32>, index) -> ()
  return
}

// -----

// 1.8M points in one dispatch (49x576x64): enough for a second thread to pay.
// CHECK-LABEL: func.func @midsize
// CHECK-SAME: kiln.execution_model = "async"
// CHECK-SAME: kiln.execution_model_reason = "1.8M iteration points over 1 dispatch, up to 3K parallel points per dispatch
func.func private @midsize__dispatch_0(%a: memref<49x576xf32>, %b: memref<576x64xf32>, %c: memref<49x64xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<49x576xf32>, memref<576x64xf32>) outs(%c : memref<49x64xf32>)
  return
}
func.func @midsize(%a: memref<49x576xf32>, %b: memref<576x64xf32>, %c: memref<49x64xf32>) {
  %c0 = arith.constant 0 : index
  call @midsize__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<49x576xf32>, memref<576x64xf32>, memref<49x64xf32>, index) -> ()
  return
}

// -----

// As much work spread over 16 dispatches of 65K points each: the per-dispatch queue and fence
// would cost more than a second thread saves.
// CHECK-LABEL: func.func @many_small
// CHECK-SAME: kiln.execution_model = "inline-dynamic"
// CHECK-SAME: kiln.execution_model_reason = "1.0M iteration points over 16 dispatches: dispatches too small to pay for a queue submission and fence each
func.func private @many_small__dispatch_0(%a: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch} {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%a : memref<256x256xf32>)
  return
}
func.func @many_small(%a: memref<256x256xf32>) {
  %c0 = arith.constant 0 : index
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  call @many_small__dispatch_0(%a, %c0) {kiln.dispatch} : (memref<256x256xf32>, index) -> ()
  return
}

// -----

// One big product among small ops: its 16.7M points alone pay for the hand-off.
// CHECK-LABEL: func.func @mixed
// CHECK-SAME: kiln.execution_model = "async"
func.func private @mixed__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch} {
  linalg.matmul ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  return
}
func.func private @mixed__dispatch_1(%a: memref<32x32xf32>, %wg: index) attributes {kiln.dispatch} {
  %z = arith.constant 0.0 : f32
  linalg.fill ins(%z : f32) outs(%a : memref<32x32xf32>)
  return
}
func.func @mixed(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %d: memref<32x32xf32>) {
  %c0 = arith.constant 0 : index
  call @mixed__dispatch_1(%d, %c0) {kiln.dispatch} : (memref<32x32xf32>, index) -> ()
  call @mixed__dispatch_1(%d, %c0) {kiln.dispatch} : (memref<32x32xf32>, index) -> ()
  call @mixed__dispatch_1(%d, %c0) {kiln.dispatch} : (memref<32x32xf32>, index) -> ()
  call @mixed__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  call @mixed__dispatch_1(%d, %c0) {kiln.dispatch} : (memref<32x32xf32>, index) -> ()
  return
}
