// kiln-normalize-convolutions: see Passes.td.
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_NORMALIZECONVOLUTIONS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// `value` (row-major) with its dimensions permuted: result dim i is source dim perm[i].
// Elements are moved as raw bytes: integer or float types of whole bytes only (see the caller).
mlir::DenseElementsAttr TransposeConstant(mlir::DenseElementsAttr value,
                                          llvm::ArrayRef<int64_t> perm,
                                          mlir::RankedTensorType result_type) {
  if (value.isSplat()) return value.resizeSplat(result_type);
  llvm::ArrayRef<int64_t> shape = value.getType().getShape();
  const size_t bytes = value.getElementType().getIntOrFloatBitWidth() / 8;
  llvm::ArrayRef<char> source = value.getRawData();
  const int64_t rank = static_cast<int64_t>(shape.size());
  llvm::SmallVector<int64_t> source_strides(rank, 1);
  for (int64_t d = rank - 2; d >= 0; --d) source_strides[d] = source_strides[d + 1] * shape[d + 1];
  std::vector<char> result(source.size());
  llvm::SmallVector<int64_t> index(rank, 0);  // over the result's shape
  llvm::ArrayRef<int64_t> result_shape = result_type.getShape();
  for (size_t element = 0; element < source.size() / bytes; ++element) {
    int64_t offset = 0;
    for (int64_t d = 0; d < rank; ++d) offset += index[d] * source_strides[perm[d]];
    std::memcpy(&result[element * bytes], &source[offset * bytes], bytes);
    for (int64_t d = rank - 1; d >= 0; --d) {  // next result index, row-major
      if (++index[d] < result_shape[d]) break;
      index[d] = 0;
    }
  }
  return mlir::DenseElementsAttr::getFromRawBuffer(result_type, result);
}

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
      auto transpose = conv.getDpsInputOperand(1)->get().getDefiningOp<mlir::linalg::TransposeOp>();
      mlir::DenseElementsAttr weights;
      // Dense literals of whole-byte ints and floats; others (dense_resource blobs, i1, complex)
      // keep the transpose op, still correct.
      if (!transpose || !mlir::matchPattern(transpose.getInput(), mlir::m_Constant(&weights)))
        continue;
      mlir::Type element = weights.getElementType();
      if (!element.isIntOrFloat() || element.getIntOrFloatBitWidth() % 8 != 0) continue;
      auto type = llvm::cast<mlir::RankedTensorType>(transpose->getResult(0).getType());
      rewriter.setInsertionPoint(transpose);
      auto folded = mlir::arith::ConstantOp::create(
          rewriter, transpose.getLoc(),
          TransposeConstant(weights, transpose.getPermutation(), type));
      rewriter.replaceOp(transpose, folded.getResult());
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
