// Packing of a cache block's B operand (codegen-performance issue: data tiling). A matmul block
// reads B down columns with a row stride of N floats: every reduction step touches a new page
// and, at power-of-two N, the same cache sets. Copying the block once into contiguous
// kc x (strip width) panels makes every register tile read its B panel sequentially from L2.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_PACK_MATMUL_BLOCK_H_
#define KILN_COMPILER_SERVICE_CODEGEN_PACK_MATMUL_BLOCK_H_

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln::compiler {

// Rewrites `block` (a linalg.matmul on static 2-D memrefs whose N is a multiple of `strip`)
// into: pack B into a stack buffer [N/strip][K][strip] (allocated once, at the function's
// entry), then for each `rows`-row group of A and each panel, a rows x K x strip matmul over
// the panel (plus one for the leftover rows). The inner matmuls are what the register-level
// strategy then tiles. Fails, changing nothing, when the block does not qualify.
mlir::LogicalResult PackMatmulBlock(mlir::RewriterBase& rewriter, mlir::linalg::MatmulOp block,
                                    int64_t strip, int64_t rows);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_PACK_MATMUL_BLOCK_H_
