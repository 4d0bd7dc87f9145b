// RUN: kiln-opt %s --kiln-input-pipeline | FileCheck %s --check-prefix=INPUT
// RUN: kiln-opt %s --kiln-input-pipeline --kiln-bufferize-pipeline --kiln-dispatch-pipeline=execution-model=async | FileCheck %s --check-prefix=DISPATCH
// RUN: kiln-opt %s --kiln-input-pipeline --kiln-bufferize-pipeline --kiln-dispatch-pipeline --kiln-codegen-pipeline=vector-bits=512 | FileCheck %s --check-prefix=AVX512
// RUN: kiln-opt %s --kiln-input-pipeline --kiln-bufferize-pipeline=vector-bits=256 --kiln-dispatch-pipeline=vector-bits=256 --kiln-codegen-pipeline=vector-bits=256 | FileCheck %s --check-prefix=AVX2

// The compiler's phases, registered by name (pipeline/pipelines.h): kiln-opt runs exactly the
// pipelines kiln-compile runs, one phase at a time, for the target the options name.

// INPUT-LABEL: func.func @matmul
// INPUT-NOT: tosa.
// INPUT: linalg.batch_matmul

// DISPATCH-LABEL: func.func private @matmul__dispatch_0
// DISPATCH-SAME: kiln.dispatch
// DISPATCH: linalg.fill
// DISPATCH: linalg.matmul {{.*}} memref<8x64xf32>, memref<64x32xf32>
// DISPATCH-LABEL: func.func @matmul
// DISPATCH-SAME: kiln.execution_model = "async"
// DISPATCH: call @matmul__dispatch_0

// Each row of the register tile is one FMA two vectors wide: 32 lanes with AVX-512 (16 f32 per
// vector), 16 with AVX2 (8 per vector); LLVM splits them into native vectors.
// AVX512-LABEL: llvm.func @matmul__dispatch_0
// AVX512: llvm.intr.fmuladd({{.*}}) : (vector<32xf32>, vector<32xf32>, vector<32xf32>) -> vector<32xf32>
// AVX2-LABEL: llvm.func @matmul__dispatch_0
// AVX2-NOT: vector<32xf32>
// AVX2: llvm.intr.fmuladd({{.*}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
func.func @matmul(%a: tensor<1x8x64xf32>, %b: tensor<1x64x32xf32>) -> tensor<1x8x32xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tosa.matmul %a, %b, %zp, %zp : (tensor<1x8x64xf32>, tensor<1x64x32xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x32xf32>
  return %c : tensor<1x8x32xf32>
}
