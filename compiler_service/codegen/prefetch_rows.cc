#include "compiler_service/codegen/prefetch_rows.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace kiln::compiler {

void PrefetchRowsAhead(mlir::RewriterBase& rewriter, mlir::linalg::LinalgOp tile,
                       int64_t rows_ahead) {
  if (tile.getNumDpsInputs() != 2 || tile.getNumReductionLoops() != 1) return;
  mlir::OpOperand* b = tile.getDpsInputOperand(1);
  auto view = b->get().getDefiningOp<mlir::memref::SubViewOp>();
  if (!view) return;
  auto source_type = llvm::cast<mlir::MemRefType>(view.getSource().getType());
  auto tile_type = llvm::cast<mlir::MemRefType>(view.getType());
  const unsigned rank = source_type.getRank();
  // Same rank (no dropped dimensions), static tile, and B's innermost dimension a column dim.
  if (tile_type.getRank() != rank || !tile_type.hasStaticShape() || rank == 0) return;
  // Unit steps: the tile's rows and columns are the source's, offset.
  for (mlir::OpFoldResult stride : view.getMixedStrides())
    if (mlir::getConstantIntValue(stride) != 1) return;
  llvm::SmallVector<unsigned> reductions;
  tile.getReductionDims(reductions);
  mlir::AffineMap map = tile.getMatchingIndexingMap(b);
  std::optional<unsigned> row_dim;
  for (unsigned r = 0; r < map.getNumResults(); ++r)
    if (auto dim = llvm::dyn_cast<mlir::AffineDimExpr>(map.getResult(r));
        dim && dim.getPosition() == reductions.front())
      row_dim = r;
  if (!row_dim || *row_dim + 1 == rank) return;

  mlir::Location loc = tile.getLoc();
  rewriter.setInsertionPoint(tile);
  llvm::SmallVector<mlir::Value> offsets =
      mlir::getValueOrCreateConstantIndexOp(rewriter, loc, view.getMixedOffsets());
  // The last row of the source view: rows past it prefetch it instead.
  mlir::Value last_row = mlir::arith::SubIOp::create(
      rewriter, loc, mlir::memref::DimOp::create(rewriter, loc, view.getSource(), *row_dim),
      mlir::arith::ConstantIndexOp::create(rewriter, loc, 1));
  const int64_t element_bytes = std::max<int64_t>(1, source_type.getElementTypeBitWidth() / 8);
  const int64_t per_line = std::max<int64_t>(1, 64 / element_bytes);
  const int64_t columns = tile_type.getDimSize(rank - 1);
  auto is_write = rewriter.getBoolAttr(false);
  auto locality = rewriter.getI32IntegerAttr(2);  // L2: a few tiles' rows would flood L1
  auto data = rewriter.getBoolAttr(true);
  for (int64_t row = 0; row < tile_type.getDimSize(*row_dim); ++row) {
    llvm::SmallVector<mlir::Value> index(offsets);
    mlir::Value ahead = mlir::arith::AddIOp::create(
        rewriter, loc, offsets[*row_dim],
        mlir::arith::ConstantIndexOp::create(rewriter, loc, rows_ahead + row));
    index[*row_dim] = mlir::arith::MinSIOp::create(rewriter, loc, ahead, last_row);
    for (int64_t column = 0; column < columns; column += per_line) {
      index[rank - 1] =
          mlir::arith::AddIOp::create(rewriter, loc, offsets[rank - 1],
                                      mlir::arith::ConstantIndexOp::create(rewriter, loc, column));
      mlir::memref::PrefetchOp::create(rewriter, loc, view.getSource(), index, is_write, locality,
                                       data);
    }
  }
}

}  // namespace kiln::compiler
