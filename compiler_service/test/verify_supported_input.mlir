// RUN: kiln-opt %s --kiln-verify-supported-input --split-input-file --verify-diagnostics | FileCheck %s

// A supported program passes through unchanged.
// CHECK-LABEL: func.func @ok
func.func @ok(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = math.tanh %x : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @dynamic(%x: tensor<?x3xf32>) -> tensor<?x3xf32> { // expected-error {{function 'dynamic' argument #0 of type tensor<?x3xf32>: a dynamic leading (batch) dim needs a batch size to compile for (config.json "max_batch_size" in a model repository, kiln compile --batch-size)}}
  return %x : tensor<?x3xf32>
}

// -----

func.func @other_dialect(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{unsupported op 'scf.execute_region': kiln compiles func, linalg, tensor, arith, math and tosa ops}}
  %0 = scf.execute_region -> tensor<4xf32> {
    scf.yield %x : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @dynamic_inside(%x: tensor<4xf32>, %n: tensor<i64>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %i = tensor.extract %n[] : tensor<i64>
  %d = arith.index_cast %i : i64 to index
  // expected-error @+1 {{op 'tensor.empty' has result type tensor<?xf32>: dynamic shapes are not supported}}
  %e = tensor.empty(%d) : tensor<?xf32>
  return %x : tensor<4xf32>
}

// -----

func.func @scalar_arg(%x: f32) -> tensor<4xf32> { // expected-error {{function 'scalar_arg' argument #0 of type f32: must be a ranked tensor}}
  %e = tensor.empty() : tensor<4xf32>
  return %e : tensor<4xf32>
}

// -----

func.func @bad_element(%x: tensor<4xi4>) -> tensor<4xi4> { // expected-error {{function 'bad_element' argument #0 of type tensor<4xi4>: element type is not supported (use f32, f64, f16, bf16, i1, i8, i16, i32 or i64)}}
  return %x : tensor<4xi4>
}

// -----

// expected-error @+1 {{module has no public function to export}}
module {
  func.func private @hidden(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

func.func @self(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{recursive call: 'self' -> 'self': kiln inlines every call, so recursion is not supported}}
  %0 = func.call @self(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func private @ping(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = func.call @pong(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func private @pong(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{recursive call: 'ping' -> 'pong' -> 'ping': kiln inlines every call, so recursion is not supported}}
  %0 = func.call @ping(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = func.call @ping(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// A function value naming its own function is recursion too (canonicalization makes the
// indirect call direct).
func.func @indirect(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{recursive call: 'indirect' -> 'indirect': kiln inlines every call, so recursion is not supported}}
  %f = func.constant @indirect : (tensor<4xf32>) -> tensor<4xf32>
  %0 = func.call_indirect %f(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Calls without a cycle (a function called twice, a chain) are fine.
// CHECK-LABEL: func.func @calls_twice
func.func private @leaf(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
func.func private @middle(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = func.call @leaf(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func @calls_twice(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = func.call @leaf(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = func.call @middle(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

func.func @huge_splat(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{constant of type tensor<100000x100000xf32> takes 40000000000 bytes; the limit for one constant is 2147483648 bytes (2 GiB)}}
  %c = arith.constant dense<1.0> : tensor<100000x100000xf32>
  return %x : tensor<4xf32>
}

// -----

func.func @huge_tosa_const(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{constant of type tensor<2305843009213693952x2xf32> takes more than 2^63 bytes; the limit for one constant is 2147483648 bytes (2 GiB)}}
  %c = "tosa.const"() <{values = dense<1.0> : tensor<2305843009213693952x2xf32>}> : () -> tensor<2305843009213693952x2xf32>
  return %x : tensor<4xf32>
}

// -----

// Exactly 2 GiB is allowed.
// CHECK-LABEL: func.func @largest_splat
func.func @largest_splat(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = arith.constant dense<1> : tensor<1024x1024x2048xi8>
  return %x : tensor<4xf32>
}
