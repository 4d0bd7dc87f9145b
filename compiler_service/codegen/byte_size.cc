#include "compiler_service/codegen/byte_size.h"

namespace kiln::compiler {

int64_t ElementBytes(mlir::Type element) {
  if (element.isIndex()) return 8;
  if (!element.isIntOrFloat()) return 0;
  return std::max<int64_t>(1, (element.getIntOrFloatBitWidth() + 7) / 8);
}

int64_t StaticBytes(mlir::Type shaped) {
  auto type = llvm::dyn_cast<mlir::ShapedType>(shaped);
  if (!type || !type.hasStaticShape()) return 0;
  return type.getNumElements() * ElementBytes(type.getElementType());
}

}  // namespace kiln::compiler
