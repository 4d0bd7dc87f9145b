// kiln-pack-matmul-operands: see Passes.td.
#include <cstring>

#include "compiler_service/codegen/byte_size.h"
#include "compiler_service/codegen/target_info.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/IR/Matchers.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_PACKMATMULOPERANDS
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// B packed for the register tiles: panel j holds columns [j*strip, (j+1)*strip) of every row,
// contiguous: packed[j][k][c] = b[k][j*strip + c]. `b` must be f32 data of shape k x n.
mlir::DenseElementsAttr PackConstant(mlir::DenseElementsAttr b, int64_t k, int64_t n, int64_t strip,
                                     mlir::RankedTensorType packed_type) {
  if (b.isSplat()) return b.resizeSplat(packed_type);
  llvm::ArrayRef<char> raw = b.getRawData();
  std::vector<float> packed(static_cast<size_t>(k * n));
  const float* source = reinterpret_cast<const float*>(raw.data());
  for (int64_t j = 0; j < n / strip; ++j)
    for (int64_t row = 0; row < k; ++row)
      std::memcpy(&packed[(j * k + row) * strip], &source[row * n + j * strip],
                  sizeof(float) * strip);
  return mlir::DenseElementsAttr::get(packed_type, llvm::ArrayRef<float>(packed));
}

