// RUN: kiln-opt %s --kiln-approximate-math | FileCheck %s

// Freestanding executables have no libm: every f32 transcendental becomes arith (and the math
// ops LLVM lowers to instructions: floor, sqrt, absf, copysign). Each case pins the shape of
// what replaces the op: range reduction, the polynomial's Horner chain, the clamps and the
// special-value selects. e2e_ops_test (ApproximateMath) checks the numbers.

// exp: clamp x to [-87.8, 88.8] (NaN passes the unordered compares), k = floor(x log2 e + 1/2)
// clamped to [-127, 127], r = x - k ln 2 in two parts (Cody-Waite), a degree-7 polynomial in r,
// times 2^k built in the exponent field.
// CHECK-LABEL: func.func @exp(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[LO:.+]] = arith.constant -8.780000e+01 : f32
// CHECK-DAG: %[[HI:.+]] = arith.constant 8.880000e+01 : f32
// CHECK-DAG: %[[LOG2E:.+]] = arith.constant 1.44269502 : f32
// CHECK-DAG: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[LN2_HI:.+]] = arith.constant -0.693359375 : f32
// CHECK-DAG: %[[LN2_LO:.+]] = arith.constant 2.12194442E-4 : f32
// CHECK-DAG: %[[C127:.+]] = arith.constant 127 : i32
// CHECK-DAG: %[[C23:.+]] = arith.constant 23 : i32
// CHECK: %[[GE:.+]] = arith.cmpf uge, %[[X]], %[[LO]] : f32
// CHECK: %[[X1:.+]] = arith.select %[[GE]], %[[X]], %[[LO]] : f32
// CHECK: %[[LE:.+]] = arith.cmpf ule, %[[X1]], %[[HI]] : f32
// CHECK: %[[XC:.+]] = arith.select %[[LE]], %[[X1]], %[[HI]] : f32
// CHECK: %[[T:.+]] = arith.mulf %[[XC]], %[[LOG2E]] : f32
// CHECK: %[[T1:.+]] = arith.addf %[[T]], %[[HALF]] : f32
// CHECK: %[[K0:.+]] = math.floor %[[T1]] : f32
// CHECK: %[[K1:.+]] = arith.select {{.*}}, %[[K0]], {{.*}} : f32
// CHECK: %[[K:.+]] = arith.select {{.*}}, %[[K1]], {{.*}} : f32
// CHECK: %[[R0:.+]] = arith.mulf %[[K]], %[[LN2_HI]] : f32
// CHECK: %[[R1:.+]] = arith.addf %[[R0]], %[[XC]] : f32
// CHECK: %[[R2:.+]] = arith.mulf %[[K]], %[[LN2_LO]] : f32
// CHECK: %[[R:.+]] = arith.addf %[[R2]], %[[R1]] : f32
// CHECK-COUNT-4: arith.mulf {{.*}}, %[[R]] : f32
// CHECK: %[[R_SQ:.+]] = arith.mulf %[[R]], %[[R]] : f32
// CHECK: %[[PR:.+]] = arith.mulf {{.*}}, %[[R_SQ]] : f32
// CHECK: %[[P1:.+]] = arith.addf %[[PR]], %[[R]] : f32
// CHECK: %[[P:.+]] = arith.addf %[[P1]], {{.*}} : f32
// CHECK: %[[KI:.+]] = arith.fptosi %[[K]] : f32 to i32
// CHECK: %[[BIASED:.+]] = arith.addi %[[KI]], %[[C127]] : i32
// CHECK: %[[BITS:.+]] = arith.shli %[[BIASED]], %[[C23]] : i32
// CHECK: %[[SCALE:.+]] = arith.bitcast %[[BITS]] : i32 to f32
// CHECK: %[[RESULT:.+]] = arith.mulf %[[P]], %[[SCALE]] : f32
// CHECK: return %[[RESULT]] :
func.func @exp(%x: f32) -> f32 {
  %0 = math.exp %x : f32
  return %0 : f32
}

// tanh: upstream's rational polynomial, not the exp-based expansion (which cancels near 0):
// x clamped to ±7.99881172 (NaN passes), x * P(x^2) / Q(x^2), and x itself for |x| < 4e-4.
// On vectors, as the dispatches use it.
// CHECK-LABEL: func.func @tanh(
// CHECK-SAME: %[[X:.*]]: vector<8xf32>
// CHECK-NOT: math.exp
// CHECK-DAG: %[[HI:.+]] = arith.constant dense<7.99881172> : vector<8xf32>
// CHECK-DAG: %[[LO:.+]] = arith.constant dense<-7.99881172> : vector<8xf32>
// CHECK-DAG: %[[TINY:.+]] = arith.constant dense<4.000000e-04> : vector<8xf32>
// CHECK-DAG: %[[P6:.+]] = arith.constant dense<-2.76076837E-16> : vector<8xf32>
// CHECK-DAG: %[[P5:.+]] = arith.constant dense<2.00018794E-13> : vector<8xf32>
// CHECK-DAG: %[[P0:.+]] = arith.constant dense<0.00489352457> : vector<8xf32>
// CHECK-DAG: %[[Q3:.+]] = arith.constant dense<1.19825836E-6> : vector<8xf32>
// CHECK-DAG: %[[Q0:.+]] = arith.constant dense<0.00489352504> : vector<8xf32>
// CHECK: %[[LT:.+]] = arith.cmpf ult, %[[X]], %[[HI]] :
// CHECK: %[[X1:.+]] = arith.select %[[LT]], %[[X]], %[[HI]] :
// CHECK: %[[GT:.+]] = arith.cmpf ugt, %[[X1]], %[[LO]] :
// CHECK: %[[XC:.+]] = arith.select %[[GT]], %[[X1]], %[[LO]] :
// CHECK: %[[ABS:.+]] = math.absf %[[X]] :
// CHECK: %[[SMALL:.+]] = arith.cmpf olt, %[[ABS]], %[[TINY]] :
// CHECK: %[[X2:.+]] = arith.mulf %[[XC]], %[[XC]] :
// CHECK: %[[N0:.+]] = arith.mulf %[[X2]], %[[P6]] :
// CHECK: %[[N1:.+]] = arith.addf %[[N0]], %[[P5]] :
// CHECK-COUNT-5: arith.mulf %[[X2]], %{{.*}}
// CHECK: %[[NP:.+]] = arith.addf %{{.*}}, %[[P0]] :
// CHECK: %[[NUM:.+]] = arith.mulf %[[XC]], %[[NP]] :
// CHECK: %[[D0:.+]] = arith.mulf %[[X2]], %[[Q3]] :
// CHECK: %[[DP:.+]] = arith.addf %{{.*}}, %[[Q0]] :
// CHECK: %[[Q:.+]] = arith.divf %[[NUM]], %[[DP]] :
// CHECK: %[[RESULT:.+]] = arith.select %[[SMALL]], %[[XC]], %[[Q]] :
// CHECK: return %[[RESULT]] :
func.func @tanh(%x: vector<8xf32>) -> vector<8xf32> {
  %0 = math.tanh %x : vector<8xf32>
  return %0 : vector<8xf32>
}

