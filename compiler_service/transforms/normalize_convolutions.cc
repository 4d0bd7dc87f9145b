// kiln-normalize-convolutions: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "compiler_service/transforms/transpose_constant.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_NORMALIZECONVOLUTIONS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// A depthwise convolution with a channel multiplier of 1 (filter [kh][kw][c][1], output
// [n][oh][ow][c][1]) as the plain depthwise form on collapsed views.
void DropUnitMultiplier(mlir::RewriterBase& rewriter, mlir::linalg::DepthwiseConv2DNhwcHwcmOp op) {
  if (!op.hasPureTensorSemantics()) return;
  mlir::Value input = op.getDpsInputOperand(0)->get(), filter = op.getDpsInputOperand(1)->get();
  mlir::Value init = op.getDpsInitOperand(0)->get();
  auto filter_type = llvm::cast<mlir::RankedTensorType>(filter.getType());
  auto init_type = llvm::cast<mlir::RankedTensorType>(init.getType());
  if (filter_type.getDimSize(3) != 1 || init_type.getDimSize(4) != 1) return;
  mlir::Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  auto filter3 = mlir::tensor::CollapseShapeOp::create(
      rewriter, loc, filter, llvm::ArrayRef<mlir::ReassociationIndices>{{0}, {1}, {2, 3}});
  auto init4 = mlir::tensor::CollapseShapeOp::create(
      rewriter, loc, init, llvm::ArrayRef<mlir::ReassociationIndices>{{0}, {1}, {2}, {3, 4}});
  auto depthwise = mlir::linalg::DepthwiseConv2DNhwcHwcOp::create(
      rewriter, loc, mlir::TypeRange{init4.getResultType()}, mlir::ValueRange{input, filter3},
      mlir::ValueRange{init4},
      {rewriter.getNamedAttr("strides", op.getStrides()),
       rewriter.getNamedAttr("dilations", op.getDilations())});
  rewriter.replaceOpWithNewOp<mlir::tensor::ExpandShapeOp>(
      op, init_type, depthwise->getResult(0),
      llvm::ArrayRef<mlir::ReassociationIndices>{{0}, {1}, {2}, {3, 4}});
}

struct NormalizeConvolutionsPass
    : public impl::NormalizeConvolutionsBase<NormalizeConvolutionsPass> {
  using NormalizeConvolutionsBase::NormalizeConvolutionsBase;

  void runOnOperation() override {
    mlir::IRRewriter rewriter(&getContext());
    llvm::SmallVector<mlir::linalg::DepthwiseConv2DNhwcHwcmOp> depthwise;
    getOperation()->walk(
        [&](mlir::linalg::DepthwiseConv2DNhwcHwcmOp op) { depthwise.push_back(op); });
    for (mlir::linalg::DepthwiseConv2DNhwcHwcmOp op : depthwise) DropUnitMultiplier(rewriter, op);
    // The collapsed view of the output is usually of a filled tensor.empty: fill an empty
    // tensor of the collapsed shape instead. Left as fill(collapse(empty)), bufferization
    // gave the 5-D tensor a buffer of its own and copied it into the 4-D one: two extra
    // passes over every depthwise output (mobilenet_v2: 34 dispatches).
    if (!depthwise.empty()) {
      mlir::RewritePatternSet patterns(&getContext());
      mlir::tensor::populateFoldTensorEmptyPatterns(patterns);
      mlir::linalg::FillOp::getCanonicalizationPatterns(patterns, &getContext());
      if (mlir::failed(mlir::applyPatternsGreedily(getOperation(), std::move(patterns))))
        return signalPassFailure();
    }

    llvm::SmallVector<mlir::linalg::Conv2DNhwcFhwcOp> convs;
    getOperation()->walk([&](mlir::linalg::Conv2DNhwcFhwcOp op) { convs.push_back(op); });
    for (mlir::linalg::Conv2DNhwcFhwcOp op : convs) {
      if (!op.hasPureTensorSemantics()) continue;
      rewriter.setInsertionPoint(op);
      auto converted = mlir::linalg::transposeConv2D(rewriter, op);
      if (mlir::failed(converted)) continue;
      // Constant weights (the usual case) are transposed here, once, instead of by a
      // dispatch on every call.
      auto conv = llvm::cast<mlir::linalg::LinalgOp>(*converted);
      if (auto transpose =
              conv.getDpsInputOperand(1)->get().getDefiningOp<mlir::linalg::TransposeOp>())
        FoldConstantTranspose(rewriter, transpose);
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