struct PackMatmulOperandsPass : public impl::PackMatmulOperandsBase<PackMatmulOperandsPass> {
  using PackMatmulOperandsBase::PackMatmulOperandsBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    mlir::SymbolTable symbols(module);
    llvm::SmallVector<mlir::linalg::MatmulOp> matmuls;
    module->walk([&](mlir::linalg::MatmulOp op) { matmuls.push_back(op); });
    for (mlir::linalg::MatmulOp op : matmuls) Pack(op, symbols);
    // Weights now only read packed would otherwise ship twice in the module.
    for (mlir::memref::GlobalOp global :
         llvm::make_early_inc_range(module.getOps<mlir::memref::GlobalOp>()))
      if (packed_sources_.contains(global) &&
          mlir::SymbolTable::symbolKnownUseEmpty(global, module))
        symbols.erase(global);
  }

  // Constant weights already packed (weights shared by several products are packed once).
  llvm::DenseMap<mlir::Operation*, mlir::memref::GlobalOp> packed_sources_;

  void Pack(mlir::linalg::MatmulOp op, mlir::SymbolTable& symbols) {
    if (!op.hasPureBufferSemantics() ||
        op.getIndexingMapsArray() != op.getDefaultIndexingMaps(op.getContext()))
      return;
    mlir::Value a = op.getDpsInputOperand(0)->get(), b = op.getDpsInputOperand(1)->get();
    mlir::Value c = op.getDpsInitOperand(0)->get();
    auto a_type = llvm::cast<mlir::MemRefType>(a.getType());
    auto b_type = llvm::cast<mlir::MemRefType>(b.getType());
    auto c_type = llvm::cast<mlir::MemRefType>(c.getType());
    // Identity layouts only: the expanded view of C and the packing copy assume rows of N.
    if (!a_type.hasStaticShape() || !b_type.hasStaticShape() || !c_type.hasStaticShape() ||
        !b_type.getLayout().isIdentity() || !c_type.getLayout().isIdentity())
      return;
    mlir::Type element = b_type.getElementType();
    if (!element.isF32() || a_type.getElementType() != element ||
        c_type.getElementType() != element)
      return;
    const int64_t m = a_type.getDimSize(0), k = b_type.getDimSize(0), n = b_type.getDimSize(1);
    // Only where B outgrows the L2 share of a cache block (codegen/strategy.cc), whole panels
    // cover N, and A has rows enough to repay the packing pass (it costs 1/M of the product):
    // at 197x768x768 packing cost 7%, at 256x2048x2048 it made the product 1.7x faster.
    const TargetInfo target{.vector_bits = vectorBits};
    const int64_t panel_width = this->strip > 0 ? this->strip : target.RegisterTileColumns();
    const int64_t min_bytes = minBytes >= 0 ? minBytes : target.PackOperandMinBytes();
    const int64_t min_rows = minRows >= 0 ? minRows : target.PackOperandMinRows();
    if (k * n * ElementBytes(element) < min_bytes || n % panel_width != 0 || n == panel_width ||
        m < min_rows)
      return;

    // A fill of C right before the matmul comes to fill C's expanded view instead, so that it
    // stays next to the product (one dispatch, fused into its tiles); the packing goes above.
    auto fill = llvm::dyn_cast_or_null<mlir::linalg::FillOp>(op->getPrevNode());
    if (fill && fill.getDpsInitOperand(0)->get() != c) fill = {};
    mlir::OpBuilder builder(fill ? fill.getOperation() : op.getOperation());
    mlir::Location loc = op.getLoc();
    const int64_t panels = n / panel_width;
    auto packed_type = mlir::MemRefType::get({panels, k, panel_width}, element);
    mlir::Value packed;
    auto get_global = b.getDefiningOp<mlir::memref::GetGlobalOp>();
    auto global = get_global ? symbols.lookup<mlir::memref::GlobalOp>(get_global.getName())
                             : mlir::memref::GlobalOp();
    auto weights = global && global.getConstant()
                       ? llvm::dyn_cast_or_null<mlir::DenseElementsAttr>(
                             global.getInitialValue().value_or(mlir::Attribute()))
                       : mlir::DenseElementsAttr();
    if (weights) {
      // Constant weights are packed here, once, at compile time, into a global of their own.
      mlir::memref::GlobalOp& packed_global = packed_sources_[global];
      if (!packed_global) {
        mlir::OpBuilder module_builder(global);
        packed_global = mlir::memref::GlobalOp::create(
            module_builder, global.getLoc(), (global.getSymName() + "_packed").str(),
            module_builder.getStringAttr("private"), packed_type,
            PackConstant(weights, k, n, panel_width,
                         mlir::RankedTensorType::get(packed_type.getShape(), element)),
            /*constant=*/true, module_builder.getI64IntegerAttr(64));
        symbols.insert(packed_global);  // renames on a clash
      }
      packed =
          mlir::memref::GetGlobalOp::create(builder, loc, packed_type, packed_global.getSymName());
    } else {
      // A transient (kiln-plan-memory places it) and its own packing dispatch, shared by
      // every workgroup of the matmul.
      packed =
          mlir::memref::AllocOp::create(builder, loc, packed_type, builder.getI64IntegerAttr(64));
      auto b3 = mlir::memref::ExpandShapeOp::create(
          builder, loc, llvm::ArrayRef<int64_t>{k, panels, panel_width}, b,
          llvm::ArrayRef<mlir::ReassociationIndices>{{0}, {1, 2}});
      mlir::linalg::TransposeOp::create(builder, loc, b3.getResult(), packed,
                                        llvm::ArrayRef<int64_t>{1, 0, 2});
    }
    // C viewed as [M][panels][strip].
    auto c3 = mlir::memref::ExpandShapeOp::create(
        builder, loc, llvm::ArrayRef<int64_t>{m, panels, panel_width}, c,
        llvm::ArrayRef<mlir::ReassociationIndices>{{0}, {1, 2}});
    if (fill) fill.getDpsInitOperand(0)->set(c3.getResult());
    builder.setInsertionPoint(op);
    // Loops (m, j, c, k): C3[m][j][c] += A[m][k] * packed[j][k][c].
    mlir::MLIRContext* ctx = op.getContext();
    mlir::AffineExpr d0, d1, d2, d3;
    mlir::bindDims(ctx, d0, d1, d2, d3);
    llvm::SmallVector<mlir::AffineMap> maps = {mlir::AffineMap::get(4, 0, {d0, d3}, ctx),
                                               mlir::AffineMap::get(4, 0, {d1, d3, d2}, ctx),
                                               mlir::AffineMap::get(4, 0, {d0, d1, d2}, ctx)};
    // linalg.contract, not a generic: the vectorizer turns contraction ops (only) straight
    // into vector.contract, which lowers to FMAs on the register tile.
    mlir::linalg::ContractOp::create(builder, loc, mlir::ValueRange{a, packed},
                                     mlir::ValueRange{c3.getResult()},
                                     builder.getAffineMapArrayAttr(maps));
    op->erase();
    if (get_global && get_global->use_empty()) get_global->erase();
  }
};

}  // namespace
}  // namespace kiln::compiler
