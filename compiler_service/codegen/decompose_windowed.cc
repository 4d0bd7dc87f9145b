#include "compiler_service/codegen/decompose_windowed.h"

#include "compiler_service/codegen/grouped_conv.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace kiln::compiler {
namespace {

// A rank-reducing view of `value` without dimension `dim` (which must be a static 1).
mlir::FailureOr<mlir::Value> DropUnitDim(mlir::RewriterBase& rewriter, mlir::Location loc,
                                         mlir::Value value, unsigned dim) {
  auto type = llvm::dyn_cast<mlir::MemRefType>(value.getType());
  if (!type || !type.hasStaticShape() || dim >= type.getRank() || type.getDimSize(dim) != 1)
    return mlir::failure();
  llvm::SmallVector<int64_t> shape;
  llvm::SmallVector<mlir::OpFoldResult> offsets, sizes, strides;
  for (unsigned i = 0; i < type.getRank(); ++i) {
    if (i != dim) shape.push_back(type.getDimSize(i));
    offsets.push_back(rewriter.getIndexAttr(0));
    sizes.push_back(rewriter.getIndexAttr(type.getDimSize(i)));
    strides.push_back(rewriter.getIndexAttr(1));
  }
  auto result_type =
      mlir::memref::SubViewOp::inferRankReducedResultType(shape, type, offsets, sizes, strides);
  return mlir::memref::SubViewOp::create(rewriter, loc, result_type, value, offsets, sizes, strides)
      .getResult();
}

// Rank-reducing views of `value` without each of `dims` in turn (indices into the view left
// by the previous drops); each must be a static 1.
mlir::FailureOr<mlir::Value> DropUnitDims(mlir::RewriterBase& rewriter, mlir::Location loc,
                                          mlir::Value value, llvm::ArrayRef<unsigned> dims) {
  for (unsigned dim : dims) {
    auto dropped = DropUnitDim(rewriter, loc, value, dim);
    if (mlir::failed(dropped)) return mlir::failure();
    value = *dropped;
  }
  return value;
}

// Whether dropping `dims` in turn from `value`'s type drops only static unit dimensions.
bool UnitDims(mlir::Value value, llvm::ArrayRef<unsigned> dims) {
  auto type = llvm::dyn_cast<mlir::MemRefType>(value.getType());
  if (!type || !type.hasStaticShape()) return false;
  llvm::SmallVector<int64_t> shape(type.getShape());
  for (unsigned dim : dims) {
    if (dim >= shape.size() || shape[dim] != 1) return false;
    shape.erase(shape.begin() + dim);
  }
  return true;
}

// `op` as the 1-D op `To` on views without the unit dimensions `input_dims`, `filter_dims`
// and `output_dims` (each list dropped in turn), with the width stride and dilation.
template <typename To>
mlir::FailureOr<mlir::linalg::LinalgOp> Rewrite(mlir::RewriterBase& rewriter,
                                                mlir::linalg::LinalgOp op,
                                                llvm::ArrayRef<unsigned> input_dims,
                                                llvm::ArrayRef<unsigned> filter_dims,
                                                llvm::ArrayRef<unsigned> output_dims,
                                                int64_t stride, int64_t dilation) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1) return mlir::failure();
  // Check every operand first so that a failure leaves the op untouched.
  if (!UnitDims(op.getDpsInputs()[0], input_dims) || !UnitDims(op.getDpsInputs()[1], filter_dims) ||
      !UnitDims(op.getDpsInits()[0], output_dims))
    return mlir::failure();
  mlir::Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  mlir::Value input = *DropUnitDims(rewriter, loc, op.getDpsInputs()[0], input_dims);
  mlir::Value filter = *DropUnitDims(rewriter, loc, op.getDpsInputs()[1], filter_dims);
  mlir::Value output = *DropUnitDims(rewriter, loc, op.getDpsInits()[0], output_dims);
  auto one_d = To::create(rewriter, loc, mlir::TypeRange{}, mlir::ValueRange{input, filter},
                          mlir::ValueRange{output}, rewriter.getI64TensorAttr({stride}),
                          rewriter.getI64TensorAttr({dilation}));
  rewriter.eraseOp(op);
  return llvm::cast<mlir::linalg::LinalgOp>(one_d.getOperation());
}

