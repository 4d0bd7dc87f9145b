#include "compiler_service/codegen/product_class.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"

namespace kiln::compiler {

ProductClass ClassifyProduct(mlir::linalg::LinalgOp op, const TargetInfo& target) {
  if (!mlir::linalg::isaContractionOpInterface(op)) return ProductClass::kNone;
  auto dims = mlir::linalg::inferContractionDims(op);
  if (mlir::failed(dims)) return ProductClass::kNone;
  llvm::SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, mlir::ShapedType::isDynamic)) return ProductClass::kNone;
  if (dims->n.empty()) return ProductClass::kMatrixVector;
  if (dims->m.empty() || ranges[dims->m.back()] < target.FewRowsBelow())
    return ProductClass::kFewRows;
  return ProductClass::kMatrix;
}

llvm::StringRef ProductClassName(ProductClass product) {
  switch (product) {
    case ProductClass::kNone:
      return "none";
    case ProductClass::kMatrix:
      return "matrix";
    case ProductClass::kFewRows:
      return "few_rows";
    case ProductClass::kMatrixVector:
      return "matrix_vector";
  }
  return "none";
}

std::optional<ProductClass> ParseProductClass(llvm::StringRef name) {
  for (ProductClass product : {ProductClass::kNone, ProductClass::kMatrix, ProductClass::kFewRows,
                               ProductClass::kMatrixVector})
    if (ProductClassName(product) == name) return product;
  return std::nullopt;
}

}  // namespace kiln::compiler
