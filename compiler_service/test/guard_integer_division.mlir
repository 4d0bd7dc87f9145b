// RUN: kiln-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(tosa-to-linalg),kiln-guard-integer-division)' | FileCheck %s

// A signed division by a runtime divisor: divides by 1 where the divisor is 0 or the division
// is INT_MIN / -1 (so INT_MIN / -1 = INT_MIN), and yields 0 where the divisor is 0.
// CHECK-LABEL: func.func @divsi
// CHECK:       ^bb0(%[[X:.+]]: i32, %[[Y:.+]]: i32, %{{.+}}: i32):
// CHECK:         %[[ZERO:.+]] = arith.constant 0 : i32
// CHECK:         %[[ONE:.+]] = arith.constant 1 : i32
// CHECK:         %[[IS_ZERO:.+]] = arith.cmpi eq, %[[Y]], %[[ZERO]] : i32
// CHECK:         %[[MIN:.+]] = arith.constant -2147483648 : i32
// CHECK:         %[[X_MIN:.+]] = arith.cmpi eq, %[[X]], %[[MIN]] : i32
// CHECK:         %[[M1:.+]] = arith.constant -1 : i32
// CHECK:         %[[Y_M1:.+]] = arith.cmpi eq, %[[Y]], %[[M1]] : i32
// CHECK:         %[[OVERFLOW:.+]] = arith.andi %[[X_MIN]], %[[Y_M1]] : i1
// CHECK:         %[[UNSAFE:.+]] = arith.ori %[[IS_ZERO]], %[[OVERFLOW]] : i1
// CHECK:         %[[SAFE:.+]] = arith.select %[[UNSAFE]], %[[ONE]], %[[Y]] : i32
// CHECK:         %[[Q:.+]] = arith.divsi %[[X]], %[[SAFE]] : i32
// CHECK:         %[[R:.+]] = arith.select %[[IS_ZERO]], %[[ZERO]], %[[Q]] : i32
// CHECK:         linalg.yield %[[R]] : i32
func.func @divsi(%a: tensor<8xi32>, %b: tensor<8xi32>) -> tensor<8xi32> {
  %e = tensor.empty() : tensor<8xi32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%a, %b : tensor<8xi32>, tensor<8xi32>) outs(%e : tensor<8xi32>) {
  ^bb0(%x: i32, %y: i32, %o: i32):
    %q = arith.divsi %x, %y : i32
    linalg.yield %q : i32
  } -> tensor<8xi32>
  return %r : tensor<8xi32>
}

// -----

// Unsigned remainder: only a zero divisor traps; x % 0 = x.
// CHECK-LABEL: func.func @remui
// CHECK:       ^bb0(%[[X:.+]]: i64, %[[Y:.+]]: i64, %{{.+}}: i64):
// CHECK:         %[[IS_ZERO:.+]] = arith.cmpi eq, %[[Y]], %{{.+}} : i64
// CHECK-NOT:     arith.andi
// CHECK:         %[[SAFE:.+]] = arith.select %[[IS_ZERO]], %{{.+}}, %[[Y]] : i64
// CHECK:         %[[REM:.+]] = arith.remui %[[X]], %[[SAFE]] : i64
// CHECK:         %[[R:.+]] = arith.select %[[IS_ZERO]], %[[X]], %[[REM]] : i64
// CHECK:         linalg.yield %[[R]] : i64
func.func @remui(%a: tensor<8xi64>, %b: tensor<8xi64>) -> tensor<8xi64> {
  %e = tensor.empty() : tensor<8xi64>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%a, %b : tensor<8xi64>, tensor<8xi64>) outs(%e : tensor<8xi64>) {
  ^bb0(%x: i64, %y: i64, %o: i64):
    %q = arith.remui %x, %y : i64
    linalg.yield %q : i64
  } -> tensor<8xi64>
  return %r : tensor<8xi64>
}

// -----

// Named ops whose body divides integers are generalized so the body can be guarded; a float
// division is left alone.
// CHECK-LABEL: func.func @named
// CHECK-NOT:   linalg.div ins
// CHECK:       linalg.generic
// CHECK:         arith.select
// CHECK:         arith.divsi %{{.+}}, %{{.+}} : i8
// CHECK:       linalg.generic
// CHECK:         arith.select
// CHECK:         arith.divui %{{.+}}, %{{.+}} : i8
// CHECK:       linalg.div ins(%{{.+}}, %{{.+}} : tensor<8xf32>, tensor<8xf32>)
func.func @named(%a: tensor<8xi8>, %b: tensor<8xi8>, %f: tensor<8xf32>) -> (tensor<8xi8>, tensor<8xi8>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xi8>
  %s = linalg.div ins(%a, %b : tensor<8xi8>, tensor<8xi8>) outs(%e : tensor<8xi8>) -> tensor<8xi8>
  %u = linalg.div_unsigned ins(%a, %b : tensor<8xi8>, tensor<8xi8>) outs(%e : tensor<8xi8>) -> tensor<8xi8>
  %ef = tensor.empty() : tensor<8xf32>
  %d = linalg.div ins(%f, %f : tensor<8xf32>, tensor<8xf32>) outs(%ef : tensor<8xf32>) -> tensor<8xf32>
  return %s, %u, %d : tensor<8xi8>, tensor<8xi8>, tensor<8xf32>
}

// -----

