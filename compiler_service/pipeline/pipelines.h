// The pass pipelines kiln runs, kept in one place so they can be read and tuned, built from
// the generated pass constructors with typed options. Phases: input → bufferize → dispatch
// formation/memory planning → (host programs are read out in C++) → codegen of the dispatch
// functions down to the LLVM dialect. Each phase is registered by name (kiln-opt, lit).
#ifndef KILN_COMPILER_SERVICE_PIPELINE_PIPELINES_H_
#define KILN_COMPILER_SERVICE_PIPELINE_PIPELINES_H_

#include <cstdint>
#include <string>

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace kiln::compiler {

// Registers every dialect, interface and translation the compiler and kiln-opt need.
void RegisterCompilerDialects(mlir::DialectRegistry& registry);
// Registers upstream passes, kiln's own and the phases below (for kiln-opt). Idempotent.
void RegisterCompilerPasses();

// Input checks, TOSA → linalg, inlining, canonicalization, constant folding and elementwise
// fusion.
void BuildInputPipeline(mlir::OpPassManager& pm);
struct CodegenOptions {
  int64_t vector_bits = 256;
  // Embedded ELF is freestanding: no libm fallback for math that has no approximation.
  bool allow_libm = true;
};

// Reductions of vector x matrix products split into parts, data tiling of big matmul
// operands, then tensors → buffers; results become caller-provided
// out-parameters (the runtime owns output storage) and function arguments stay read-only.
void BuildBufferizePipeline(mlir::OpPassManager& pm, const CodegenOptions& options);
// Dispatch formation, the execution-model choice ("auto", "async", "inline-dynamic"), the
// workgroup level of each dispatch's lowering config and its distribution (in whole register
// tiles of the target), and transient memory planning.
void BuildDispatchPipeline(mlir::OpPassManager& pm, const std::string& execution_model,
                           const CodegenOptions& options);

// Dispatch functions → tiled, vectorized code in the LLVM dialect with bare-pointer buffer
// arguments: `void f(ptr binding0, ..., i64 workgroup_id_x)`. Starts with
// kiln-lower-to-vectors below.
void BuildCodegenPipeline(mlir::OpPassManager& pm, const CodegenOptions& options);

// kiln-lower-to-vectors, registered (kiln-opt, lit) and part of the codegen phase: each dispatch's
// ops get their #kiln.lowering_config, are cache-blocked, get configs again for the blocks, are
// tiled into register tiles and vectorized by them, and their accumulators are kept in registers.
// On func.func.
struct VectorLoweringOptions : mlir::PassPipelineOptions<VectorLoweringOptions> {
  Option<int64_t> vectorBits{*this, "vector-bits",
                             llvm::cl::desc("the target's vector width (256 AVX2, 512 AVX-512)"),
                             llvm::cl::init(512)};
};
void BuildVectorLoweringPipeline(mlir::OpPassManager& pm, const VectorLoweringOptions& options);

// The phases registered by name with typed options, so that kiln-opt (and lit) runs exactly
// what the compiler runs, phase by phase: kiln-input-pipeline, kiln-bufferize-pipeline,
// kiln-dispatch-pipeline, kiln-codegen-pipeline (on builtin.module), e.g.
//   kiln-opt x.mlir --kiln-input-pipeline --kiln-bufferize-pipeline=vector-bits=256
struct PhaseOptions : mlir::PassPipelineOptions<PhaseOptions> {
  Option<int64_t> vectorBits{*this, "vector-bits",
                             llvm::cl::desc("the target's vector width (256 AVX2, 512 AVX-512)"),
                             llvm::cl::init(512)};
  Option<std::string> executionModel{
      *this, "execution-model",
      llvm::cl::desc("kiln-dispatch-pipeline: auto, async or inline-dynamic"),
      llvm::cl::init("auto")};
  Option<bool> allowLibm{*this, "allow-libm",
                         llvm::cl::desc("kiln-codegen-pipeline: libm for math without an "
                                        "approximation (false for embedded ELF)"),
                         llvm::cl::init(true)};

  CodegenOptions Codegen() const { return {.vector_bits = vectorBits, .allow_libm = allowLibm}; }
};

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_PIPELINE_PIPELINES_H_
