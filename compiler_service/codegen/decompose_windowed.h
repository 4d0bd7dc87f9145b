// 2-D sliding-window ops (convolutions, depthwise convolutions, pooling) → their 1-D forms,
// which the vectorizer handles.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_DECOMPOSE_WINDOWED_H_
#define KILN_COMPILER_SERVICE_CODEGEN_DECOMPOSE_WINDOWED_H_

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln::compiler {

// True for the 2-D windowed ops DecomposeWindowed2D rewrites.
bool IsWindowed2D(mlir::Operation* op);

// Rewrites a tile of a 2-D windowed op on buffers whose output-height and window-height
// extents are 1 into the 1-D op over rank-reducing subviews, e.g. conv_2d_nhwc_hwcf →
// conv_1d_nwc_wcf. (Upstream's decomposition patterns only handle tensors; kiln tiles after
// bufferization.) Fails, changing nothing, when the tile does not have those unit extents.
mlir::FailureOr<mlir::linalg::LinalgOp> DecomposeWindowed2D(mlir::RewriterBase& rewriter,
                                                            mlir::linalg::LinalgOp op);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_DECOMPOSE_WINDOWED_H_
