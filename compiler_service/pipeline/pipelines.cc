#include "compiler_service/pipeline/pipelines.h"

#include <mutex>

#include "compiler_service/codegen/target_info.h"
#include "compiler_service/dialect/kiln_dialect.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/Vector/Transforms/Passes.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Transforms/Passes.h"

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
    mlir::PassPipelineRegistration<PhaseOptions>(
        "kiln-input-pipeline", "kiln's input phase: checks, TOSA to linalg, fusion",
        [](mlir::OpPassManager& pm, const PhaseOptions&) { BuildInputPipeline(pm); });
    mlir::PassPipelineRegistration<PhaseOptions>(
        "kiln-bufferize-pipeline", "kiln's bufferization phase (few-row splits, data tiling)",
        [](mlir::OpPassManager& pm, const PhaseOptions& o) {
          BuildBufferizePipeline(pm, o.Codegen());
        });
    mlir::PassPipelineRegistration<PhaseOptions>(
        "kiln-dispatch-pipeline",
        "kiln's dispatch phase: dispatches, execution model, workgroups, memory plan",
        [](mlir::OpPassManager& pm, const PhaseOptions& o) {
          BuildDispatchPipeline(pm, o.executionModel, o.Codegen());
        });
    mlir::PassPipelineRegistration<PhaseOptions>(
        "kiln-codegen-pipeline", "kiln's code generation down to the LLVM dialect",
        [](mlir::OpPassManager& pm, const PhaseOptions& o) {
          BuildCodegenPipeline(pm, o.Codegen());
        });
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
  pm.addPass(createPackCacheBlocks());
  // Again, for the blocks: they have other shapes than the ops they came from.
  pm.addPass(createSelectLoweringStrategy(select));
  pm.addPass(createTileToRegisters());
  pm.addPass(createDecomposeWindowedTiles());
  pm.addPass(createPrefetchRows());
  pm.addPass(createVectorizeTiles());
  pm.addPass(createOptimizeAccumulators());
}

void BuildInputPipeline(mlir::OpPassManager& pm) {
  pm.addPass(createVerifySupportedInput());
  pm.addPass(mlir::createInlinerPass());
  pm.addPass(mlir::createSymbolDCEPass());
  mlir::OpPassManager& func = pm.nest<mlir::func::FuncOp>();
  func.addPass(mlir::tosa::createTosaToLinalgNamed());
  func.addPass(mlir::tosa::createTosaToLinalg());
  func.addPass(mlir::createTosaToArithPass());
  func.addPass(mlir::createTosaToTensorPass());
  // Every user division is an arith op now (tosa.intdiv included), and fusion and
  // vectorization carry the guard along.
  pm.addPass(createGuardIntegerDivision());
  // Reads at indices computed from data (gathers) checked, before fusion spreads them.
  pm.addPass(createGuardElementReads());
  // Before canonicalization, which folds the reshapes it adds into TOSA's own.
  pm.addPass(createNormalizeConvolutions());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  // On the folded constants (transposed filters and weights), before fusion could move a
  // weight into a generic op.
  pm.addPass(createPadConstantRows());
  pm.addPass(mlir::createLinalgElementwiseOpFusionPass());
  pm.addPass(createNormalizeReductions());
  // After fusion and kiln-normalize-reductions, which would fold producers into its generic
  // and drop its unit dims: the form codegen recognizes has all eight loops.
  pm.addPass(createGeneralizeGroupedConvolutions());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  // On the fused producers: the last elementwise op before a pad writes its interior. After
  // the last cse, which would merge the fills of equal padded shapes into one tensor that
  // bufferization must then copy for each.
  pm.addPass(createPrepareDestinations());
  // After folding: an element read of a constant (tosa.pad's pad value) folds away.
  pm.addPass(createVerifyNoElementAccess());
}

