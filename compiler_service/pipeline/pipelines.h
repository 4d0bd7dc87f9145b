// The textual pass pipelines kiln runs, kept in one place so they can be read and tuned.
#ifndef KILN_COMPILER_SERVICE_PIPELINE_PIPELINES_H_
#define KILN_COMPILER_SERVICE_PIPELINE_PIPELINES_H_

#include <string>

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"

namespace kiln::compiler {

// Registers every dialect, interface and translation the compiler and kiln-opt need.
void RegisterCompilerDialects(mlir::DialectRegistry& registry);
// Registers upstream passes (for textual pipelines) and kiln's own. Idempotent.
void RegisterCompilerPasses();

// Input checks: kiln-verify-supported-input.
std::string InputPipeline();
// tensors → buffers → loops → LLVM dialect, with memref arguments passed as bare pointers
// (static shapes) and results turned into out-parameters, i.e. a function
// `void f(ptr in0, ..., ptr out0, ...)` that the ABI wrapper calls from a dispatch.
std::string LoweringPipeline();

// Fills `pm` from a textual pipeline over builtin.module.
mlir::LogicalResult BuildPipeline(const std::string& pipeline, mlir::PassManager& pm);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_PIPELINE_PIPELINES_H_