// f16 math runs in f32.
// CHECK-LABEL: func.func @tanh_f16(
// CHECK-SAME: %[[X:.*]]: f16
// CHECK: %[[WIDE:.+]] = arith.extf %[[X]] : f16 to f32
// CHECK: arith.cmpf ult, %[[WIDE]],
// CHECK: %[[Q:.+]] = arith.divf
// CHECK: %[[R:.+]] = arith.select {{.*}}, %[[Q]] : f32
// CHECK: %[[NARROW:.+]] = arith.truncf %[[R]] : f32 to f16
// CHECK: return %[[NARROW]] :
func.func @tanh_f16(%x: f16) -> f16 {
  %0 = math.tanh %x : f16
  return %0 : f16
}

// log: frexp through the bits (mantissa | 0.5, exponent = bits >> 23 - 126), the mantissa
// moved into [sqrt(1/2), sqrt(2)), a polynomial, e ln 2 added; then x < 0 -> NaN, x = 0 -> -inf,
// x = inf -> inf.
// CHECK-LABEL: func.func @log(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[MIN:.+]] = arith.constant 1.17549435E-38 : f32
// CHECK-DAG: %[[MANT_MASK:.+]] = arith.constant -2139095041 : i32
// CHECK-DAG: %[[HALF_BITS:.+]] = arith.constant 1056964608 : i32
// CHECK-DAG: %[[C23:.+]] = arith.constant 23 : i32
// CHECK-DAG: %[[BIAS:.+]] = arith.constant 1.260000e+02 : f32
// CHECK-DAG: %[[SQRT_HALF:.+]] = arith.constant 0.707106769 : f32
// CHECK-DAG: %[[LN2:.+]] = arith.constant 0.693147182 : f32
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[NAN:.+]] = arith.constant 0x7FC00000 : f32
// CHECK-DAG: %[[INF:.+]] = arith.constant 0x7F800000 : f32
// CHECK-DAG: %[[NINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: %[[GT:.+]] = arith.cmpf ugt, %[[X]], %[[MIN]] :
// CHECK: %[[XC:.+]] = arith.select %[[GT]], %[[X]], %[[MIN]] :
// CHECK: %[[BITS:.+]] = arith.bitcast %[[XC]] : f32 to i32
// CHECK: %[[M0:.+]] = arith.andi %[[BITS]], %[[MANT_MASK]] :
// CHECK: %[[M1:.+]] = arith.ori %[[M0]], %[[HALF_BITS]] :
// CHECK: %[[M:.+]] = arith.bitcast %[[M1]] : i32 to f32
// CHECK: %[[EBITS:.+]] = arith.shrui {{.*}}, %[[C23]] :
// CHECK: %[[EF:.+]] = arith.sitofp %[[EBITS]] : i32 to f32
// CHECK: %[[E:.+]] = arith.subf %[[EF]], %[[BIAS]] :
// CHECK: arith.cmpf olt, %[[M]], %[[SQRT_HALF]] :
// CHECK: %[[EXP_LN2:.+]] = arith.mulf %{{.*}}, %[[LN2]] :
// CHECK: %[[LOG:.+]] = arith.addf %[[EXP_LN2]], %{{.*}}
// CHECK: %[[NEG:.+]] = arith.cmpf ult, %[[X]], %[[ZERO]] :
// CHECK: %[[IS_ZERO:.+]] = arith.cmpf oeq, %[[X]], %[[ZERO]] :
// CHECK: %[[IS_INF:.+]] = arith.cmpf oeq, %[[X]], %[[INF]] :
// CHECK: %[[S0:.+]] = arith.select %[[IS_INF]], %[[INF]], %[[LOG]] :
// CHECK: %[[S1:.+]] = arith.select %[[NEG]], %[[NAN]], %[[S0]] :
// CHECK: %[[RESULT:.+]] = arith.select %[[IS_ZERO]], %[[NINF]], %[[S1]] :
// CHECK: return %[[RESULT]] :
func.func @log(%x: f32) -> f32 {
  %0 = math.log %x : f32
  return %0 : f32
}

// log2: the same reduction, the result scaled by log2(e) instead of adding e ln 2.
// CHECK-LABEL: func.func @log2(
// CHECK-DAG: %[[LOG2E:.+]] = arith.constant 1.44269502 : f32
// CHECK: arith.andi {{.*}}, %c-2139095041_i32
// CHECK: %[[SCALED:.+]] = arith.mulf {{.*}}, %[[LOG2E]] :
// CHECK: %[[L:.+]] = arith.addf %[[SCALED]], %{{.*}} : f32
// CHECK: %[[S0:.+]] = arith.select %{{.*}}, %{{.*}}, %[[L]] : f32
// CHECK: %[[S1:.+]] = arith.select %{{.*}}, %{{.*}}, %[[S0]] : f32
// CHECK: %[[RESULT:.+]] = arith.select %{{.*}}, %{{.*}}, %[[S1]] : f32
// CHECK: return %[[RESULT]] :
// CHECK-NOT: math.log
func.func @log2(%x: f32) -> f32 {
  %0 = math.log2 %x : f32
  return %0 : f32
}

// log1p: u = 1 + x; x * log(u) / (u - 1), or x itself where u rounds to 1 (or overflows).
// CHECK-LABEL: func.func @log1p(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[U:.+]] = arith.addf %[[X]], %[[ONE]] :
// CHECK: %[[U_IS_ONE:.+]] = arith.cmpf oeq, %[[U]], %[[ONE]] :
// CHECK: %[[U_SAME:.+]] = arith.cmpf oeq, %[[U]], %[[LOG_U:[0-9]+]] : f32
// CHECK: %[[UM1:.+]] = arith.subf %[[U]], %[[ONE]] :
// CHECK: %[[RATIO:.+]] = arith.divf %[[LOG_U]], %[[UM1]] :
// CHECK: %[[SCALED:.+]] = arith.mulf %[[X]], %[[RATIO]] :
// CHECK: %[[EXACT:.+]] = arith.ori %[[U_IS_ONE]], %[[U_SAME]] :
// CHECK: %[[RESULT:.+]] = arith.select %[[EXACT]], %[[X]], %[[SCALED]] :
// CHECK: return %[[RESULT]] :
func.func @log1p(%x: f32) -> f32 {
  %0 = math.log1p %x : f32
  return %0 : f32
}

