#include "compiler_service/pipeline/pipelines.h"

#include <functional>
#include <mutex>

#include "compiler_service/codegen/target_info.h"
#include "compiler_service/dialect/kiln_dialect.h"
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
  registry.insert<KilnDialect>();  // #kiln.lowering_config in kiln-opt's input and output
  mlir::registerAllToLLVMIRTranslations(registry);
}

void RegisterCompilerPasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    mlir::registerAllPasses();
    registerKilnPasses();
    // The phases: the compiler's own pipelines, by name (pipelines.h).
    auto phase = [](const char* name, const char* summary,
                    const std::function<std::string(const PhaseOptions&)>& text) {
      mlir::PassPipelineRegistration<PhaseOptions>(
          name, summary, [name, text](mlir::OpPassManager& pm, const PhaseOptions& options) {
            std::string errors;
            llvm::raw_string_ostream stream(errors);
            // The texts are kiln's own and covered by every compile: failing here is a bug.
            if (mlir::failed(mlir::parsePassPipeline(text(options), pm, stream)))
              llvm::report_fatal_error(llvm::Twine("kiln: pipeline ") + name +
                                       " does not parse: " + errors);
          });
    };
    phase("kiln-input-pipeline", "kiln's input phase: checks, TOSA to linalg, fusion",
          [](const PhaseOptions&) { return InputPipeline(); });
    phase("kiln-bufferize-pipeline", "kiln's bufferization phase (few-row splits, data tiling)",
          [](const PhaseOptions& o) { return BufferizePipeline(o.Codegen()); });
    phase("kiln-dispatch-pipeline",
          "kiln's dispatch phase: dispatches, execution model, workgroups, memory plan",
          [](const PhaseOptions& o) { return DispatchPipeline(o.executionModel, o.Codegen()); });
    phase("kiln-codegen-pipeline", "kiln's code generation down to the LLVM dialect",
          [](const PhaseOptions& o) { return CodegenPipeline(o.Codegen()); });
    mlir::PassPipelineRegistration<VectorLoweringOptions>(
        "kiln-lower-to-vectors",
        "Selects each op's lowering config, blocks for cache, tiles to registers, vectorizes and "
        "keeps accumulators in registers",
        BuildVectorLoweringPipeline);
  });
}

void BuildVectorLoweringPipeline(mlir::OpPassManager& pm, const VectorLoweringOptions& options) {
  SelectLoweringStrategyOptions select;
  select.vectorBits = options.vectorBits;
  pm.addPass(createSelectLoweringStrategy(select));
  pm.addPass(createBlockForCache());
  // Again, for the blocks: they have other shapes than the ops they came from.
  pm.addPass(createSelectLoweringStrategy(select));
  pm.addPass(createTileToRegisters());
  pm.addPass(createVectorizeTiles());
  pm.addPass(createOptimizeAccumulators());
}

std::string InputPipeline() {
  return "kiln-verify-supported-input,"
         "inline,symbol-dce,"
         "func.func(tosa-to-linalg-named,tosa-to-linalg,tosa-to-arith,tosa-to-tensor),"
         // Every user division is an arith op now (tosa.intdiv included), and fusion and
         // vectorization carry the guard along.
         "kiln-guard-integer-division,"
         // Before canonicalization, which folds the reshapes it adds into TOSA's own.
         "kiln-normalize-convolutions,"
         "canonicalize,cse,"
         // On the folded constants (transposed filters and weights), before fusion could
         // move a weight into a generic op.
         "kiln-pad-constant-rows,"
         "linalg-fuse-elementwise-ops,"
         "kiln-normalize-reductions,"
         "canonicalize,cse,"
         // On the fused producers: the last elementwise op before a pad writes its interior.
         // After the last cse, which would merge the fills of equal padded shapes into one
         // tensor that bufferization must then copy for each.
         "kiln-prepare-destinations,"
         // After folding: an element read of a constant (tosa.pad's pad value) folds away.
         "kiln-verify-no-element-access";
}

std::string BufferizePipeline(const CodegenOptions& options) {
  const TargetInfo target{.vector_bits = options.vector_bits};
  // The products that codegen/strategy.cc streams row by row (fewer rows than a register tile).
  return "kiln-split-vector-matrix-reduction{vector-bits=" + std::to_string(target.vector_bits) +
         "},"
         "kiln-strip-attributes,"
         // buffer-results-to-out-params crashes on an allocation returned twice.
         "kiln-distinct-results,"
         "one-shot-bufferize{bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map},"
         "buffer-results-to-out-params{hoist-static-allocs modify-public-functions},"
         // cse first: a producer writing into the interior of a padded buffer leaves a copy
         // of that view onto an equal view, which folds away once the views are one value.
         "cse,canonicalize,"
         "kiln-drop-unit-batch,"
         // B panels as wide as the matmul register tile. AVX2's 6x16 tile reads a third more
         // of B per flop than AVX-512's 8x32 (a 64-byte line per 12 FMAs), and strided B
         // rows from L2 starve it sooner: packing paid from 512 KB and 128 rows there (512^3
         // 3.03 -> 2.66 ms, 197x768x768 3.00 -> 2.43 ms, 384x383x384 4%; 256^3 no change),
         // where on AVX-512 it gained nothing below 2 MB (issue 6 notes).
         "kiln-pack-matmul-operands{strip=" +
         std::to_string(target.RegisterTileColumns()) +
         (options.vector_bits >= 512 ? "" : " min-bytes=524288 min-rows=128") + "}";
}

std::string DispatchPipeline(const std::string& execution_model, const CodegenOptions& options) {
  return "kiln-form-dispatches,"
         "kiln-choose-execution-model{model=" +
         execution_model +
         "},"
         "kiln-distribute-workgroups{vector-bits=" +
         std::to_string(options.vector_bits) +
         "},"
         "kiln-plan-memory,"
         "kiln-deduplicate-dispatches";
}

std::string CodegenPipeline(const CodegenOptions& options) {
  // Function by function wherever the upstream pass allows it (the module passes are those
  // that add symbols: memref's allocation functions, libm declarations, the func and cf
  // conversions): the dispatches are independent, and the context's threads run them in
  // parallel.
  return "func.func(kiln-lower-to-vectors{vector-bits=" + std::to_string(options.vector_bits) +
         "},"
         "canonicalize,cse,"
         "kiln-approximate-math,"
         "lower-vector-mask,lower-vector-multi-reduction,"
         "convert-vector-to-scf{full-unroll},convert-linalg-to-loops,"
         "lower-affine,"
         "convert-scf-to-cf,"
         "convert-vector-to-llvm{vector-contract-lowering=outerproduct},"
         "convert-math-to-llvm,"
         "expand-strided-metadata,"
         "lower-affine),"  // expand-strided-metadata computes offsets with affine.apply
         + std::string(options.allow_libm ? "convert-math-to-libm," : "") +
         "finalize-memref-to-llvm,"
         "func.func(convert-arith-to-llvm,"
         "convert-index-to-llvm,"
         "convert-ub-to-llvm),"
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
