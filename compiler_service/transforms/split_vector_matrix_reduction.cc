// kiln-split-vector-matrix-reduction: see Passes.td.
#include "compiler_service/codegen/byte_size.h"
#include "compiler_service/codegen/product_class.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_SPLITVECTORMATRIXREDUCTION
#include "compiler_service/transforms/Passes.h.inc"

namespace {

// Partial sums: as many as workgroups are aimed for (kiln-distribute-workgroups), each over
// at least 16 rows of B.
constexpr int64_t kMaxParts = 16;
constexpr int64_t kMinRowsPerPart = 16;
constexpr int64_t kMinParts = 4;

// The most parts (<= kMaxParts) that split `k` rows evenly, each of kMinRowsPerPart or more;
// 1 when there are fewer than kMinParts.
int64_t PartCount(int64_t k) {
  for (int64_t parts = kMaxParts; parts >= kMinParts; --parts)
    if (k % parts == 0 && k / parts >= kMinRowsPerPart) return parts;
  return 1;
}

struct SplitVectorMatrixReductionPass
    : public impl::SplitVectorMatrixReductionBase<SplitVectorMatrixReductionPass> {
  using SplitVectorMatrixReductionBase::SplitVectorMatrixReductionBase;

  void runOnOperation() override {
    // Matmuls, and batch matmuls with a batch of 1 (tosa.matmul's lowering), untransposed.
    llvm::SmallVector<mlir::linalg::LinalgOp> products;
    auto untransposed = [](auto named) {
      return named.getIndexingMapsArray() == named.getDefaultIndexingMaps(named.getContext());
    };
    getOperation()->walk([&](mlir::Operation* op) {
      auto matmul = llvm::dyn_cast<mlir::linalg::MatmulOp>(op);
      auto batch = llvm::dyn_cast<mlir::linalg::BatchMatmulOp>(op);
      if ((matmul && untransposed(matmul)) || (batch && untransposed(batch)))
        products.push_back(llvm::cast<mlir::linalg::LinalgOp>(op));
    });
    mlir::IRRewriter rewriter(&getContext());
    const TargetInfo target{.vector_bits = vectorBits};
    const int64_t min_bytes = minBytes >= 0 ? minBytes : target.split_reduction_min_bytes;
    for (mlir::linalg::LinalgOp op : products) {
      if (!op.hasPureTensorSemantics()) continue;
      auto a_type =
          llvm::dyn_cast<mlir::RankedTensorType>(op.getDpsInputOperand(0)->get().getType());
      auto b_type =
          llvm::dyn_cast<mlir::RankedTensorType>(op.getDpsInputOperand(1)->get().getType());
      if (!a_type || !b_type || !a_type.hasStaticShape() || !b_type.hasStaticShape() ||
          !b_type.getElementType().isF32() || a_type.getElementType() != b_type.getElementType())
        continue;
      const int64_t batch = b_type.getRank() == 3 ? b_type.getDimSize(0) : 1;
      const int64_t first = b_type.getRank() - 2;  // past the batch dimension
      const int64_t k = b_type.getDimSize(first), n = b_type.getDimSize(first + 1);
      if (batch != 1) continue;
      if (ClassifyProduct(op, target) != ProductClass::kFewRows ||
          k * n * ElementBytes(b_type.getElementType()) < min_bytes)
        continue;
      const int64_t parts = PartCount(k);
      if (parts < 2) continue;
      rewriter.setInsertionPoint(op);
      // Partials P[part][m][n] (the part dimension outermost, so workgroups split along it),
      // then a reduction of the parts into the product's own output.
      auto split = mlir::linalg::splitReduction(rewriter, op, [&](mlir::linalg::LinalgOp) {
        return mlir::linalg::SplitReductionOptions{parts, /*index=*/0, /*innerParallel=*/false};
      });
      if (mlir::failed(split)) continue;
      // The partial product as a linalg.contract, not the generic splitReduction makes: the
      // vectorizer turns contraction ops (only) straight into vector.contract (outer products
      // on the register tile); the generic was read through a transposing gather.
      mlir::linalg::LinalgOp partial = split->splitLinalgOp;
      rewriter.setInsertionPoint(partial);
      auto contract = mlir::linalg::ContractOp::create(
          rewriter, partial.getLoc(), partial->getResultTypes(), partial.getDpsInputs(),
          partial.getDpsInits(), rewriter.getAffineMapArrayAttr(partial.getIndexingMapsArray()));
      rewriter.replaceOp(partial, contract->getResults());
      // The output's fill next to the op that adds the parts into it: one dispatch, not two.
      mlir::linalg::LinalgOp combine = split->resultCombiningLinalgOp;
      auto fill = combine.getDpsInitOperand(0)->get().getDefiningOp<mlir::linalg::FillOp>();
      if (fill && fill->hasOneUse()) rewriter.moveOpBefore(fill, combine);
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