// expm1: u = exp(x) (the exp chain), then (u - 1) * x / log(u) with its own log chain; x where
// u rounds to 1, -1 where u - 1 is -1.
// CHECK-LABEL: func.func @expm1(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: math.floor
// CHECK: %[[SCALE:.+]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[U:.+]] = arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK: %[[U_IS_ONE:.+]] = arith.cmpf ueq, %[[U]], %[[ONE]] : f32
// CHECK: %[[UM1:.+]] = arith.subf %[[U]], %[[ONE]] : f32
// CHECK: %[[UM1_IS_M1:.+]] = arith.cmpf oeq, %[[UM1]], %[[M1:.+]] : f32
// CHECK: arith.andi
// CHECK: %[[U_SAME:.+]] = arith.cmpf oeq, %[[LOG_U:[0-9]+]], %[[U]] : f32
// CHECK: %[[Q:.+]] = arith.divf %[[X]], %[[LOG_U]] : f32
// CHECK: %[[R:.+]] = arith.mulf %[[UM1]], %[[Q]] : f32
// CHECK: %[[R0:.+]] = arith.select %[[U_SAME]], %[[U]], %[[R]] : f32
// CHECK: %[[R1:.+]] = arith.select %[[UM1_IS_M1]], %[[M1]], %[[R0]] : f32
// CHECK: %[[RESULT:.+]] = arith.select %[[U_IS_ONE]], %[[X]], %[[R1]] : f32
// CHECK: return %[[RESULT]] :
func.func @expm1(%x: f32) -> f32 {
  %0 = math.expm1 %x : f32
  return %0 : f32
}

// exp2: exp(x ln 2).
// CHECK-LABEL: func.func @exp2(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[LN2:.+]] = arith.constant 0.693147182 : f32
// CHECK: %[[Y:.+]] = arith.mulf %[[X]], %[[LN2]] :
// CHECK: arith.cmpf uge, %[[Y]],
// CHECK: math.floor
// CHECK: arith.shli
// CHECK: %[[RESULT:.+]] = arith.mulf
// CHECK: return %[[RESULT]] :
func.func @exp2(%x: f32) -> f32 {
  %0 = math.exp2 %x : f32
  return %0 : f32
}

// sinh and cosh: (exp(x) -/+ exp(-x)) / 2, two exp chains.
// CHECK-LABEL: func.func @sinh(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK: math.floor
// CHECK: %[[SCALE:.+]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[EXP:.+]] = arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK: %[[NEG_X:.+]] = arith.negf %[[X]] : f32
// CHECK: arith.cmpf uge, %[[NEG_X]],
// CHECK: math.floor
// CHECK: %[[SCALE_NEG:.+]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[EXP_NEG:.+]] = arith.mulf %{{.*}}, %[[SCALE_NEG]] : f32
// CHECK: %[[D:.+]] = arith.subf %[[EXP]], %[[EXP_NEG]] : f32
// CHECK: %[[RESULT:.+]] = arith.mulf %[[D]], %[[HALF]] : f32
// CHECK: return %[[RESULT]] :
func.func @sinh(%x: f32) -> f32 {
  %0 = math.sinh %x : f32
  return %0 : f32
}

// CHECK-LABEL: func.func @cosh(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[SCALE:.+]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[EXP:.+]] = arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK: %[[NEG_X:.+]] = arith.negf %[[X]] : f32
// CHECK: arith.cmpf uge, %[[NEG_X]],
// CHECK: %[[SCALE_NEG:.+]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[EXP_NEG:.+]] = arith.mulf %{{.*}}, %[[SCALE_NEG]] : f32
// CHECK: %[[S:.+]] = arith.addf %[[EXP]], %[[EXP_NEG]] : f32
// CHECK: %[[RESULT:.+]] = arith.mulf %[[S]], %[[HALF]] : f32
// CHECK: return %[[RESULT]] :
func.func @cosh(%x: f32) -> f32 {
  %0 = math.cosh %x : f32
  return %0 : f32
}

// erf: |x| in three ranges (< 0.8, < 2, < 3.75) picking the coefficients of one rational
// polynomial, 1 from 3.75 on, the sign restored.
// CHECK-LABEL: func.func @erf(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[B1:.+]] = arith.constant 8.000000e-01 : f32
// CHECK-DAG: %[[B2:.+]] = arith.constant 2.000000e+00 : f32
// CHECK-DAG: %[[B3:.+]] = arith.constant 3.750000e+00 : f32
// CHECK-DAG: %[[TWO_OVER_SQRT_PI:.+]] = arith.constant 1.12837911 : f32
// CHECK: %[[IS_NEG:.+]] = arith.cmpf olt, %[[X]], %[[ZERO]] :
// CHECK: %[[NEG:.+]] = arith.negf %[[X]] :
// CHECK: %[[A:.+]] = arith.select %[[IS_NEG]], %[[NEG]], %[[X]] :
// CHECK: %[[R1:.+]] = arith.cmpf olt, %[[A]], %[[B1]] :
// CHECK: arith.select %[[R1]], %[[TWO_OVER_SQRT_PI]],
// CHECK: %[[R2:.+]] = arith.cmpf olt, %[[A]], %[[B2]] :
// CHECK: %[[R3:.+]] = arith.cmpf ult, %[[A]], %[[B3]] :
// CHECK: %[[Q:.+]] = arith.divf
// CHECK: %[[V:.+]] = arith.addf %{{.*}}, %[[Q]] :
// CHECK: %[[CLAMPED:.+]] = arith.select %[[R3]], %[[V]], %[[ONE]] :
// CHECK: %[[NEGATED:.+]] = arith.negf %[[CLAMPED]] :
// CHECK: %[[RESULT:.+]] = arith.select %[[IS_NEG]], %[[NEGATED]], %[[CLAMPED]] :
// CHECK: return %[[RESULT]] :
func.func @erf(%x: f32) -> f32 {
  %0 = math.erf %x : f32
  return %0 : f32
}

// erfc: a polynomial in a transform of |x| (from 1 / (|x| + 2)) times exp(-x^2) (an exp
// chain), 2 minus that for negative x.
// CHECK-LABEL: func.func @erfc(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[TWO:.+]] = arith.constant 2.000000e+00 : f32
// CHECK: %[[A:.+]] = math.absf %[[X]] : f32
// CHECK: %[[AP2:.+]] = arith.addf %[[A]], %[[TWO]] : f32
// CHECK: arith.divf %[[ONE]], %[[AP2]] : f32
// CHECK: math.floor
// CHECK: %[[REFLECTED:.+]] = arith.subf %[[TWO]], %[[POS:[0-9]+]] : f32
// CHECK: %[[RESULT:.+]] = arith.select {{.*}}, %[[REFLECTED]], %[[POS]] :
// CHECK: return %[[RESULT]] :
func.func @erfc(%x: f32) -> f32 {
  %0 = math.erfc %x : f32
  return %0 : f32
}

