// Software prefetch for products that stream B row by row.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_PREFETCH_ROWS_H_
#define KILN_COMPILER_SERVICE_CODEGEN_PREFETCH_ROWS_H_

#include <cstdint>

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln::compiler {

// Before `tile` (a contraction tile whose B operand is a memref.subview of a bigger view),
// prefetches into L2 the cache lines of the B rows `rows_ahead` reduction steps further on, at
// the tile's columns: the rows the tile `rows_ahead` steps later will read. A product of a few
// rows reads each row of B once, in short segments a page apart, and the hardware prefetcher
// loses the stream at every page. Rows past the end are clamped to the last one (prefetch
// never faults, but the index must stay in bounds). One prefetch per 64 bytes from the tile's
// first column: where rows are not 64-byte aligned the tile's last line may be left out (a
// hint, not a guarantee). Does nothing for other shapes of tile.
void PrefetchRowsAhead(mlir::RewriterBase& rewriter, mlir::linalg::LinalgOp tile,
                       int64_t rows_ahead);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_PREFETCH_ROWS_H_