void BuildBufferizePipeline(mlir::OpPassManager& pm, const CodegenOptions& options) {
  const TargetInfo target{.vector_bits = options.vector_bits};
  // The products that codegen/strategy.cc streams row by row (fewer rows than a register tile).
  SplitVectorMatrixReductionOptions split;
  split.vectorBits = target.vector_bits;
  pm.addPass(createSplitVectorMatrixReduction(split));
  pm.addPass(createStripKilnAttributes());
  // buffer-results-to-out-params crashes on an allocation returned twice.
  pm.addPass(createDistinctResults());
  mlir::bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      mlir::bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(mlir::bufferization::createOneShotBufferizePass(bufferize));
  mlir::bufferization::BufferResultsToOutParamsPassOptions out_params;
  out_params.hoistStaticAllocs = true;
  out_params.modifyPublicFunctions = true;
  pm.addPass(mlir::bufferization::createBufferResultsToOutParamsPass(out_params));
  // cse first: a producer writing into the interior of a padded buffer leaves a copy of that
  // view onto an equal view, which folds away once the views are one value.
  pm.addPass(mlir::createCSEPass());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(createDropUnitBatch());
  // B panels as wide as the matmul register tile, from the target's sizes (target_info.h).
  PackMatmulOperandsOptions pack;
  pack.vectorBits = target.vector_bits;
  pm.addPass(createPackMatmulOperands(pack));
}

void BuildDispatchPipeline(mlir::OpPassManager& pm, const std::string& execution_model,
                           const CodegenOptions& options) {
  pm.addPass(createFormDispatches());
  ChooseExecutionModelOptions model;
  model.model = execution_model;
  pm.addPass(createChooseExecutionModel(model));
  // The workgroup level of each dispatch's lowering config, which distribution applies.
  SelectLoweringStrategyOptions select;
  select.vectorBits = options.vector_bits;
  select.level = "workgroup";
  pm.addNestedPass<mlir::func::FuncOp>(createSelectLoweringStrategy(select));
  pm.addPass(createDistributeWorkgroups());
  pm.addPass(createPlanMemory());
  pm.addPass(createDeduplicateDispatches());
}

void BuildCodegenPipeline(mlir::OpPassManager& pm, const CodegenOptions& options) {
  // Function by function wherever the upstream pass allows it (the module passes are those
  // that add symbols: memref's allocation functions, libm declarations, the func and cf
  // conversions): the dispatches are independent, and the context's threads run them in
  // parallel.
  mlir::OpPassManager& func = pm.nest<mlir::func::FuncOp>();
  VectorLoweringOptions vectors;
  vectors.vectorBits = options.vector_bits;
  BuildVectorLoweringPipeline(func, vectors);
  func.addPass(mlir::createCanonicalizerPass());
  func.addPass(mlir::createCSEPass());
  func.addPass(createApproximateMath());
  func.addPass(mlir::vector::createLowerVectorMaskPass());
  func.addPass(mlir::vector::createLowerVectorMultiReductionPass());
  func.addPass(
      mlir::createConvertVectorToSCFPass(mlir::VectorTransferToSCFOptions().enableFullUnroll()));
  func.addPass(mlir::createConvertLinalgToLoopsPass());
  // Before cf.assert could reach convert-cf-to-llvm, whose lowering aborts the process.
  func.addPass(createLowerDispatchAsserts());
  func.addPass(mlir::createLowerAffinePass());
  func.addPass(mlir::createSCFToControlFlowPass());
  mlir::ConvertVectorToLLVMPassOptions vector_to_llvm;
  vector_to_llvm.vectorContractLowering = mlir::vector::VectorContractLowering::OuterProduct;
  func.addPass(mlir::createConvertVectorToLLVMPass(vector_to_llvm));
  func.addPass(mlir::createConvertMathToLLVMPass());
  func.addPass(mlir::memref::createExpandStridedMetadataPass());
  func.addPass(mlir::createLowerAffinePass());  // expand-strided-metadata's affine.apply
  if (options.allow_libm) pm.addPass(mlir::createConvertMathToLibmPass());
  pm.addPass(mlir::createFinalizeMemRefToLLVMConversionPass());
  mlir::OpPassManager& func_to_llvm = pm.nest<mlir::func::FuncOp>();
  func_to_llvm.addPass(mlir::createArithToLLVMConversionPass());
  func_to_llvm.addPass(mlir::createConvertIndexToLLVMPass());
  func_to_llvm.addPass(mlir::createUBToLLVMConversionPass());
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  mlir::ConvertFuncToLLVMPassOptions func_to_llvm_options;
  func_to_llvm_options.useBarePtrCallConv = true;
  pm.addPass(mlir::createConvertFuncToLLVMPass(func_to_llvm_options));
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
}

}  // namespace kiln::compiler