// sin: k = floor(x 2/pi), r = x - k pi/2, the quadrant (k & 3) choosing the sin or the cos
// polynomial in r^2 and the sign.
// CHECK-LABEL: func.func @sin(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[TWO_OVER_PI:.+]] = arith.constant 0.636619746 : f32
// CHECK-DAG: %[[PI_OVER_2:.+]] = arith.constant 1.57079637 : f32
// CHECK-DAG: %[[C3:.+]] = arith.constant 3 : i32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[MINUS_ONE:.+]] = arith.constant -1.000000e+00 : f32
// CHECK-DAG: %[[S1:.+]] = arith.constant -0.166666672 : f32
// CHECK-DAG: %[[C1:.+]] = arith.constant -5.000000e-01 : f32
// CHECK: %[[T:.+]] = arith.mulf %[[X]], %[[TWO_OVER_PI]] :
// CHECK: %[[K:.+]] = math.floor %[[T]] :
// CHECK: %[[KP:.+]] = arith.mulf %[[K]], %[[PI_OVER_2]] :
// CHECK: %[[R:.+]] = arith.subf %[[X]], %[[KP]] :
// CHECK: %[[KI:.+]] = arith.fptosi %[[K]] : f32 to i32
// CHECK: %[[QUADRANT:.+]] = arith.andi %[[KI]], %[[C3]] :
// CHECK: %[[USE_COS:.+]] = arith.ori
// CHECK: %[[NEGATE:.+]] = arith.cmpi sgt, %[[QUADRANT]],
// CHECK: %[[R2:.+]] = arith.mulf %[[R]], %[[R]] :
// CHECK: %[[FACTOR:.+]] = arith.select %[[USE_COS]], %[[ONE]], %[[R]] :
// CHECK: arith.select %[[USE_COS]], %[[C1]], %[[S1]] :
// CHECK: %[[P:.+]] = arith.addf %{{.*}}, %[[ONE]] :
// CHECK: %[[V:.+]] = arith.mulf %[[FACTOR]], %[[P]] :
// CHECK: %[[NEG:.+]] = arith.mulf %[[V]], %[[MINUS_ONE]] :
// CHECK: %[[RESULT:.+]] = arith.select %[[NEGATE]], %[[NEG]], %[[V]] :
// CHECK: return %[[RESULT]] :
func.func @sin(%x: f32) -> f32 {
  %0 = math.sin %x : f32
  return %0 : f32
}

// cos: the same reduction, the quadrant shifted by one.
// CHECK-LABEL: func.func @cos(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[TWO_OVER_PI:.+]] = arith.constant 0.636619746 : f32
// CHECK-DAG: %[[MINUS_ONE:.+]] = arith.constant -1.000000e+00 : f32
// CHECK: %[[T:.+]] = arith.mulf %[[X]], %[[TWO_OVER_PI]] : f32
// CHECK: %[[K:.+]] = math.floor %[[T]] : f32
// CHECK: %[[QUADRANT:.+]] = arith.andi
// CHECK: arith.cmpi eq, %[[QUADRANT]], %c0_i32 :
// CHECK: %[[NEG:.+]] = arith.mulf %[[V:[0-9]+]], %[[MINUS_ONE]] : f32
// CHECK: %[[RESULT:.+]] = arith.select %{{.*}}, %[[NEG]], %[[V]] : f32
// CHECK: return %[[RESULT]] :
func.func @cos(%x: f32) -> f32 {
  %0 = math.cos %x : f32
  return %0 : f32
}

// tan: sin / cos, two reductions.
// CHECK-LABEL: func.func @tan(
// CHECK-DAG: %[[MINUS_ONE:.+]] = arith.constant -1.000000e+00 : f32
// CHECK: math.floor
// CHECK: %[[SIN_NEG:.+]] = arith.mulf %[[SIN_V:[0-9]+]], %[[MINUS_ONE]] : f32
// CHECK: %[[SIN:.+]] = arith.select %{{.*}}, %[[SIN_NEG]], %[[SIN_V]] : f32
// CHECK: math.floor
// CHECK: %[[COS_NEG:.+]] = arith.mulf %[[COS_V:[0-9]+]], %[[MINUS_ONE]] : f32
// CHECK: %[[COS:.+]] = arith.select %{{.*}}, %[[COS_NEG]], %[[COS_V]] : f32
// CHECK: %[[RESULT:.+]] = arith.divf %[[SIN]], %[[COS]] : f32
// CHECK: return %[[RESULT]] :
func.func @tan(%x: f32) -> f32 {
  %0 = math.tan %x : f32
  return %0 : f32
}

// atan: |x| reduced at 0.66 ((|x| - 1) / (|x| + 1), + pi/4) and 2.414 (1 / |x|, pi/2 -), a
// rational polynomial, the sign copied back.
// CHECK-LABEL: func.func @atan(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[PI_2:.+]] = arith.constant 1.57079637 : f32
// CHECK-DAG: %[[PI_4:.+]] = arith.constant 0.785398185 : f32
// CHECK-DAG: %[[TAN_3PI_8:.+]] = arith.constant 2.41421366 : f32
// CHECK-DAG: %[[SPLIT:.+]] = arith.constant 6.600000e-01 : f32
// CHECK: %[[A:.+]] = math.absf %[[X]] :
// CHECK: %[[MID:.+]] = arith.cmpf ogt, %[[A]], %[[SPLIT]] :
// CHECK: %[[BIG:.+]] = arith.cmpf ogt, %[[A]], %[[TAN_3PI_8]] :
// CHECK: %[[Z:.+]] = arith.divf
// CHECK: %[[Z2:.+]] = arith.mulf %[[Z]], %[[Z]] :
// CHECK: %[[RATIONAL:.+]] = arith.divf
// CHECK: %[[ZR:.+]] = arith.mulf %[[RATIONAL]], %[[Z]] :
// CHECK: %[[V:.+]] = arith.addf %[[ZR]], %[[Z]] :
// CHECK: %[[V_MID:.+]] = arith.addf %[[V]], %[[PI_4]] :
// CHECK: %[[S0:.+]] = arith.select %[[MID]], %[[V_MID]], %[[V]] :
// CHECK: %[[V_BIG:.+]] = arith.subf %[[PI_2]], %[[V]] :
// CHECK: %[[S1:.+]] = arith.select %[[BIG]], %[[V_BIG]], %[[S0]] :
// CHECK: %[[RESULT:.+]] = math.copysign %[[S1]], %[[X]] :
// CHECK: return %[[RESULT]] :
func.func @atan(%x: f32) -> f32 {
  %0 = math.atan %x : f32
  return %0 : f32
}

