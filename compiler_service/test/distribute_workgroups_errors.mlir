// RUN: kiln-opt %s --split-input-file --kiln-distribute-workgroups --verify-diagnostics

// kiln-distribute-workgroups applies the workgroup level of each op's lowering config as it is
// written; a level it cannot apply is an error naming the op, never a guess.

// Two ops of one dispatch that would run in different numbers of workgroups.
func.func private @disagree__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch} {
  %z = arith.constant 0.0 : f32
  linalg.fill {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [16, 0]>} ins(%z : f32) outs(%c : memref<256x256xf32>)
  // expected-error @+1 {{kiln-distribute-workgroups: this op splits into 8 workgroups, another op of its dispatch into 16}}
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [32, 0, 0]>} ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  return
}
func.func @disagree(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @disagree__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  return
}

// -----

// Workgroups form a one-dimensional grid: one loop split per op, into equal tiles.
func.func private @two_loops__dispatch_0(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>, %wg: index) attributes {kiln.dispatch} {
  // expected-error @+1 {{kiln-distribute-workgroups: workgroup_tiles must split one static loop of every op of the dispatch into equal tiles}}
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [16, 64, 0]>} ins(%a, %b : memref<256x256xf32>, memref<256x256xf32>) outs(%c : memref<256x256xf32>)
  return
}
func.func @two_loops(%a: memref<256x256xf32>, %b: memref<256x256xf32>, %c: memref<256x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @two_loops__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<256x256xf32>, memref<256x256xf32>, memref<256x256xf32>, index) -> ()
  return
}

// -----

func.func private @ragged__dispatch_0(%a: memref<100x256xf32>, %b: memref<256x256xf32>, %c: memref<100x256xf32>, %wg: index) attributes {kiln.dispatch} {
  // expected-error @+1 {{kiln-distribute-workgroups: workgroup_tiles must split one static loop of every op of the dispatch into equal tiles}}
  linalg.matmul {kiln.lowering_config = #kiln.lowering_config<workgroup_tiles = [16, 0, 0]>} ins(%a, %b : memref<100x256xf32>, memref<256x256xf32>) outs(%c : memref<100x256xf32>)
  return
}
func.func @ragged(%a: memref<100x256xf32>, %b: memref<256x256xf32>, %c: memref<100x256xf32>) attributes {kiln.execution_model = "async"} {
  %c0 = arith.constant 0 : index
  call @ragged__dispatch_0(%a, %b, %c, %c0) {kiln.dispatch} : (memref<100x256xf32>, memref<256x256xf32>, memref<100x256xf32>, index) -> ()
  return
}
