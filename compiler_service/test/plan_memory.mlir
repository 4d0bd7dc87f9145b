// RUN: kiln-opt %s --kiln-plan-memory | FileCheck %s

// %a dies after the second dispatch, so %c (allocated later) reuses its bytes; %b overlaps
// both lifetimes and gets its own range.
// CHECK-LABEL: func.func @f
// CHECK-SAME: kiln.arena_size = 8128 : i64
// CHECK: memref.alloc() {kiln.arena_offset = 0 : i64} : memref<1024xf32>
// CHECK: memref.alloc() {kiln.arena_offset = 4096 : i64} : memref<1000xf32>
// CHECK: memref.alloc() {kiln.arena_offset = 0 : i64} : memref<10xf32>
func.func private @d(%x: memref<1024xf32>, %y: memref<1000xf32>, %wg: index) attributes {kiln.dispatch}
func.func private @e(%x: memref<1000xf32>, %y: memref<10xf32>, %wg: index) attributes {kiln.dispatch}
func.func @f() {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<1024xf32>
  %b = memref.alloc() : memref<1000xf32>
  call @d(%a, %b, %c0) {kiln.dispatch} : (memref<1024xf32>, memref<1000xf32>, index) -> ()
  %c = memref.alloc() : memref<10xf32>
  call @e(%b, %c, %c0) {kiln.dispatch} : (memref<1000xf32>, memref<10xf32>, index) -> ()
  return
}