// atan2: atan(y / x), moved by ±pi for x < 0 (by the sign of the atan), then x = 0: pi/2 for
// y > 0, -pi/2 for y < 0, NaN for y = 0.
// CHECK-LABEL: func.func @atan2(
// CHECK-SAME: %[[Y:[^:]*]]: f32, %[[X:.*]]: f32
// CHECK-DAG: %[[NAN:.+]] = arith.constant 0x7FC00000 : f32
// CHECK-DAG: %[[MINUS_PI_2:.+]] = arith.constant -1.57079637 : f32
// CHECK-DAG: %[[PI:.+]] = arith.constant 3.14159274 : f32
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[PI_2:.+]] = arith.constant 1.57079637 : f32
// CHECK: %[[RATIO:.+]] = arith.divf %[[Y]], %[[X]] : f32
// CHECK: math.absf %[[RATIO]] :
// CHECK: %[[ATAN:.+]] = math.copysign %{{.*}}, %[[RATIO]] : f32
// CHECK: %[[PLUS:.+]] = arith.addf %[[ATAN]], %[[PI]] : f32
// CHECK: %[[MINUS:.+]] = arith.subf %[[ATAN]], %[[PI]] : f32
// CHECK: %[[POSITIVE:.+]] = arith.cmpf ogt, %[[ATAN]], %[[ZERO]] : f32
// CHECK: %[[LEFT:.+]] = arith.select %[[POSITIVE]], %[[MINUS]], %[[PLUS]] : f32
// CHECK: %[[X_POS:.+]] = arith.cmpf ogt, %[[X]], %[[ZERO]] : f32
// CHECK: %[[A:.+]] = arith.select %[[X_POS]], %[[ATAN]], %[[LEFT]] : f32
// CHECK: %[[X_ZERO:.+]] = arith.cmpf oeq, %[[X]], %[[ZERO]] : f32
// CHECK: %[[Y_POS:.+]] = arith.cmpf ogt, %[[Y]], %[[ZERO]] : f32
// CHECK: %[[UP:.+]] = arith.andi %[[X_ZERO]], %[[Y_POS]] : i1
// CHECK: %[[B:.+]] = arith.select %[[UP]], %[[PI_2]], %[[A]] : f32
// CHECK: %[[Y_NEG:.+]] = arith.cmpf olt, %[[Y]], %[[ZERO]] : f32
// CHECK: %[[DOWN:.+]] = arith.andi %[[X_ZERO]], %[[Y_NEG]] : i1
// CHECK: %[[C:.+]] = arith.select %[[DOWN]], %[[MINUS_PI_2]], %[[B]] : f32
// CHECK: %[[Y_ZERO:.+]] = arith.cmpf oeq, %[[Y]], %[[ZERO]] : f32
// CHECK: %[[ORIGIN:.+]] = arith.andi %[[X_ZERO]], %[[Y_ZERO]] : i1
// CHECK: %[[RESULT:.+]] = arith.select %[[ORIGIN]], %[[NAN]], %[[C]] : f32
// CHECK: return %[[RESULT]] :
func.func @atan2(%y: f32, %x: f32) -> f32 {
  %0 = math.atan2 %y, %x : f32
  return %0 : f32
}

// asin: z = |x|, or sqrt(1 - x^2) where x^2 > 1/2; z + z^3 P(z^2); pi/2 minus that in the
// second case; the sign copied back.
// CHECK-LABEL: func.func @asin(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[PI_2:.+]] = arith.constant 1.57079637 : f32
// CHECK: %[[A:.+]] = math.absf %[[X]] : f32
// CHECK: %[[X2:.+]] = arith.mulf %[[X]], %[[X]] : f32
// CHECK: %[[D:.+]] = arith.subf %[[ONE]], %[[X2]] : f32
// CHECK: %[[ROOT:.+]] = math.sqrt %[[D]] : f32
// CHECK: %[[FAR:.+]] = arith.cmpf ogt, %[[X2]], %[[HALF]] : f32
// CHECK: %[[Z:.+]] = arith.select %[[FAR]], %[[ROOT]], %[[A]] : f32
// CHECK: %[[Z2:.+]] = arith.mulf %[[Z]], %[[Z]] : f32
// CHECK: %[[Z3:.+]] = arith.mulf %[[Z]], %[[Z2]] : f32
// CHECK: %[[PZ3:.+]] = arith.mulf %{{.*}}, %[[Z3]] : f32
// CHECK: %[[V:.+]] = arith.addf %[[PZ3]], %[[Z]] : f32
// CHECK: %[[W:.+]] = arith.subf %[[PI_2]], %[[V]] : f32
// CHECK: %[[S:.+]] = arith.select %[[FAR]], %[[W]], %[[V]] : f32
// CHECK: %[[RESULT:.+]] = math.copysign %[[S]], %[[X]] : f32
// CHECK: return %[[RESULT]] :
func.func @asin(%x: f32) -> f32 {
  %0 = math.asin %x : f32
  return %0 : f32
}

// acos through asin of t = -|x|: pi/2 + asin(t) for t > -0.5625, else 2 asin(sqrt((1 + t) / 2));
// pi minus that for -1 <= x < 0.
// CHECK-LABEL: func.func @acos(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[PI:.+]] = arith.constant 3.14159274 : f32
// CHECK-DAG: %[[TWO:.+]] = arith.constant 2.000000e+00 : f32
// CHECK-DAG: %[[PI_2:.+]] = arith.constant 1.57079637 : f32
// CHECK-DAG: %[[SPLIT:.+]] = arith.constant -5.625000e-01 : f32
// CHECK-DAG: %[[MINUS_ONE:.+]] = arith.constant -1.000000e+00 : f32
// CHECK-DAG: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[NEG:.+]] = arith.negf %[[X]] : f32
// CHECK: %[[POS:.+]] = arith.cmpf ogt, %[[X]], %[[ZERO]] : f32
// CHECK: %[[T:.+]] = arith.select %[[POS]], %[[NEG]], %[[X]] : f32
// CHECK: %[[NEAR:.+]] = arith.cmpf ogt, %[[T]], %[[SPLIT]] : f32
// CHECK: %[[NEAR_V:.+]] = arith.addf %{{.*}}, %[[PI_2]] : f32
// CHECK: %[[H0:.+]] = arith.mulf %[[T]], %[[HALF]] : f32
// CHECK: %[[H:.+]] = arith.addf %[[H0]], %[[HALF]] : f32
// CHECK: %[[ROOT:.+]] = math.sqrt %[[H]] : f32
// CHECK: %[[ASIN_ROOT:.+]] = math.copysign %{{.*}}, %[[ROOT]] : f32
// CHECK: %[[FAR_V:.+]] = arith.mulf %[[ASIN_ROOT]], %[[TWO]] : f32
// CHECK: %[[V:.+]] = arith.select %[[NEAR]], %[[NEAR_V]], %[[FAR_V]] : f32
// CHECK: %[[GE:.+]] = arith.cmpf oge, %[[X]], %[[MINUS_ONE]] : f32
// CHECK: %[[LT:.+]] = arith.cmpf olt, %[[X]], %[[ZERO]] : f32
// CHECK: %[[NEG_SIDE:.+]] = arith.andi %[[GE]], %[[LT]] : i1
// CHECK: %[[NV:.+]] = arith.negf %[[V]] : f32
// CHECK: %[[REFLECTED:.+]] = arith.addf %[[NV]], %[[PI]] : f32
// CHECK: %[[RESULT:.+]] = arith.select %[[NEG_SIDE]], %[[REFLECTED]], %[[V]] : f32
// CHECK: return %[[RESULT]] :
func.func @acos(%x: f32) -> f32 {
  %0 = math.acos %x : f32
  return %0 : f32
}

