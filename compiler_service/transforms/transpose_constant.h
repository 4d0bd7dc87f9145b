// Compile-time transposes of weight literals, shared by the passes that change a filter's
// layout (kiln-normalize-convolutions, kiln-generalize-grouped-convolutions).
#ifndef KILN_COMPILER_SERVICE_TRANSFORMS_TRANSPOSE_CONSTANT_H_
#define KILN_COMPILER_SERVICE_TRANSFORMS_TRANSPOSE_CONSTANT_H_

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln::compiler {

// Replaces `transpose` by a constant when its input is a dense literal of whole-byte integers
// or floats (the usual weights); others (dense_resource blobs, i1, complex) keep the op, which
// is still correct. Returns whether it folded.
bool FoldConstantTranspose(mlir::RewriterBase& rewriter, mlir::linalg::TransposeOp transpose);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_TRANSFORMS_TRANSPOSE_CONSTANT_H_
