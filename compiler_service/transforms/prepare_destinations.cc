// kiln-prepare-destinations: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_PREPAREDESTINATIONS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// Pads of all-parallel producers: the producer writes the padded tensor's interior.
void FusePadsIntoProducers(mlir::ModuleOp module) {
  // Only pads whose source has no other use: the pattern would otherwise compute the
  // producer twice, once for the pad and once for its other users.
  llvm::SmallVector<mlir::Operation*> pads;
  llvm::SmallVector<mlir::Operation*> producers;
  module->walk([&](mlir::tensor::PadOp pad) {
    mlir::Operation* producer = pad.getSource().getDefiningOp();
    if (!pad.getSource().hasOneUse() || !llvm::isa_and_nonnull<mlir::linalg::LinalgOp>(producer))
      return;
    pads.push_back(pad);
    producers.push_back(producer);
  });
  if (pads.empty()) return;
  mlir::RewritePatternSet patterns(module.getContext());
  mlir::linalg::populateFuseTensorPadWithProducerLinalgOpPatterns(patterns);
  mlir::GreedyRewriteConfig config;
  config.setStrictness(mlir::GreedyRewriteStrictness::ExistingOps);
  config.enableFolding(false);
  (void)mlir::applyOpPatternsGreedily(pads, std::move(patterns), config);
  // The producers the pattern cloned into the padded tensors are dead now (the strict driver
  // erases only the ops it was given); bufferization would still compute them.
  for (mlir::Operation* producer : producers) {
    if (!producer->use_empty()) continue;
    llvm::SmallVector<mlir::Value> operands(producer->getOperands());
    producer->erase();
    for (mlir::Value operand : operands)
      if (auto empty = operand.getDefiningOp<mlir::tensor::EmptyOp>(); empty && empty->use_empty())
        empty->erase();
  }
}

// One fill of an empty tensor per destination use.
void SplitSharedFills(mlir::ModuleOp module) {
  llvm::SmallVector<mlir::linalg::FillOp> fills;
  module->walk([&](mlir::linalg::FillOp fill) {
    if (fill.hasPureTensorSemantics() && !fill->getResult(0).hasOneUse() &&
        fill.getDpsInitOperand(0)->get().getDefiningOp<mlir::tensor::EmptyOp>())
      fills.push_back(fill);
  });
  for (mlir::linalg::FillOp fill : fills) {
    auto empty = fill.getDpsInitOperand(0)->get().getDefiningOp<mlir::tensor::EmptyOp>();
    llvm::SmallVector<mlir::OpOperand*> uses;
    // Linalg ops that accumulate into it (a slice taken of it and inserted back, the padded
    // interior, is the in-place pattern itself: left alone).
    for (mlir::OpOperand& use : fill->getResult(0).getUses()) {
      auto user = llvm::dyn_cast<mlir::linalg::LinalgOp>(use.getOwner());
      if (user && user.isDpsInit(&use)) uses.push_back(&use);
    }
    if (uses.size() < 2) continue;
    // Each such use but the last gets its own empty tensor and fill, made right before the
    // user (so that no buffer is live longer than before).
    for (mlir::OpOperand* use : llvm::drop_end(uses)) {
      mlir::OpBuilder b(use->getOwner());
      mlir::Operation* new_empty = b.clone(*empty);
      mlir::IRMapping mapping;
      mapping.map(empty->getResult(0), new_empty->getResult(0));
      mlir::Operation* new_fill = b.clone(*fill, mapping);
      use->set(new_fill->getResult(0));
    }
  }
}

struct PrepareDestinationsPass : public impl::PrepareDestinationsBase<PrepareDestinationsPass> {
  void runOnOperation() override {
    FusePadsIntoProducers(getOperation());
    SplitSharedFills(getOperation());
  }
};

}  // namespace
}  // namespace kiln::compiler