// A named 2-D op as its 1-D form `To`, dropping one unit dimension of each operand.
template <typename From, typename To>
mlir::FailureOr<mlir::linalg::LinalgOp> Rewrite(mlir::RewriterBase& rewriter,
                                                mlir::linalg::LinalgOp op, unsigned input_dim,
                                                unsigned filter_dim, unsigned output_dim) {
  // The accessors fill in the defaults (1) when the attributes are absent; index 1 of
  // [height, width] is the width.
  auto named = llvm::cast<From>(op.getOperation());
  return Rewrite<To>(rewriter, op, {input_dim}, {filter_dim}, {output_dim},
                     *(named.getStrides().template getValues<int64_t>().begin() + 1),
                     *(named.getDilations().template getValues<int64_t>().begin() + 1));
}

}  // namespace

bool IsWindowed2D(mlir::Operation* op) {
  return llvm::isa<mlir::linalg::Conv2DNhwcHwcfOp, mlir::linalg::Conv2DNchwFchwOp,
                   mlir::linalg::DepthwiseConv2DNhwcHwcOp, mlir::linalg::PoolingNhwcMaxOp,
                   mlir::linalg::PoolingNhwcSumOp>(op) ||
         MatchGroupedConv2D(op).has_value();
}

mlir::FailureOr<mlir::linalg::LinalgOp> DecomposeWindowed2D(mlir::RewriterBase& rewriter,
                                                            mlir::linalg::LinalgOp op) {
  mlir::Operation* raw = op.getOperation();
  if (llvm::isa<mlir::linalg::Conv2DNhwcHwcfOp>(raw))
    return Rewrite<mlir::linalg::Conv2DNhwcHwcfOp, mlir::linalg::Conv1DNwcWcfOp>(rewriter, op, 1, 0,
                                                                                 1);
  if (llvm::isa<mlir::linalg::Conv2DNchwFchwOp>(raw))
    return Rewrite<mlir::linalg::Conv2DNchwFchwOp, mlir::linalg::Conv1DNcwFcwOp>(rewriter, op, 2, 2,
                                                                                 2);
  if (llvm::isa<mlir::linalg::DepthwiseConv2DNhwcHwcOp>(raw))
    return Rewrite<mlir::linalg::DepthwiseConv2DNhwcHwcOp, mlir::linalg::DepthwiseConv1DNwcWcOp>(
        rewriter, op, 1, 0, 1);
  if (llvm::isa<mlir::linalg::PoolingNhwcMaxOp>(raw))
    return Rewrite<mlir::linalg::PoolingNhwcMaxOp, mlir::linalg::PoolingNwcMaxOp>(rewriter, op, 1,
                                                                                  0, 1);
  if (llvm::isa<mlir::linalg::PoolingNhwcSumOp>(raw))
    return Rewrite<mlir::linalg::PoolingNhwcSumOp, mlir::linalg::PoolingNwcSumOp>(rewriter, op, 1,
                                                                                  0, 1);
  if (auto window = MatchGroupedConv2D(raw)) {
    // (n, oh, ow, g, f, kh, kw, c) → conv_1d_nwc_wcf per group: drop the group (input and
    // output dim 3, filter dim 0), then the height (dim 1 of each; the filter's kh is dim 0
    // once g is gone). What is left is NWC, WCF and NWF.
    return Rewrite<mlir::linalg::Conv1DNwcWcfOp>(rewriter, op, {3, 1}, {0, 0}, {3, 1},
                                                 window->strides[1], window->dilations[1]);
  }
  return mlir::failure();
}

}  // namespace kiln::compiler
