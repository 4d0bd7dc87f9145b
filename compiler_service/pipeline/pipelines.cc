#include "compiler_service/pipeline/pipelines.h"

#include <mutex>

#include "compiler_service/transforms/passes.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

namespace kiln::compiler {

void RegisterCompilerDialects(mlir::DialectRegistry& registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
}

void RegisterCompilerPasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    mlir::registerAllPasses();
    registerKilnPasses();
  });
}

std::string InputPipeline() { return "kiln-verify-supported-input"; }

std::string LoweringPipeline() {
  // Naive loops for now: the codegen issue replaces convert-linalg-to-loops with tiling and
  // vectorization. LLVM's own O3 pipeline still vectorizes the innermost loops.
  return "kiln-strip-attributes,"
         "canonicalize,cse,"
         "one-shot-bufferize{bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map},"
         // Results become caller-provided out-parameters: the runtime owns output storage.
         "buffer-results-to-out-params{hoist-static-allocs modify-public-functions},"
         "canonicalize,"
         "buffer-deallocation-pipeline,"
         "convert-bufferization-to-memref,"
         "func.func(convert-linalg-to-loops),"
         "lower-affine,"
         "convert-scf-to-cf,"
         "func.func(math-expand-ops),"
         "convert-math-to-llvm,"
         "convert-math-to-libm,"
         "expand-strided-metadata,"
         "finalize-memref-to-llvm,"
         "convert-arith-to-llvm,"
         "convert-index-to-llvm,"
         "convert-cf-to-llvm,"
         "convert-func-to-llvm{use-bare-ptr-memref-call-conv},"
         "reconcile-unrealized-casts";
}

mlir::LogicalResult BuildPipeline(const std::string& pipeline, mlir::PassManager& pm) {
  std::string errors;
  llvm::raw_string_ostream error_stream(errors);
  // Parse the inner list into the module-anchored pass manager directly: wrapping it in
  // "builtin.module(...)" would nest a second module pass manager that never runs usefully.
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, error_stream))) {
    llvm::errs() << "kiln: internal pipeline failed to parse: " << errors << "\n";
    return mlir::failure();
  }
  return mlir::success();
}

}  // namespace kiln::compiler