// cbrt: an initial guess from the bits of |x| (shifts and the magic 709965728), two Newton
// steps y' = (2y + |x| / y^2) / 3, 0 for 0, the sign copied back; ±inf passes through (kiln's
// guard: the steps alone give NaN).
// CHECK-LABEL: func.func @cbrt(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[MAGIC:.+]] = arith.constant 709965728 : i32
// CHECK-DAG: %[[THIRD:.+]] = arith.constant 0.333333343 : f32
// CHECK-DAG: %[[TWO:.+]] = arith.constant 2.000000e+00 : f32
// CHECK-DAG: %[[INF:.+]] = arith.constant 0x7F800000 : f32
// CHECK: %[[A:.+]] = math.absf %[[X]] :
// CHECK: %[[BITS:.+]] = arith.bitcast %[[A]] : f32 to i32
// CHECK: %[[GUESS_BITS:.+]] = arith.addi %{{.*}}, %[[MAGIC]] :
// CHECK: %[[Y0:.+]] = arith.bitcast %[[GUESS_BITS]] : i32 to f32
// CHECK: %[[Y0_SQ:.+]] = arith.mulf %[[Y0]], %[[Y0]] :
// CHECK: %[[Y0_2:.+]] = arith.mulf %[[Y0]], %[[TWO]] :
// CHECK: %[[Q0:.+]] = arith.divf %[[A]], %[[Y0_SQ]] :
// CHECK: %[[S0:.+]] = arith.addf %[[Y0_2]], %[[Q0]] :
// CHECK: %[[Y1:.+]] = arith.mulf %[[S0]], %[[THIRD]] :
// CHECK: %[[Y1_SQ:.+]] = arith.mulf %[[Y1]], %[[Y1]] :
// CHECK: %[[Y2:.+]] = arith.mulf %{{.*}}, %[[THIRD]] :
// CHECK: %[[SIGNED:.+]] = math.copysign %{{.*}}, %[[X]] :
// CHECK: %[[ABS:.+]] = math.absf %[[X]] :
// CHECK: %[[IS_INF:.+]] = arith.cmpf oeq, %[[ABS]], %[[INF]] :
// CHECK: %[[RESULT:.+]] = arith.select %[[IS_INF]], %[[X]], %[[SIGNED]] :
// CHECK: return %[[RESULT]] :
func.func @cbrt(%x: f32) -> f32 {
  %0 = math.cbrt %x : f32
  return %0 : f32
}

// rsqrt: 1 / sqrt(x) (sqrt is an instruction).
// CHECK-LABEL: func.func @rsqrt(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[ROOT:.+]] = math.sqrt %[[X]] :
// CHECK: %[[RESULT:.+]] = arith.divf %[[ONE]], %[[ROOT]] :
// CHECK: return %[[RESULT]] :
func.func @rsqrt(%x: f32) -> f32 {
  %0 = math.rsqrt %x : f32
  return %0 : f32
}

// Also on 16 lanes: upstream's rsqrt pattern, which takes multiples of 8 lanes, crashed the
// pass once the polynomial patterns outranked the expansions.
// CHECK-LABEL: func.func @rsqrt_16(
// CHECK-SAME: %[[X:.*]]: vector<16xf32>
// CHECK-DAG: %[[ONE:.+]] = arith.constant dense<1.000000e+00> : vector<16xf32>
// CHECK: %[[ROOT:.+]] = math.sqrt %[[X]] : vector<16xf32>
// CHECK: %[[RESULT:.+]] = arith.divf %[[ONE]], %[[ROOT]] : vector<16xf32>
// CHECK: return %[[RESULT]] :
func.func @rsqrt_16(%x: vector<16xf32>) -> vector<16xf32> {
  %0 = math.rsqrt %x : vector<16xf32>
  return %0 : vector<16xf32>
}

// asinh (kiln's form): copysign(log1p(a + a^2 / (1 + sqrt(a^2 + 1))), x) with a = |x|, and
// log(a) + ln 2 above 4096.
// CHECK-LABEL: func.func @asinh(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[LN2:.+]] = arith.constant 0.693147182 : f32
// CHECK-DAG: %[[BIG:.+]] = arith.constant 4.096000e+03 : f32
// CHECK: %[[A:.+]] = math.absf %[[X]] :
// CHECK: %[[A2:.+]] = arith.mulf %[[A]], %[[A]] :
// CHECK: %[[A2P1:.+]] = arith.addf %[[A2]], %[[ONE]] :
// CHECK: %[[ROOT:.+]] = math.sqrt %[[A2P1]] :
// CHECK: %[[DEN:.+]] = arith.addf %[[ROOT]], %[[ONE]] :
// CHECK: %[[RATIO:.+]] = arith.divf %[[A2]], %[[DEN]] :
// CHECK: %[[ARG:.+]] = arith.addf %[[A]], %[[RATIO]] :
// CHECK: arith.addf %[[ARG]], %[[ONE]] :
// CHECK: %[[LARGE:.+]] = arith.addf %{{.*}}, %[[LN2]] :
// CHECK: %[[IS_BIG:.+]] = arith.cmpf ogt, %[[A]], %[[BIG]] :
// CHECK: %[[MAG:.+]] = arith.select %[[IS_BIG]], %[[LARGE]], %[[MIDDLE:[0-9]+]] : f32
// CHECK: %[[RESULT:.+]] = math.copysign %[[MAG]], %[[X]] :
// CHECK: return %[[RESULT]] :
func.func @asinh(%x: f32) -> f32 {
  %0 = math.asinh %x : f32
  return %0 : f32
}

