#include "compiler_service/codegen/workgroup_tiles.h"

#include <algorithm>

#include "compiler_service/codegen/byte_size.h"
#include "compiler_service/codegen/decompose_windowed.h"
#include "compiler_service/codegen/op_queries.h"
#include "compiler_service/codegen/product_class.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "mlir/Transforms/RegionUtils.h"

namespace kiln::compiler {

namespace {

// The loop of `op` that iterates result dimension `result_dim` of its first init operand, if
// that is a plain parallel loop.
std::optional<unsigned> LoopDimForResultDim(mlir::linalg::LinalgOp op, unsigned result_dim) {
  mlir::AffineMap map = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (result_dim >= map.getNumResults()) return std::nullopt;
  auto dim = llvm::dyn_cast<mlir::AffineDimExpr>(map.getResult(result_dim));
  if (!dim) return std::nullopt;
  if (op.getIteratorTypesArray()[dim.getPosition()] != mlir::utils::IteratorType::parallel)
    return std::nullopt;
  return dim.getPosition();
}

// The largest k <= limit splitting n into equal tiles whose size is a multiple of `align`.
int64_t LargestDivisorAtMost(int64_t n, int64_t limit, int64_t align = 1) {
  for (int64_t k = std::min(n, limit); k > 1; --k)
    if (n % k == 0 && (n / k) % align == 0) return k;
  return 1;
}

constexpr int64_t kMinRowSegmentBytes = 1024;

// Whether splitting every op along the same dimension of its output gives each workgroup a
// slice that no other workgroup's slice reads: every op writes `out` or an elementwise copy
// of its shape (identity output map), and every read of a buffer the dispatch writes is
// elementwise too (same shape, identity map, all-parallel op).
bool SlicesAlign(llvm::ArrayRef<mlir::linalg::LinalgOp> ops, mlir::Value out) {
  auto out_type = llvm::cast<mlir::MemRefType>(out.getType());
  llvm::SmallPtrSet<mlir::Value, 4> written;
  for (mlir::linalg::LinalgOp op : ops) {
    if (op.getNumDpsInits() != 1) return false;
    written.insert(ViewedBuffer(op.getDpsInitOperand(0)->get()));
  }
  auto elementwise = [&](mlir::linalg::LinalgOp op, mlir::OpOperand* operand) {
    auto type = llvm::dyn_cast<mlir::MemRefType>(operand->get().getType());
    return AllParallel(op) && op.getMatchingIndexingMap(operand).isIdentity() && type &&
           type.getShape() == out_type.getShape();
  };
  for (mlir::linalg::LinalgOp op : ops) {
    mlir::OpOperand* init = op.getDpsInitOperand(0);
    if (init->get() != out && !elementwise(op, init)) return false;
    for (mlir::OpOperand* input : op.getDpsInputOperands())
      if (written.contains(ViewedBuffer(input->get())) && !elementwise(op, input)) return false;
    // A buffer the body reads at computed indices (a gather's table) may be read anywhere:
    // if the dispatch writes it, other workgroups' slices of it may not be written yet.
    llvm::SetVector<mlir::Value> captured;
    mlir::getUsedValuesDefinedAbove(op->getRegions(), captured);
    for (mlir::Value value : captured)
      if (llvm::isa<mlir::MemRefType>(value.getType()) && written.contains(ViewedBuffer(value)))
        return false;
  }
  return true;
}

// The bytes every workgroup reads whole when a contraction is split along output dimension
// `r`: split along rows, each workgroup reads all of B; along columns, all of A. On a tie in
// workgroup count the split that re-reads the smaller operand wins: 64x2048x256 (the FFN
// of a transformer at sequence 64) went to 8 workgroups of 8 rows, each streaming all 2 MB
// of B, where 8 of 32 columns each read a quarter-megabyte strip of it. 0 for other ops.
int64_t RereadBytes(mlir::linalg::LinalgOp root,
                    const mlir::FailureOr<mlir::linalg::ContractionDimensions>& dims, unsigned r) {
  if (mlir::failed(dims)) return 0;
  auto loop = LoopDimForResultDim(root, r);
  if (!loop) return 0;
  auto bytes = [](mlir::Value v) { return StaticBytes(v.getType()); };
  if (llvm::is_contained(dims->m, *loop)) return bytes(root.getDpsInputOperand(1)->get());
  if (llvm::is_contained(dims->n, *loop)) return bytes(root.getDpsInputOperand(0)->get());
  return 0;
}

}  // namespace

std::optional<llvm::SmallVector<std::pair<mlir::linalg::LinalgOp, llvm::SmallVector<int64_t>>>>
ChooseWorkgroupTiles(mlir::func::FuncOp dispatch, const TargetInfo& target,
                     const WorkgroupOptions& options) {
  llvm::SmallVector<mlir::linalg::LinalgOp> ops;
  dispatch.walk([&](mlir::linalg::LinalgOp op) { ops.push_back(op); });
  if (ops.empty()) return std::nullopt;
  // The split is chosen for the reduction (a contraction, a convolution); the elementwise
  // ops kiln-form-dispatches put around it are split with it. Otherwise for the last op.
  mlir::linalg::LinalgOp root = ops.back();
  for (mlir::linalg::LinalgOp op : ops)
    if (op.getNumReductionLoops() > 0) {
      root = op;
      break;
    }
  if (root.getNumDpsInits() != 1) return std::nullopt;
  mlir::Value out = root.getDpsInitOperand(0)->get();
  // Dispatches are formed on buffers.
  if (!llvm::isa<mlir::MemRefType>(out.getType()) || !SlicesAlign(ops, out)) return std::nullopt;

  int64_t points = 1;
  for (int64_t range : root.getStaticLoopRanges()) points *= range;
  int64_t wanted = std::min<int64_t>(options.target_workgroups,
                                     points / std::max<int64_t>(1, options.min_work_per_workgroup));
  if (wanted < 2) return std::nullopt;

  // The output dimension that splits into the most equal workgroups (outermost on ties):
  // equal static tiles keep every workgroup's code free of remainder handling.
  // Workgroup tiles that are whole register tiles (codegen/strategy.cc: 8 rows by 32
  // columns for contractions on AVX-512, 6 by 16 on AVX2) keep every workgroup free of
  // ragged edge tiles; only when no such split exists is any equal split taken. On AVX2 a
  // power-of-two row count never splits into 6-row tiles, so its columns are split instead:
  // 512^3 had gone to 16 workgroups of 32 rows, each ending in a 2-row tile at half speed.
  auto contraction = mlir::linalg::isaContractionOpInterface(root)
                         ? mlir::linalg::inferContractionDims(root)
                         : mlir::FailureOr<mlir::linalg::ContractionDimensions>(mlir::failure());
  auto out_type = llvm::cast<mlir::MemRefType>(out.getType());
  unsigned best_dim = 0;
  int64_t best_count = 1;
  bool best_aligned = false;
  int64_t best_reread = 0;
  // The unaligned split that re-reads the least, for when the aligned one re-reads far more.
  unsigned lean_dim = 0;
  int64_t lean_count = 1;
  int64_t lean_reread = 0;
  // An elementwise dispatch split along its innermost dimension gives each workgroup a
  // 64-byte piece of every row: strided reads the prefetchers follow badly, and every cache
  // line of the others' rows brought in beside them. Split along an outer dimension when one
  // splits at all (resnext50's 1x56x56x256 add+relu in 16 channel slices: 1.26 ms).
  const bool elementwise = AllParallel(root) && out_type.getRank() > 1;
  for (unsigned r = 0; r < out_type.getRank(); ++r) {
    if (elementwise && r + 1 == out_type.getRank() && best_count > 1) continue;
    bool all_parallel = llvm::all_of(
        ops, [&](mlir::linalg::LinalgOp op) { return LoopDimForResultDim(op, r).has_value(); });
    if (!all_parallel) continue;
    // The innermost output dimension is the vectorized one: splitting it finer than a
    // vector (a 1x56x56x64 conv once went to 16 workgroups of 4 channels) leaves every
    // workgroup scalar-width code.
    const int64_t lanes = target.Lanes(32);
    int64_t align = r + 1 == out_type.getRank() ? lanes : 1;
    // Where no split is aligned, workgroup tiles still get at least this much: a product's
    // rows a register tile's, the innermost dimension a vector. 33x1000x77 went to 11
    // workgroups of 3 rows (each row tile all remainder, 60 GFLOP/s on one thread).
    int64_t min_tile = align;
    if (mlir::succeeded(contraction)) {
      unsigned loop = *LoopDimForResultDim(root, r);
      if (llvm::is_contained(contraction->m, loop)) align = min_tile = target.RegisterTileRows();
      // The innermost column loop; an outer one (packed panels) splits by whole panels.
      if (llvm::is_contained(contraction->n, loop))
        align = loop == contraction->n.back() ? target.RegisterTileColumns() : 1;
      // A vector times a matrix streams B down its rows, one short segment of each row per
      // workgroup, and is bound by memory: segments of at least 1 KB (256 f32) keep the
      // hardware prefetcher streaming within each page. 1x513x1024 in 16 workgroups of 64
      // columns (256 bytes, every row on a new page at the same offset) took 106 us on one
      // thread; in 4 of 256, 45 (one workgroup: 42). Where the columns do not split evenly
      // into such slices, any equal split is taken below: 1x513x1000 in 10 workgroups of
      // 100 columns measured faster than in 2 of 500 (27 against 30 us on one thread).
      if (loop == contraction->n.back() && ClassifyProduct(root, target) == ProductClass::kFewRows)
        align =
            std::max<int64_t>(align, kMinRowSegmentBytes / ElementBytes(out_type.getElementType()));
    } else if (IsWindowed2D(root) && r + 1 == out_type.getRank()) {
      align = target.RegisterTileColumns();  // whole register tiles of output channels
    }
    int64_t extent = out_type.getDimSize(r);
    int64_t aligned = LargestDivisorAtMost(extent, wanted, align);
    bool is_aligned = aligned > 1;
    int64_t count =
        is_aligned ? aligned : LargestDivisorAtMost(extent, std::min(wanted, extent / min_tile));
    const int64_t reread = RereadBytes(root, contraction, r);
    if (!is_aligned && count > 1 && (lean_count < 2 || reread < lean_reread)) {
      lean_dim = r;
      lean_count = count;
      lean_reread = reread;
    }
    if ((is_aligned && !best_aligned && count > 1) ||
        (is_aligned == best_aligned && count > best_count) ||
        (is_aligned == best_aligned && count == best_count && count > 1 && reread < best_reread)) {
      best_count = count;
      best_dim = r;
      best_aligned = is_aligned;
      best_reread = reread;
    }
  }
  // Whole register tiles per workgroup are worth less than reading an operand that outgrows
  // L2 once per workgroup: 64x4096x1000 split into 8 workgroups of 8 rows had each stream all
  // 16 MB of B (0.41 of oneDNN on two threads); 8 of 125 columns each read A's 1 MB, and the
  // ragged edges of 125 columns cost little since they are cut at whole vectors
  // (ragged_split).
  if (best_aligned && lean_count >= 2 && 2 * lean_count >= best_count &&
      best_reread >= target.cache_block_min_bytes && best_reread >= 4 * lean_reread) {
    best_dim = lean_dim;
    best_count = lean_count;
  }
  if (best_count < 2) return std::nullopt;

  const int64_t tile = out_type.getDimSize(best_dim) / best_count;
  llvm::SmallVector<std::pair<mlir::linalg::LinalgOp, llvm::SmallVector<int64_t>>> tiles;
  for (mlir::linalg::LinalgOp op : ops) {
    llvm::SmallVector<int64_t> sizes(op.getNumLoops(), 0);
    sizes[*LoopDimForResultDim(op, best_dim)] = tile;
    tiles.emplace_back(op, std::move(sizes));
  }
  return tiles;
}

}  // namespace kiln::compiler
