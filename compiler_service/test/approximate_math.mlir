// RUN: kiln-opt %s --kiln-approximate-math | FileCheck %s

// No libm calls may remain for freestanding executables.
// CHECK-LABEL: func.func @f
// CHECK-NOT: math.tanh
// CHECK-NOT: math.exp
// CHECK-NOT: math.sinh
// CHECK: return
func.func @f(%x: vector<8xf32>) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>) {
  %t = math.tanh %x : vector<8xf32>
  %e = math.exp %x : vector<8xf32>
  %s = math.sinh %x : vector<8xf32>
  return %t, %e, %s : vector<8xf32>, vector<8xf32>, vector<8xf32>
}