// acosh (kiln's form): log1p(t + sqrt(t (t + 2))) with t = x - 1, log(x) + ln 2 above 4096,
// NaN below 1.
// CHECK-LABEL: func.func @acosh(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[TWO:.+]] = arith.constant 2.000000e+00 : f32
// CHECK-DAG: %[[LN2:.+]] = arith.constant 0.693147182 : f32
// CHECK-DAG: %[[BIG:.+]] = arith.constant 4.096000e+03 : f32
// CHECK-DAG: %[[NAN:.+]] = arith.constant 0x7FC00000 : f32
// CHECK: %[[T:.+]] = arith.subf %[[X]], %[[ONE]] :
// CHECK: %[[TP2:.+]] = arith.addf %[[T]], %[[TWO]] :
// CHECK: %[[PROD:.+]] = arith.mulf %[[T]], %[[TP2]] :
// CHECK: %[[ROOT:.+]] = math.sqrt %[[PROD]] :
// CHECK: %[[ARG:.+]] = arith.addf %[[T]], %[[ROOT]] :
// CHECK: arith.addf %[[ARG]], %[[ONE]] :
// CHECK: %[[LARGE:.+]] = arith.addf %{{.*}}, %[[LN2]] :
// CHECK: %[[IS_BIG:.+]] = arith.cmpf ogt, %[[X]], %[[BIG]] :
// CHECK: %[[V:.+]] = arith.select %[[IS_BIG]], %[[LARGE]], %[[MIDDLE:[0-9]+]] : f32
// CHECK: %[[BELOW:.+]] = arith.cmpf olt, %[[X]], %[[ONE]] :
// CHECK: %[[RESULT:.+]] = arith.select %[[BELOW]], %[[NAN]], %[[V]] :
// CHECK: return %[[RESULT]] :
func.func @acosh(%x: f32) -> f32 {
  %0 = math.acosh %x : f32
  return %0 : f32
}

// atanh: 0.5 log((1 + x) / (1 - x)).
// CHECK-LABEL: func.func @atanh(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-DAG: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[NUM:.+]] = arith.addf %[[X]], %[[ONE]] :
// CHECK: %[[NEG_X:.+]] = arith.negf %[[X]] :
// CHECK: %[[DEN:.+]] = arith.addf %[[NEG_X]], %[[ONE]] :
// CHECK: %[[Q:.+]] = arith.divf %[[NUM]], %[[DEN]] :
// CHECK: arith.cmpf ugt, %[[Q]],
// CHECK: %[[RESULT:.+]] = arith.mulf %[[LOG:[0-9]+]], %[[HALF]] : f32
// CHECK: return %[[RESULT]] :
func.func @atanh(%x: f32) -> f32 {
  %0 = math.atanh %x : f32
  return %0 : f32
}

// powf with a variable exponent (kiln's form): |x|^y = exp(y log|x|), negated for x with the
// sign bit and an odd integer y, NaN for finite negative x and a non-integer y, 1 for y = 0,
// x = 1, and |x| = 1 with y = ±inf.
// CHECK-LABEL: func.func @powf(
// CHECK-SAME: %[[X:[^:]*]]: f32, %[[Y:.*]]: f32
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[HALF:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[INF:.+]] = arith.constant 0x7F800000 : f32
// CHECK-DAG: %[[NAN:.+]] = arith.constant 0x7FC00000 : f32
// CHECK: %[[A:.+]] = math.absf %[[X]] : f32
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: %[[YLOG:.+]] = arith.mulf %[[Y]], %{{.*}} : f32
// CHECK: arith.cmpf uge, %[[YLOG]],
// CHECK: %[[SCALE:.+]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[MAG:.+]] = arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK: %[[FY:.+]] = math.floor %[[Y]] : f32
// CHECK: %[[INT:.+]] = arith.cmpf oeq, %[[FY]], %[[Y]] : f32
// CHECK: %[[HALF_Y:.+]] = arith.mulf %[[Y]], %[[HALF]] : f32
// CHECK: %[[FH:.+]] = math.floor %[[HALF_Y]] : f32
// CHECK: %[[NOT_EVEN:.+]] = arith.cmpf one, %[[FH]], %[[HALF_Y]] : f32
// CHECK: %[[ODD:.+]] = arith.andi %[[INT]], %[[NOT_EVEN]] : i1
// CHECK: %[[SIGN:.+]] = math.copysign %[[ONE]], %[[X]] : f32
// CHECK: %[[SIGN_BIT:.+]] = arith.cmpf olt, %[[SIGN]], %[[ZERO]] : f32
// CHECK: %[[NEG_MAG:.+]] = arith.negf %[[MAG]] : f32
// CHECK: %[[FLIP:.+]] = arith.andi %[[SIGN_BIT]], %[[ODD]] : i1
// CHECK: %[[SIGNED:.+]] = arith.select %[[FLIP]], %[[NEG_MAG]], %[[MAG]] : f32
// CHECK: %[[FINITE:.+]] = arith.cmpf one, %[[A]], %[[INF]] : f32
// CHECK: %[[X_NEG:.+]] = arith.cmpf olt, %[[X]], %[[ZERO]] : f32
// CHECK: %[[NEG_FINITE:.+]] = arith.andi %[[X_NEG]], %[[FINITE]] : i1
// CHECK: %[[FY2:.+]] = math.floor %[[Y]] : f32
// CHECK: %[[NOT_INT:.+]] = arith.cmpf une, %[[FY2]], %[[Y]] : f32
// CHECK: %[[BAD:.+]] = arith.andi %[[NEG_FINITE]], %[[NOT_INT]] : i1
// CHECK: %[[R:.+]] = arith.select %[[BAD]], %[[NAN]], %[[SIGNED]] : f32
// CHECK: %[[ABS_Y:.+]] = math.absf %[[Y]] : f32
// CHECK: %[[Y_INF:.+]] = arith.cmpf oeq, %[[ABS_Y]], %[[INF]] : f32
// CHECK: %[[A_ONE:.+]] = arith.cmpf oeq, %[[A]], %[[ONE]] : f32
// CHECK: %[[UNIT_INF:.+]] = arith.andi %[[A_ONE]], %[[Y_INF]] : i1
// CHECK: %[[X_ONE:.+]] = arith.cmpf oeq, %[[X]], %[[ONE]] : f32
// CHECK: %[[Y_ZERO:.+]] = arith.cmpf oeq, %[[Y]], %[[ZERO]] : f32
// CHECK: %[[OR0:.+]] = arith.ori %[[Y_ZERO]], %[[X_ONE]] : i1
// CHECK: %[[IS_ONE:.+]] = arith.ori %[[OR0]], %[[UNIT_INF]] : i1
// CHECK: %[[RESULT:.+]] = arith.select %[[IS_ONE]], %[[ONE]], %[[R]] : f32
// CHECK: return %[[RESULT]] :
func.func @powf(%x: f32, %y: f32) -> f32 {
  %0 = math.powf %x, %y : f32
  return %0 : f32
}

