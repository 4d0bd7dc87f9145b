#include "compiler_service/codegen/strategy.h"

#include "compiler_service/codegen/byte_size.h"
#include "compiler_service/codegen/decompose_windowed.h"
#include "compiler_service/codegen/grouped_conv.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"

namespace kiln::compiler {

namespace {

// Bytes of a statically shaped buffer, or 0.
int64_t OperandBytes(mlir::Value buffer) { return StaticBytes(buffer.getType()); }

// Bytes between B's rows, or 0 when not static.
int64_t RowStrideBytes(mlir::Value buffer) {
  auto type = llvm::dyn_cast<mlir::MemRefType>(buffer.getType());
  if (!type || type.getRank() != 2) return 0;
  llvm::SmallVector<int64_t> strides;
  int64_t offset = 0;
  if (mlir::failed(type.getStridesAndOffset(strides, offset)) ||
      mlir::ShapedType::isDynamic(strides[0]))
    return 0;
  return strides[0] * ElementBytes(type.getElementType());
}

}  // namespace

TileStrategy ChooseStrategy(mlir::linalg::LinalgOp op, const TargetInfo& target) {
  const int64_t vector_bits = target.vector_bits;
  TileStrategy strategy;
  strategy.product = ClassifyProduct(op, target);
  llvm::SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  unsigned loops = ranges.size();
  if (loops == 0 || llvm::any_of(ranges, mlir::ShapedType::isDynamic)) {
    strategy.name = "scalar (no static loops)";
    return strategy;
  }
  // 2-D convolutions and pooling: one output row and one window row per tile, decomposed
  // into the 1-D form the vectorizer handles (codegen/decompose_windowed.cc).
  if (IsWindowed2D(op)) {
    int64_t lanes = target.Lanes(32);
    strategy.name = "windowed 2-D (decomposed to 1-D)";
    strategy.vectorize = true;
    strategy.decompose_windowed = true;
    strategy.tile_sizes.assign(loops, 0);
    if (llvm::isa<mlir::linalg::Conv2DNhwcHwcfOp>(op.getOperation())) {
      // (n, oh, ow, f, kh, kw, c). The matmul register tile: 8 output columns by 2 vectors
      // of output channels stay in registers while kh, kw and c step one at a time (each step
      // an outer product: 8 input broadcasts, 2 filter loads, 16 FMAs). Whole window rows
      // and 32 input channels per tile, as before, made the vectorizer read 10x32 inputs and
      // 3x32x16 filters into registers and transpose them: 33% of peak, against 98% now
      // (1x56x56x64 -> 64, issue 6 note).
      strategy.tile_sizes = {1, 1, target.RegisterTileRows(), 2 * lanes, 1, 1, 1};
    } else if (MatchGroupedConv2D(op.getOperation())) {
      // (n, oh, ow, g, f, kh, kw, c): per group, the NHWC register tile above (a group's
      // output channels are its columns).
      strategy.tile_sizes = {1, 1, target.RegisterTileRows(), 1, 2 * lanes, 1, 1, 1};
    } else if (llvm::isa<mlir::linalg::Conv2DNchwFchwOp>(op.getOperation())) {
      // (n, f, oh, ow, c, kh, kw)
      strategy.tile_sizes = {1, 4, 1, lanes, ranges[4] > 64 ? 32 : 0, 1, 0};
    } else {
      // depthwise and pooling: (n, oh, ow, c, kh, kw). 8 output columns by 2 vectors of
      // channels accumulate over the window; a whole window row per step, so its 10 input
      // vectors serve 3 taps each.
      // With 16 registers (AVX2), one vector of channels: 8 accumulators.
      strategy.tile_sizes = {1, 1, 8, vector_bits >= 512 ? 2 * lanes : lanes, 1, 0};
    }
    // Output channels (dim 3 in every form above but NCHW and grouped): as for a contraction's
    // columns, a ragged tile of more than one vector is cut into whole vectors and one partial
    // vector.
    const unsigned channels = MatchGroupedConv2D(op.getOperation()) ? kGroupChannelDim : 3;
    if (!llvm::isa<mlir::linalg::Conv2DNchwFchwOp>(op.getOperation()) &&
        strategy.tile_sizes[channels] > lanes) {
      strategy.ragged_split.assign(loops, 0);
      strategy.ragged_split[channels] = lanes;
    }
    for (unsigned i = 0; i < loops; ++i)
      if (strategy.tile_sizes[i] >= ranges[i]) strategy.tile_sizes[i] = 0;
    // Tiles are static after peeling: the vectorizer uses their own shapes.
    return strategy;
  }
  // Ops the vectorizer cannot take whole stay scalar loops here; LLVM still vectorizes their
  // innermost loop.
  if (mlir::failed(mlir::linalg::vectorizeOpPrecondition(op))) {
    strategy.name = "scalar (not vectorizable)";
    return strategy;
  }
  // Vectors of i1 are bit-packed in memory while kiln's bool buffers hold a byte per element:
  // ops on bools stay scalar (LLVM still vectorizes the byte loops).
  for (mlir::OpOperand& operand : op->getOpOperands())
    if (auto type = llvm::dyn_cast<mlir::ShapedType>(operand.get().getType());
        type && type.getElementType().isInteger(1)) {
      strategy.name = "scalar (bool data)";
      return strategy;
    }
  int64_t element_bits = 32;
  for (mlir::OpOperand& operand : op->getOpOperands())
    if (auto type = llvm::dyn_cast<mlir::ShapedType>(operand.get().getType()))
      element_bits = std::max<int64_t>(8, type.getElementTypeBitWidth());
  int64_t lanes = target.Lanes(element_bits);

  strategy.vectorize = true;
  strategy.tile_sizes.assign(loops, 1);
  auto contraction = mlir::linalg::inferContractionDims(op);
  if (strategy.product != ProductClass::kNone) {
    // Register blocking: a rows x (2 vectors) accumulator tile stays in registers while the
    // reduction loop streams one k at a time (outer products).
    strategy.name = "contraction";
    strategy.named_contraction = true;
    if (strategy.product != ProductClass::kMatrixVector) {
      strategy.tile_sizes[contraction->n.back()] = 2 * lanes;
      // A last column tile of more than one vector but not a whole number of them (N = 24 or
      // 56 on AVX-512) would be an odd-sized vector that LLVM legalizes lane by lane
      // (3136x144x24: 3.1 ms, against 0.17 ms for N = 32; N = 56: 3.2 ms). That tile alone is
      // cut into a whole vector and the rest; the other tiles keep two vectors. (Making every
      // tile one vector wide instead halved the accumulators: 384x384x383 at 0.69 of oneDNN.)
      strategy.ragged_split.assign(loops, 0);
      strategy.ragged_split[contraction->n.back()] = lanes;
      const int64_t rows = contraction->m.empty()
                               ? target.RegisterTileRows()
                               : target.RowTileFor(ranges[contraction->m.back()]);
      if (!contraction->m.empty()) strategy.tile_sizes[contraction->m.back()] = rows;
      // Fewer rows than a register tile (vector x matrix): stream B row by row with the
      // reduction loop outside the column loop, so B is read contiguously once and the short
      // C rows stay in L1, instead of walking B down 32-column strips.
      const bool few_rows = strategy.product == ProductClass::kFewRows;
      // Cache blocking for big operands: a kc x nc block of B stays in L2 while every row
      // block of A streams past it, and each 8 x kc sliver of A stays in L1 across the block's
      // register tiles. Without it, B (4 MB at 1024^2) is re-read from L3 for every 8 rows.
      // Loop order: nc, kc outside, then the register tiles (m, n, k) inside the block.
      if (!few_rows && contraction->k.size() == 1) {
        const unsigned k = contraction->k.back();
        const bool packed = contraction->n.size() > 1;  // panel loop, column loop
        const int64_t nc = packed ? target.packed_block_columns : target.cache_block_columns;
        const int64_t kc = packed ? target.packed_block_depth : target.cache_block_depth;
        // B's columns may span several loops (packed panels: panel, column within it).
        int64_t columns = 1;
        for (unsigned n : contraction->n) columns *= ranges[n];
        // Only where B outgrows L2: at 384x383x384 (B 588 KB) blocking cost 6% (1.05 -> 0.99
        // x OpenBLAS).
        const bool big_b = ranges[k] * columns * (element_bits / 8) >= target.cache_block_min_bytes;
        // A deep reduction (two blocks or more) over several row tiles is blocked however
        // small B is: unblocked, each 8-row tile walks B's whole strip (kc x 32 per block
        // fits L1, a 2048-deep strip does not), and the next tile reads it again from L2.
        // 64x2048x256: 0.46 -> 0.33 ms, 49x4608x512 2.8 -> 1.7, 196x2304x256 1.75 -> 1.15;
        // at 384x383x384 (one block and a ragged one) it cost 4%, hence two blocks.
        const bool deep = ranges[k] >= 2 * kc && ranges[contraction->m.back()] > rows;
        if ((big_b && (columns > nc || ranges[k] > kc)) || deep) {
          strategy.cache_tile_sizes.assign(loops, 0);
          // nc columns per block, innermost column loop first (a panel loop gets nc / strip).
          int64_t budget = nc;
          for (unsigned n : llvm::reverse(contraction->n)) {
            if (ranges[n] > budget) {
              strategy.cache_tile_sizes[n] = std::max<int64_t>(1, budget);
              budget = 1;
            } else {
              budget /= ranges[n];
            }
          }
          if (ranges[k] > kc) strategy.cache_tile_sizes[k] = kc;
          for (unsigned i = 0; i < loops; ++i)
            if (i != k && !llvm::is_contained(contraction->n, i) &&
                !llvm::is_contained(contraction->m, i))
              strategy.cache_interchange.push_back(i);
          for (unsigned n : contraction->n) strategy.cache_interchange.push_back(n);
          strategy.cache_interchange.push_back(k);
          for (unsigned m : contraction->m) strategy.cache_interchange.push_back(m);
          if (llvm::isa<mlir::linalg::MatmulOp>(op.getOperation()) &&
              RowStrideBytes(op.getDpsInputOperand(1)->get()) >=
                  target.pack_block_row_stride_bytes) {
            strategy.pack_b_strip = 2 * lanes;
            strategy.pack_b_rows = rows;
          }
        }
      }
      if (few_rows && !contraction->k.empty()) {
        for (unsigned i = 0; i < loops; ++i)
          if (llvm::is_contained(contraction->k, i))
            continue;
          else if (i != contraction->n.back())
            strategy.interchange.push_back(i);
        for (unsigned k : contraction->k) strategy.interchange.push_back(k);
        strategy.interchange.push_back(contraction->n.back());
        // Four reduction steps per tile: each C load/store serves 4 outer products, and only
        // 4 rows of B are streamed at once. With 8, rows 4 KB apart (N = 1024, 2048) met in
        // the same L1 sets: 1x2048x2048 took 567 us against 439 with 4 (1x513x1000: 28.0
        // against 26.7; 2 measured slower there).
        strategy.tile_sizes[contraction->k.back()] = 4;
        // A workgroup streaming a megabyte or more of B reads it from memory: prefetch the
        // rows 4 reduction steps ahead, at each tile's columns (1x2048x2048: 350 -> 296 us;
        // 1x4096x1024: 406 -> 267). Smaller
        // streams come from L3, where the prefetches only cost (1x1024x1024: 54 -> 60 us).
        if (OperandBytes(op.getDpsInputOperand(1)->get()) >= target.prefetch_min_bytes)
          strategy.prefetch_b_rows = strategy.tile_sizes[contraction->k.back()];
      }
    } else {
      // matvec: vectorize along the reduction, several rows at a time.
      if (!contraction->m.empty()) strategy.tile_sizes[contraction->m.back()] = 4;
      if (!contraction->k.empty()) strategy.tile_sizes[contraction->k.back()] = lanes;
    }
  } else {
    // Elementwise, reductions, copies, fills, transposes: one vector along the innermost loop.
    strategy.name = op.getNumReductionLoops() ? "reduction" : "elementwise";
    strategy.tile_sizes[loops - 1] = lanes;
  }
  // Never tile past the extent: a single partial tile is masked.
  strategy.vector_sizes = strategy.tile_sizes;
  for (unsigned i = 0; i < loops; ++i)
    if (strategy.tile_sizes[i] >= ranges[i]) {
      strategy.tile_sizes[i] = 0;  // whole extent in one tile
      strategy.vector_sizes[i] = ranges[i];
    }
  return strategy;
}

LoweringConfigAttr ToConfig(mlir::MLIRContext* context, const TileStrategy& strategy) {
  // A strategy that does not vectorize records no tiles (FromConfig reads vectorize back from
  // their presence).
  const bool tiled = strategy.vectorize;
  return LoweringConfigAttr::get(
      context, strategy.name, strategy.workgroup_tile_sizes, ProductClassName(strategy.product),
      strategy.cache_tile_sizes, strategy.cache_interchange,
      strategy.pack_b_strip > 0
          ? llvm::SmallVector<int64_t>{strategy.pack_b_strip, strategy.pack_b_rows}
          : llvm::SmallVector<int64_t>{},
      tiled ? llvm::ArrayRef<int64_t>(strategy.tile_sizes) : llvm::ArrayRef<int64_t>(),
      tiled ? llvm::ArrayRef<int64_t>(strategy.interchange) : llvm::ArrayRef<int64_t>(),
      tiled ? llvm::ArrayRef<int64_t>(strategy.vector_sizes) : llvm::ArrayRef<int64_t>(),
      tiled ? llvm::ArrayRef<int64_t>(strategy.ragged_split) : llvm::ArrayRef<int64_t>(),
      strategy.prefetch_b_rows, strategy.named_contraction, strategy.decompose_windowed);
}

TileStrategy FromConfig(LoweringConfigAttr config) {
  TileStrategy strategy;
  strategy.name = config.getStrategy().str();
  strategy.product = ParseProductClass(config.getProduct()).value_or(ProductClass::kNone);
  strategy.workgroup_tile_sizes.assign(config.getWorkgroupTiles().begin(),
                                       config.getWorkgroupTiles().end());
  strategy.vectorize = !config.getTiles().empty();
  strategy.tile_sizes.assign(config.getTiles().begin(), config.getTiles().end());
  strategy.vector_sizes.assign(config.getVectorSizes().begin(), config.getVectorSizes().end());
  strategy.ragged_split.assign(config.getRaggedSplit().begin(), config.getRaggedSplit().end());
  strategy.interchange.assign(config.getOrder().begin(), config.getOrder().end());
  strategy.cache_tile_sizes.assign(config.getCacheTiles().begin(), config.getCacheTiles().end());
  strategy.cache_interchange.assign(config.getCacheOrder().begin(), config.getCacheOrder().end());
  if (config.getPackB().size() == 2) {
    strategy.pack_b_strip = config.getPackB()[0];
    strategy.pack_b_rows = config.getPackB()[1];
  }
  strategy.prefetch_b_rows = config.getPrefetchBRows();
  strategy.named_contraction = config.getNamedContraction();
  strategy.decompose_windowed = config.getDecomposeWindowed();
  return strategy;
}

}  // namespace kiln::compiler
