// Small questions several passes ask of buffers and linalg ops.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_OP_QUERIES_H_
#define KILN_COMPILER_SERVICE_CODEGEN_OP_QUERIES_H_

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/Value.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace kiln::compiler {

// The buffer a memref value views, through view ops (subview, reshapes, casts); the value
// itself when it is no view.
inline mlir::Value ViewedBuffer(mlir::Value value) {
  while (auto view = value.getDefiningOp<mlir::ViewLikeOpInterface>()) value = view.getViewSource();
  return value;
}

// Every loop of `op` is parallel (an elementwise op, a copy, a broadcast).
inline bool AllParallel(mlir::linalg::LinalgOp op) {
  return op.getNumParallelLoops() == op.getNumLoops();
}

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_OP_QUERIES_H_