// powf with a small integer constant exponent: squaring, and a reciprocal for a negative one.
// CHECK-LABEL: func.func @powf_4(
// CHECK-SAME: %[[X:.*]]: vector<4xf32>
// CHECK-NEXT: %[[X2:.+]] = arith.mulf %[[X]], %[[X]] :
// CHECK-NEXT: %[[X4:.+]] = arith.mulf %[[X2]], %[[X2]] :
// CHECK-NEXT: return %[[X4]] :
func.func @powf_4(%x: vector<4xf32>) -> vector<4xf32> {
  %c = arith.constant dense<4.0> : vector<4xf32>
  %0 = math.powf %x, %c : vector<4xf32>
  return %0 : vector<4xf32>
}

// CHECK-LABEL: func.func @powf_minus_3(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[X2:.+]] = arith.mulf %[[X]], %[[X]] :
// CHECK-NEXT: %[[X3:.+]] = arith.mulf %[[X]], %[[X2]] :
// CHECK-NEXT: %[[R:.+]] = arith.divf %[[ONE]], %[[X3]] :
// CHECK-NEXT: return %[[R]] :
func.func @powf_minus_3(%x: f32) -> f32 {
  %c = arith.constant -3.0 : f32
  %0 = math.powf %x, %c : f32
  return %0 : f32
}

// A non-integer constant exponent keeps upstream's form: 0.5 is a square root.
// CHECK-LABEL: func.func @powf_half(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-NEXT: %[[R:.+]] = math.sqrt %[[X]] :
// CHECK-NEXT: return %[[R]] :
func.func @powf_half(%x: f32) -> f32 {
  %c = arith.constant 0.5 : f32
  %0 = math.powf %x, %c : f32
  return %0 : f32
}

// fpowi: powf of the converted exponent, so kiln's form with its sign handling.
// CHECK-LABEL: func.func @fpowi(
// CHECK-SAME: %[[X:[^:]*]]: f32, %[[N:.*]]: i32
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[Y:.+]] = arith.sitofp %[[N]] : i32 to f32
// CHECK: math.absf %[[X]] :
// CHECK: math.floor %[[Y]] :
// CHECK: math.copysign %{{.*}}, %[[X]] :
// CHECK: arith.cmpf oeq, %[[Y]], %[[ZERO]] :
// CHECK: return
func.func @fpowi(%x: f32, %n: i32) -> f32 {
  %0 = math.fpowi %x, %n : f32, i32
  return %0 : f32
}

// A constant integer exponent to fpowi: squaring.
// CHECK-LABEL: func.func @fpowi_2(
// CHECK-SAME: %[[X:.*]]: f32
// CHECK-NEXT: %[[R:.+]] = arith.mulf %[[X]], %[[X]] :
// CHECK-NEXT: return %[[R]] :
func.func @fpowi_2(%x: f32) -> f32 {
  %c = arith.constant 2 : i32
  %0 = math.fpowi %x, %c : f32, i32
  return %0 : f32
}

// f16: computed in f32.
// CHECK-LABEL: func.func @powf_f16(
// CHECK-SAME: %[[X:[^:]*]]: f16, %[[Y:.*]]: f16
// CHECK: %[[WX:.+]] = arith.extf %[[X]] : f16 to f32
// CHECK: %[[WY:.+]] = arith.extf %[[Y]] : f16 to f32
// CHECK: math.absf %[[WX]] : f32
// CHECK: math.floor %[[WY]] : f32
// CHECK: %[[NARROW:.+]] = arith.truncf %{{.*}} : f32 to f16
// CHECK-NEXT: return %[[NARROW]] :
func.func @powf_f16(%x: f16, %y: f16) -> f16 {
  %0 = math.powf %x, %y : f16
  return %0 : f16
}

// Left alone: ops LLVM lowers to instructions, log10 (no approximation: a module that uses it
// is built as a system library, with libm), and f64 math (the approximations are f32).
// CHECK-LABEL: func.func @kept(
// CHECK-SAME: %[[X:[^:]*]]: f32, %[[Y:[^:]*]]: f32, %[[D:.*]]: f64
// CHECK-NEXT: %[[SQRT:.+]] = math.sqrt %[[X]] : f32
// CHECK-NEXT: %[[ABS:.+]] = math.absf %[[X]] : f32
// CHECK-NEXT: %[[FLOOR:.+]] = math.floor %[[X]] : f32
// CHECK-NEXT: %[[SIGN:.+]] = math.copysign %[[X]], %[[Y]] : f32
// CHECK-NEXT: %[[LOG10:.+]] = math.log10 %[[X]] : f32
// CHECK-NEXT: %[[EXP64:.+]] = math.exp %[[D]] : f64
// CHECK-NEXT: return %[[SQRT]], %[[ABS]], %[[FLOOR]], %[[SIGN]], %[[LOG10]], %[[EXP64]] :
func.func @kept(%x: f32, %y: f32, %d: f64) -> (f32, f32, f32, f32, f32, f64) {
  %0 = math.sqrt %x : f32
  %1 = math.absf %x : f32
  %2 = math.floor %x : f32
  %3 = math.copysign %x, %y : f32
  %4 = math.log10 %x : f32
  %5 = math.exp %d : f64
  return %0, %1, %2, %3, %4, %5 : f32, f32, f32, f32, f32, f64
}

// f64 powf gets kiln's form too (its sign handling), with f64 exp and log left to libm.
// CHECK-LABEL: func.func @powf_f64(
// CHECK-SAME: %[[X:[^:]*]]: f64, %[[Y:.*]]: f64
// CHECK: %[[A:.+]] = math.absf %[[X]] : f64
// CHECK: %[[LOG:.+]] = math.log %[[A]] : f64
// CHECK: %[[PRODUCT:.+]] = arith.mulf %[[Y]], %[[LOG]] : f64
// CHECK: %[[MAG:.+]] = math.exp %[[PRODUCT]] : f64
// CHECK: arith.negf %[[MAG]] : f64
// CHECK: arith.cmpf oeq, %[[Y]], %{{.*}} : f64
// CHECK: return %{{.*}} : f64
func.func @powf_f64(%x: f64, %y: f64) -> f64 {
  %0 = math.powf %x, %y : f64
  return %0 : f64
}
