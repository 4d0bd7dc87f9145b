// RUN: kiln-opt %s --kiln-strip-attributes | FileCheck %s

// CHECK-LABEL: func.func @named
// CHECK-SAME: (%{{.*}}: tensor<4xf32> {other.keep = 1 : i32}) -> tensor<4xf32>
// CHECK-NOT: kiln.name
func.func @named(%x: tensor<4xf32> {kiln.name = "x", other.keep = 1 : i32})
    -> (tensor<4xf32> {kiln.name = "y"}) {
  return %x : tensor<4xf32>
}
