// kiln-drop-unit-batch: see Passes.td.
#include "compiler_service/transforms/passes.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_DROPUNITBATCH
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// Float data (an integer product may carry a `cast` attribute the rewrite would drop), static,
// and a view whose batch dimension collapses into its rows: contiguous, or strided like a
// slice of a padded constant (kiln-pad-constant-rows).
bool CollapsibleStatic(mlir::Value buffer,
                       llvm::ArrayRef<mlir::ReassociationIndices> reassociation) {
  auto type = llvm::dyn_cast<mlir::MemRefType>(buffer.getType());
  return type && type.hasStaticShape() && llvm::isa<mlir::FloatType>(type.getElementType()) &&
         (type.getLayout().isIdentity() ||
          mlir::memref::CollapseShapeOp::isGuaranteedCollapsible(type, reassociation));
}

struct DropUnitBatchPass : public impl::DropUnitBatchBase<DropUnitBatchPass> {
  using DropUnitBatchBase::DropUnitBatchBase;

  void runOnOperation() override {
    llvm::SmallVector<mlir::linalg::BatchMatmulOp> ops;
    getOperation()->walk([&](mlir::linalg::BatchMatmulOp op) { ops.push_back(op); });
    mlir::IRRewriter rewriter(&getContext());
    const llvm::SmallVector<mlir::ReassociationIndices> drop_batch = {{0, 1}, {2}};
    for (mlir::linalg::BatchMatmulOp op : ops) {
      if (!op.hasPureBufferSemantics() ||
          op.getIndexingMapsArray() != op.getDefaultIndexingMaps(op.getContext()))
        continue;
      mlir::Value a = op.getDpsInputOperand(0)->get(), b = op.getDpsInputOperand(1)->get();
      mlir::Value c = op.getDpsInitOperand(0)->get();
      if (!CollapsibleStatic(a, drop_batch) || !CollapsibleStatic(b, drop_batch) ||
          !CollapsibleStatic(c, drop_batch) ||
          llvm::cast<mlir::MemRefType>(c.getType()).getDimSize(0) != 1)
        continue;
      // A fill of C right before the product fills the same view, so that the passes after
      // still see the product's own accumulator filled (packing, fill fusion).
      auto fill = llvm::dyn_cast_or_null<mlir::linalg::FillOp>(op->getPrevNode());
      if (fill && fill.getDpsInitOperand(0)->get() != c) fill = {};
      mlir::Location loc = op.getLoc();
      rewriter.setInsertionPoint(fill ? fill.getOperation() : op.getOperation());
      // Views first: the fill stays right before the product (one dispatch).
      auto a2 = mlir::memref::CollapseShapeOp::create(rewriter, loc, a, drop_batch);
      auto b2 = mlir::memref::CollapseShapeOp::create(rewriter, loc, b, drop_batch);
      auto c2 = mlir::memref::CollapseShapeOp::create(rewriter, loc, c, drop_batch);
      if (fill) fill.getDpsInitOperand(0)->set(c2.getResult());
      rewriter.setInsertionPoint(op);
      mlir::linalg::MatmulOp::create(rewriter, loc, mlir::ValueRange{a2, b2},
                                     mlir::ValueRange{c2.getResult()});
      rewriter.eraseOp(op);
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
