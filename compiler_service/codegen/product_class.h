// The class of a contraction, decided one way for every pass that cares: codegen's strategy
// (which register tile and loop order), workgroup distribution (which dimension to split) and
// the split of few-row reductions all ask this function, so they cannot disagree.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_PRODUCT_CLASS_H_
#define KILN_COMPILER_SERVICE_CODEGEN_PRODUCT_CLASS_H_

#include <optional>

#include "compiler_service/codegen/target_info.h"
#include "llvm/ADT/StringRef.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace kiln::compiler {

enum class ProductClass {
  kNone,          // not a contraction (or its loop ranges are not static)
  kMatrix,        // a register tile of rows fills: tiles of rows x 2 vectors, k innermost
  kFewRows,       // fewer rows than TargetInfo::FewRowsBelow (a vector times a matrix): B
                  // streamed row by row, the reduction outside the column loop
  kMatrixVector,  // no column dimension: vectorized along the reduction
};

// Rows are the extent of the innermost M loop: the one the register tile spans (codegen tiles
// outer M loops by 1). A contraction with M dims [4, 2] is few-row (2 < 6 rows).
ProductClass ClassifyProduct(mlir::linalg::LinalgOp op, const TargetInfo& target);

llvm::StringRef ProductClassName(ProductClass product);  // "none", "matrix", ...
std::optional<ProductClass> ParseProductClass(llvm::StringRef name);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_PRODUCT_CLASS_H_
