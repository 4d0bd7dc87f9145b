#include "compiler_service/codegen/pack_matmul_block.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace kiln::compiler {

namespace {

// A static-size subview at (possibly dynamic) offsets with unit strides; `result_shape`, when
// given, drops unit dimensions (rank-reducing).
mlir::Value Subview(mlir::OpBuilder& b, mlir::Location loc, mlir::Value source,
                    llvm::ArrayRef<mlir::OpFoldResult> offsets, llvm::ArrayRef<int64_t> sizes,
                    llvm::ArrayRef<int64_t> result_shape = {}) {
  llvm::SmallVector<mlir::OpFoldResult> size_attrs, strides;
  for (int64_t size : sizes) {
    size_attrs.push_back(b.getIndexAttr(size));
    strides.push_back(b.getIndexAttr(1));
  }
  if (result_shape.empty())
    return mlir::memref::SubViewOp::create(b, loc, source, offsets, size_attrs, strides);
  auto type = mlir::memref::SubViewOp::inferRankReducedResultType(
      result_shape, llvm::cast<mlir::MemRefType>(source.getType()), offsets, size_attrs, strides);
  return mlir::memref::SubViewOp::create(b, loc, type, source, offsets, size_attrs, strides);
}

}  // namespace

mlir::LogicalResult PackMatmulBlock(mlir::RewriterBase& rewriter, mlir::linalg::MatmulOp block,
                                    int64_t strip, int64_t rows) {
  if (!block.hasPureBufferSemantics() || block.getNumDpsInputs() != 2) return mlir::failure();
  // Plain (m, k) x (k, n) only: no transposed or broadcast indexing maps.
  if (block.getIndexingMapsArray() != block.getDefaultIndexingMaps(block.getContext()))
    return mlir::failure();
  mlir::Value a = block.getDpsInputOperand(0)->get();
  mlir::Value b = block.getDpsInputOperand(1)->get();
  mlir::Value c = block.getDpsInitOperand(0)->get();
  auto a_type = llvm::dyn_cast<mlir::MemRefType>(a.getType());
  auto b_type = llvm::dyn_cast<mlir::MemRefType>(b.getType());
  auto c_type = llvm::dyn_cast<mlir::MemRefType>(c.getType());
  if (!a_type || !b_type || !c_type || !a_type.hasStaticShape() || !b_type.hasStaticShape() ||
      !c_type.hasStaticShape())
    return mlir::failure();
  const int64_t m = a_type.getDimSize(0), k = a_type.getDimSize(1), n = b_type.getDimSize(1);
  if (n % strip != 0 || m < rows) return mlir::failure();
  auto func = block->getParentOfType<mlir::func::FuncOp>();
  if (!func) return mlir::failure();

  mlir::Location loc = block.getLoc();
  const int64_t panels = n / strip;
  // The packed block lives on the stack, allocated once at the entry (an alloca inside the
  // loops would grow the stack on every iteration).
  auto packed_type = mlir::MemRefType::get({panels, k, strip}, b_type.getElementType());
  rewriter.setInsertionPointToStart(&func.getBody().front());
  // A frame this big must touch its pages in order, so that a thread short of stack faults on
  // the guard page instead of writing past it.
  func->setAttr(
      "passthrough",
      rewriter.getArrayAttr({rewriter.getArrayAttr(
          {rewriter.getStringAttr("probe-stack"), rewriter.getStringAttr("inline-asm")})}));
  mlir::Value packed =
      mlir::memref::AllocaOp::create(rewriter, loc, packed_type, rewriter.getI64IntegerAttr(64));

  rewriter.setInsertionPoint(block);
  auto index = [&](int64_t v) -> mlir::Value {
    return mlir::arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  mlir::Value zero = index(0), one = index(1);
  mlir::OpFoldResult zero_attr = rewriter.getIndexAttr(0);

  // Pack: panel j = B[:, j*strip : (j+1)*strip], contiguous.
  auto pack = mlir::scf::ForOp::create(rewriter, loc, zero, index(panels), one);
  {
    mlir::OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(pack.getBody());
    mlir::Value j = pack.getInductionVar();
    mlir::Value column = mlir::arith::MulIOp::create(rewriter, loc, j, index(strip));
    mlir::Value source = Subview(rewriter, loc, b, {zero_attr, column}, {k, strip});
    mlir::Value target =
        Subview(rewriter, loc, packed, {j, zero_attr, zero_attr}, {1, k, strip}, {k, strip});
    mlir::linalg::CopyOp::create(rewriter, loc, source, target);
  }

  // One rows x K x strip matmul over a panel.
  auto emit_tile = [&](mlir::Value row, mlir::Value j, int64_t group_rows) {
    mlir::Value column = mlir::arith::MulIOp::create(rewriter, loc, j, index(strip));
    mlir::Value a_rows = Subview(rewriter, loc, a, {row, zero_attr}, {group_rows, k});
    mlir::Value panel =
        Subview(rewriter, loc, packed, {j, zero_attr, zero_attr}, {1, k, strip}, {k, strip});
    mlir::Value c_tile = Subview(rewriter, loc, c, {row, column}, {group_rows, strip});
    mlir::linalg::MatmulOp::create(rewriter, loc, mlir::ValueRange{a_rows, panel},
                                   mlir::ValueRange{c_tile});
  };
  // Row groups outside, panels inside: a group's rows of A stay in L1 across the panels.
  auto emit_group = [&](mlir::Value row, int64_t group_rows) {
    auto panel_loop = mlir::scf::ForOp::create(rewriter, loc, zero, index(panels), one);
    mlir::OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(panel_loop.getBody());
    emit_tile(row, panel_loop.getInductionVar(), group_rows);
  };
  const int64_t full = m / rows * rows;
  auto row_loop = mlir::scf::ForOp::create(rewriter, loc, zero, index(full), index(rows));
  {
    mlir::OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(row_loop.getBody());
    emit_group(row_loop.getInductionVar(), rows);
  }
  if (full < m) emit_group(index(full), m - full);
  rewriter.eraseOp(block);
  return mlir::success();
}

}  // namespace kiln::compiler