// tosa.intdiv lowers to arith.divsi, which is guarded like any other.
// CHECK-LABEL: func.func @tosa_intdiv
// CHECK:       linalg.generic
// CHECK:         %[[SAFE:.+]] = arith.select %{{.+}}, %{{.+}}, %{{.+}} : i32
// CHECK:         arith.divsi %{{.+}}, %[[SAFE]] : i32
func.func @tosa_intdiv(%a: tensor<8xi32>, %b: tensor<8xi32>) -> tensor<8xi32> {
  %r = tosa.intdiv %a, %b : (tensor<8xi32>, tensor<8xi32>) -> tensor<8xi32>
  return %r : tensor<8xi32>
}

// -----

// Constant divisors known safe stay plain divisions (the compiler's own index arithmetic
// among them); a constant -1 only needs the INT_MIN check, a constant with a zero the full one.
// CHECK-LABEL: func.func @constant_divisors
// CHECK-SAME:    (%[[X:.+]]: i32, %[[I:.+]]: index, %[[T:.+]]: tensor<4xi32>)
// CHECK-DAG:     %[[C7:.+]] = arith.constant 7 : i32
// CHECK-DAG:     %[[C8:.+]] = arith.constant 8 : index
// CHECK-DAG:     %[[SPLAT:.+]] = arith.constant dense<3> : tensor<4xi32>
// CHECK:         arith.divsi %[[X]], %[[C7]] : i32
// CHECK:         arith.remui %[[X]], %[[C7]] : i32
// CHECK:         arith.floordivsi %[[I]], %[[C8]] : index
// CHECK:         arith.divui %[[I]], %[[C8]] : index
// CHECK:         arith.divsi %[[T]], %[[SPLAT]] : tensor<4xi32>
// CHECK:         %[[MIN:.+]] = arith.cmpi eq, %[[X]], %{{.+}} : i32
// CHECK-NOT:     arith.ori
// CHECK:         %[[SAFE:.+]] = arith.select %{{.+}}, %{{.+}}, %{{.+}} : i32
// CHECK:         %[[Q:.+]] = arith.divsi %[[X]], %[[SAFE]] : i32
// CHECK-NOT:     arith.select
// CHECK:         %[[ZERO:.+]] = arith.cmpi eq, %{{.+}}, %{{.+}} : tensor<4xi32>
// CHECK:         arith.divsi %[[T]], %{{.+}} : tensor<4xi32>
// CHECK:         arith.select %[[ZERO]], %{{.+}}, %{{.+}} : tensor<4xi1>, tensor<4xi32>
func.func @constant_divisors(%x: i32, %i: index, %t: tensor<4xi32>) -> (i32, i32, index, index, tensor<4xi32>, i32, tensor<4xi32>) {
  %c7 = arith.constant 7 : i32
  %c8 = arith.constant 8 : index
  %splat = arith.constant dense<3> : tensor<4xi32>
  %m1 = arith.constant -1 : i32
  %some_zero = arith.constant dense<[1, 0, 2, 3]> : tensor<4xi32>
  %0 = arith.divsi %x, %c7 : i32
  %1 = arith.remui %x, %c7 : i32
  %2 = arith.floordivsi %i, %c8 : index
  %3 = arith.divui %i, %c8 : index
  %4 = arith.divsi %t, %splat : tensor<4xi32>
  %5 = arith.divsi %x, %m1 : i32
  %6 = arith.divsi %t, %some_zero : tensor<4xi32>
  return %0, %1, %2, %3, %4, %5, %6 : i32, i32, index, index, tensor<4xi32>, i32, tensor<4xi32>
}

// -----

// floordivsi, ceildivsi and ceildivui: a guarded truncating division corrected by the
// remainder; 0 for a zero divisor.
// CHECK-LABEL: func.func @rounding
// CHECK-SAME:    (%[[X:.+]]: index, %[[Y:.+]]: index)
// CHECK-NOT:     floordivsi
// CHECK-NOT:     ceildivsi
// CHECK-NOT:     ceildivui
// CHECK:         %[[IS_ZERO:.+]] = arith.cmpi eq, %[[Y]], %[[ZERO:.+]] : index
// CHECK:         %[[SAFE:.+]] = arith.select %{{.+}}, %{{.+}}, %[[Y]] : index
// CHECK:         %[[Q:.+]] = arith.divsi %[[X]], %[[SAFE]] : index
// CHECK:         %[[R:.+]] = arith.remsi %[[X]], %[[SAFE]] : index
// CHECK:         %[[NEG_R:.+]] = arith.cmpi slt, %[[R]], %[[ZERO]] : index
// CHECK:         %[[NEG_D:.+]] = arith.cmpi slt, %[[SAFE]], %[[ZERO]] : index
// CHECK:         %[[DIFFER:.+]] = arith.xori %[[NEG_R]], %[[NEG_D]] : i1
// CHECK:         %[[INEXACT:.+]] = arith.cmpi ne, %[[R]], %[[ZERO]] : index
// CHECK:         %[[STEP:.+]] = arith.andi %[[INEXACT]], %[[DIFFER]] : i1
// CHECK:         %[[DOWN:.+]] = arith.subi %[[Q]], %{{.+}} : index
// CHECK:         %[[FLOOR:.+]] = arith.select %[[STEP]], %[[DOWN]], %[[Q]] : index
// CHECK:         arith.select %[[IS_ZERO]], %[[ZERO]], %[[FLOOR]] : index
// CHECK:         arith.divsi
// CHECK:         arith.remsi
// CHECK:         arith.addi
// CHECK:         arith.divui
// CHECK:         arith.remui
// CHECK:         arith.addi
func.func @rounding(%x: index, %y: index) -> (index, index, index) {
  %0 = arith.floordivsi %x, %y : index
  %1 = arith.ceildivsi %x, %y : index
  %2 = arith.ceildivui %x, %y : index
  return %0, %1, %2 : index, index, index
}
