// kiln-pad-constant-rows: see Passes.td.
#include <cstring>
#include <vector>

#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_PADCONSTANTROWS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

constexpr int64_t kCacheLineBytes = 64;

// `value` with each innermost row padded with zeros to `result_type`'s row length.
mlir::DenseElementsAttr PadRows(mlir::DenseElementsAttr value, mlir::RankedTensorType result_type) {
  const size_t bytes = value.getElementType().getIntOrFloatBitWidth() / 8;
  const size_t row = value.getType().getShape().back();
  const size_t padded_row = result_type.getShape().back();
  llvm::ArrayRef<char> source = value.getRawData();
  const size_t rows = value.getNumElements() / row;
  std::vector<char> result(rows * padded_row * bytes, 0);
  for (size_t r = 0; r < rows; ++r)
    std::memcpy(&result[r * padded_row * bytes], &source[r * row * bytes], row * bytes);
  return mlir::DenseElementsAttr::getFromRawBuffer(result_type, result);
}

// The weight operand this pass pads, or null: the filter of an HWCF convolution, B of a
// (batch) matmul. Their innermost dimension is the one a register tile's vectors span.
mlir::OpOperand* WeightOperand(mlir::linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics()) return nullptr;
  if (llvm::isa<mlir::linalg::Conv2DNhwcHwcfOp, mlir::linalg::MatmulOp,
                mlir::linalg::BatchMatmulOp>(op.getOperation()))
    return op.getDpsInputOperand(1);
  return nullptr;
}

struct PadConstantRowsPass : public impl::PadConstantRowsBase<PadConstantRowsPass> {
  using PadConstantRowsBase::PadConstantRowsBase;

  void runOnOperation() override {
    mlir::IRRewriter rewriter(&getContext());
    llvm::SmallVector<mlir::OpOperand*> weights;
    getOperation()->walk([&](mlir::linalg::LinalgOp op) {
      if (mlir::OpOperand* operand = WeightOperand(op)) weights.push_back(operand);
    });
    for (mlir::OpOperand* operand : weights) Pad(rewriter, *operand);
  }

  void Pad(mlir::RewriterBase& rewriter, mlir::OpOperand& operand) {
    mlir::DenseElementsAttr value;
    // Dense literals of whole-byte ints and floats (a splat would stop being one).
    if (!mlir::matchPattern(operand.get(), mlir::m_Constant(&value)) || value.isSplat()) return;
    auto type = llvm::dyn_cast<mlir::RankedTensorType>(value.getType());
    if (!type || type.getRank() == 0 || !type.getElementType().isIntOrFloat() ||
        type.getElementTypeBitWidth() % 8 != 0)
      return;
    const int64_t bytes = type.getElementTypeBitWidth() / 8;
    const int64_t row_bytes = type.getShape().back() * bytes;
    if (type.getNumElements() * bytes < minBytes || row_bytes % (2 * kCacheLineBytes) != 0 ||
        kCacheLineBytes % bytes != 0)
      return;
    llvm::SmallVector<int64_t> padded_shape(type.getShape());
    padded_shape.back() += kCacheLineBytes / bytes;
    auto padded_type = mlir::RankedTensorType::get(padded_shape, type.getElementType());
    mlir::Operation* user = operand.getOwner();
    mlir::Location loc = operand.get().getLoc();
    rewriter.setInsertionPoint(user);
    auto padded = mlir::arith::ConstantOp::create(rewriter, loc, PadRows(value, padded_type));
    llvm::SmallVector<mlir::OpFoldResult> offsets(type.getRank(), rewriter.getIndexAttr(0));
    llvm::SmallVector<mlir::OpFoldResult> strides(type.getRank(), rewriter.getIndexAttr(1));
    llvm::SmallVector<mlir::OpFoldResult> sizes;
    for (int64_t d : type.getShape()) sizes.push_back(rewriter.getIndexAttr(d));
    auto slice =
        mlir::tensor::ExtractSliceOp::create(rewriter, loc, type, padded, offsets, sizes, strides);
    rewriter.modifyOpInPlace(user, [&] { operand.set(slice.getResult()); });
  }
};

}  // namespace
}  // namespace kiln::compiler
