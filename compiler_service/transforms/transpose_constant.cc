#include "compiler_service/transforms/transpose_constant.h"

#include <cstring>
#include <vector>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"

namespace kiln::compiler {
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

}  // namespace

bool FoldConstantTranspose(mlir::RewriterBase& rewriter, mlir::linalg::TransposeOp transpose) {
  mlir::DenseElementsAttr weights;
  if (!mlir::matchPattern(transpose.getInput(), mlir::m_Constant(&weights))) return false;
  mlir::Type element = weights.getElementType();
  if (!element.isIntOrFloat() || element.getIntOrFloatBitWidth() % 8 != 0) return false;
  auto type = llvm::cast<mlir::RankedTensorType>(transpose->getResult(0).getType());
  rewriter.setInsertionPoint(transpose);
  auto folded = mlir::arith::ConstantOp::create(
      rewriter, transpose.getLoc(), TransposeConstant(weights, transpose.getPermutation(), type));
  rewriter.replaceOp(transpose, folded.getResult());
  return true;
}

}  // namespace kiln::compiler
