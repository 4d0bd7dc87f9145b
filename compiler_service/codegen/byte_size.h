// Bytes of kiln's buffers, computed one way: kiln stores every element in whole bytes (a bool,
// i1, takes one), so a size in bits is rounded up, never truncated (bits / 8 made i1 buffers
// 0 bytes long).
#ifndef KILN_COMPILER_SERVICE_CODEGEN_BYTE_SIZE_H_
#define KILN_COMPILER_SERVICE_CODEGEN_BYTE_SIZE_H_

#include <cstdint>

#include "mlir/IR/BuiltinTypes.h"

namespace kiln::compiler {

// Bytes one element of `element` takes in a kiln buffer: ceil(bits / 8), at least 1; index
// counts as 8 bytes. 0 for types kiln does not store (no bit width).
int64_t ElementBytes(mlir::Type element);

// Bytes of a statically shaped tensor or memref; 0 when the shape is not static or the
// element is not stored.
int64_t StaticBytes(mlir::Type shaped);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_BYTE_SIZE_H_
