// kiln-approximate-math: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_APPROXIMATEMATH
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct ApproximateMathPass : public impl::ApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    mlir::RewritePatternSet patterns(&getContext());
    auto all = [](llvm::StringRef) { return true; };
    // Compositions (sinh, powf, ...) become exp/log first; f16/bf16 math runs in f32; then
    // every op with a polynomial form gets it.
    mlir::math::populateExpansionPatterns(patterns);
    mlir::populateMathF32ExpansionPatterns(patterns, all);
    mlir::populateMathPolynomialApproximationPatterns(patterns, all);
    if (mlir::failed(mlir::applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

}  // namespace
}  // namespace kiln::compiler
