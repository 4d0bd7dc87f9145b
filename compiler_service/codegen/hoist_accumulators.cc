#include "compiler_service/codegen/hoist_accumulators.h"

#include "llvm/ADT/SmallBitVector.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace kiln::compiler {
namespace {

// The binding argument or stack buffer (e.g. a packed operand) a buffer value views, or null
// when it is not a plain view of one. Distinct roots never alias.
mlir::Value RootOf(mlir::Value value) {
  while (mlir::Operation* def = value.getDefiningOp()) {
    if (llvm::isa<mlir::memref::AllocaOp>(def)) return value;
    if (!llvm::isa<mlir::memref::SubViewOp, mlir::memref::CastOp, mlir::memref::ExpandShapeOp,
                   mlir::memref::CollapseShapeOp>(def))
      return {};
    value = def->getOperand(0);
  }
  return llvm::isa<mlir::BlockArgument>(value) ? value : mlir::Value();
}

// The buffer view `op` reads or writes through, or null when `op` is no plain access.
mlir::Value AccessedView(mlir::Operation* op) {
  if (auto read = llvm::dyn_cast<mlir::vector::TransferReadOp>(op)) return read.getBase();
  if (auto write = llvm::dyn_cast<mlir::vector::TransferWriteOp>(op)) return write.getBase();
  if (auto load = llvm::dyn_cast<mlir::memref::LoadOp>(op)) return load.getMemref();
  if (auto store = llvm::dyn_cast<mlir::memref::StoreOp>(op)) return store.getMemref();
  if (auto load = llvm::dyn_cast<mlir::vector::LoadOp>(op)) return load.getBase();
  if (auto store = llvm::dyn_cast<mlir::vector::StoreOp>(op)) return store.getBase();
  return {};
}

mlir::Value AccessedRoot(mlir::Operation* op, bool& is_access) {
  mlir::Value view = AccessedView(op);
  is_access = static_cast<bool>(view);
  return view ? RootOf(view) : mlir::Value();
}

// The elements a view covers, as a box (a half-open range per dimension) in the coordinates
// of `view`: the view itself, then each buffer it is a subview of, up the chain of subviews
// with constant offsets and strides (a strided range is widened to its hull).
struct Box {
  mlir::Value view;
  llvm::SmallVector<std::pair<int64_t, int64_t>> ranges;
};

llvm::SmallVector<Box> Ancestry(mlir::Value view) {
  auto type = llvm::dyn_cast<mlir::MemRefType>(view.getType());
  if (!type || !type.hasStaticShape()) return {};
  Box box{view, {}};
  for (int64_t extent : type.getShape()) box.ranges.emplace_back(0, extent);
  llvm::SmallVector<Box> chain = {box};
  while (auto subview = view.getDefiningOp<mlir::memref::SubViewOp>()) {
    const llvm::SmallBitVector dropped = subview.getDroppedDims();
    Box up{subview.getSource(), {}};
    unsigned child = 0;
    bool constant = true;
    for (unsigned dim = 0; dim < subview.getMixedOffsets().size() && constant; ++dim) {
      std::optional<int64_t> offset = mlir::getConstantIntValue(subview.getMixedOffsets()[dim]);
      std::optional<int64_t> stride = mlir::getConstantIntValue(subview.getMixedStrides()[dim]);
      if (!offset || !stride) {
        constant = false;
        break;
      }
      if (dropped.test(dim)) {
        up.ranges.emplace_back(*offset, *offset + 1);
        continue;
      }
      auto [lo, hi] = box.ranges[child++];
      up.ranges.emplace_back(*offset + lo * *stride, *offset + (hi - 1) * *stride + 1);
    }
    if (!constant) break;
    chain.push_back(up);
    box = std::move(up);
    view = subview.getSource();
  }
  return chain;
}

// Whether two views provably share no element: in the coordinates of a buffer both are
// (constant-offset) subviews of, their boxes do not overlap along some dimension. Every access
// through a view stays inside it, so accesses through the two never conflict: the tiles a
// ragged edge is cut into (a whole vector and the rest, side by side in one reduction loop,
// also through the 1-D views of a decomposed convolution) keep their accumulators in
// registers.
bool DisjointViews(mlir::Value a, mlir::Value b) {
  const llvm::SmallVector<Box> ancestry_a = Ancestry(a);
  const llvm::SmallVector<Box> ancestry_b = Ancestry(b);
  for (const Box& box_a : ancestry_a)
    for (const Box& box_b : ancestry_b) {
      if (box_a.view != box_b.view) continue;
      for (unsigned dim = 0; dim < box_a.ranges.size(); ++dim)
        if (box_a.ranges[dim].second <= box_b.ranges[dim].first ||
            box_b.ranges[dim].second <= box_a.ranges[dim].first)
          return true;
      return false;
    }
  return false;
}

// A transfer op at the top level of `body`, possibly inside a vector.mask whose mask is
// loop-invariant; `top` is the op to move (the mask op when there is one).
template <typename TransferOp>
TransferOp TopLevelTransfer(mlir::Operation* op, mlir::scf::ForOp loop, mlir::Operation*& top) {
  top = op;
  if (auto mask = llvm::dyn_cast<mlir::vector::MaskOp>(op)) {
    if (mask.getPassthru() || !loop.isDefinedOutsideOfLoop(mask.getMask())) return {};
    auto inner = llvm::dyn_cast_or_null<TransferOp>(mask.getMaskableOp());
    return inner;
  }
  return llvm::dyn_cast<TransferOp>(op);
}

bool HoistOne(mlir::scf::ForOp loop) {
  mlir::Block* body = loop.getBody();
  for (mlir::Operation& op : *body) {
    mlir::Operation* read_top = nullptr;
    auto read = TopLevelTransfer<mlir::vector::TransferReadOp>(&op, loop, read_top);
    if (!read || read.getMask() || !loop.isDefinedOutsideOfLoop(read.getBase()) ||
        !loop.isDefinedOutsideOfLoop(read.getPadding()) ||
        llvm::any_of(read.getIndices(),
                     [&](mlir::Value v) { return !loop.isDefinedOutsideOfLoop(v); }))
      continue;
    mlir::vector::TransferWriteOp write;
    mlir::Operation* write_top = nullptr;
    for (mlir::Operation* user : read.getBase().getUsers()) {
      mlir::Operation* top = user;
      if (auto mask = llvm::dyn_cast<mlir::vector::MaskOp>(user->getParentOp())) top = mask;
      if (top->getBlock() != body) continue;
      mlir::Operation* candidate_top = nullptr;
      auto candidate = TopLevelTransfer<mlir::vector::TransferWriteOp>(top, loop, candidate_top);
      if (candidate && candidate.getOperation() == user && !candidate.getMask() &&
          candidate.getIndices() == read.getIndices() &&
          candidate.getVectorType() == read.getVectorType() &&
          candidate.getPermutationMap() == read.getPermutationMap() &&
          read_top->isBeforeInBlock(candidate_top)) {
        write = candidate;
        write_top = candidate_top;
      }
    }
    mlir::Value root = RootOf(read.getBase());
    if (!write || !root) continue;
    bool conflict = false;
    loop.walk([&](mlir::Operation* other) {
      if (other == read.getOperation() || other == write.getOperation() || other == loop) return;
      bool is_access = false;
      mlir::Value other_root = AccessedRoot(other, is_access);
      if (is_access) {
        if (!other_root ||
            (other_root == root && !DisjointViews(AccessedView(other), read.getBase())))
          conflict = true;
        return;
      }
      if (!mlir::isMemoryEffectFree(other) &&
          !llvm::isa<mlir::scf::ForOp, mlir::scf::YieldOp, mlir::vector::MaskOp>(other))
        conflict = true;
    });
    if (conflict) continue;

    read_top->moveBefore(loop);
    mlir::IRRewriter rewriter(loop.getContext());
    mlir::Value accumulated = write.getVector();
    auto rewritten = loop.replaceWithAdditionalYields(
        rewriter, mlir::ValueRange{read_top->getResult(0)},
        /*replaceInitOperandUsesInLoop=*/true,
        [&](mlir::OpBuilder&, mlir::Location, llvm::ArrayRef<mlir::BlockArgument>) {
          return llvm::SmallVector<mlir::Value>{accumulated};
        });
    if (mlir::failed(rewritten)) return false;
    mlir::Operation* new_loop = rewritten->getOperation();
    write_top->moveAfter(new_loop);
    write.getValueToStoreMutable().assign(new_loop->getResults().back());
    return true;
  }
  return false;
}

// Whether every index is the constant 0.
bool AllZero(mlir::ValueRange indices) {
  return llvm::all_of(indices, [](mlir::Value v) {
    std::optional<int64_t> c = mlir::getConstantIntValue(v);
    return c && *c == 0;
  });
}

// Whether `view` is `base` or a chain of subviews of it that keep every element in place (zero
// offsets, unit strides, full extents; rank-reducing ones included).
bool IsWholeView(mlir::Value view, mlir::Value base) {
  while (view != base) {
    auto subview = view.getDefiningOp<mlir::memref::SubViewOp>();
    if (!subview || !subview.getSourceType().hasStaticShape()) return false;
    llvm::ArrayRef<int64_t> shape = subview.getSourceType().getShape();
    for (unsigned i = 0; i < shape.size(); ++i) {
      std::optional<int64_t> offset = mlir::getConstantIntValue(subview.getMixedOffsets()[i]);
      std::optional<int64_t> size = mlir::getConstantIntValue(subview.getMixedSizes()[i]);
      std::optional<int64_t> stride = mlir::getConstantIntValue(subview.getMixedStrides()[i]);
      if (!offset || *offset != 0 || !size || *size != shape[i] || !stride || *stride != 1)
        return false;
    }
    view = subview.getSource();
  }
  return true;
}

// A transfer that moves the whole of its static buffer, unmasked, from index 0.
template <typename TransferOp>
bool IsWholeTransfer(TransferOp op) {
  auto type = llvm::dyn_cast<mlir::MemRefType>(op.getBase().getType());
  return type && type.hasStaticShape() && !op.getMask() && AllZero(op.getIndices()) &&
         op.getPermutationMap().isMinorIdentity() &&
         op.getVectorType().getShape() == type.getShape();
}

// Whether any op strictly between `from` and `to` (same block) may touch the memory `view`
// covers.
bool TouchesViewBetween(mlir::Operation* from, mlir::Operation* to, mlir::Value view) {
  const mlir::Value root = RootOf(view);
  bool touches = false;
  for (mlir::Operation* op = from->getNextNode(); op && op != to && !touches;
       op = op->getNextNode()) {
    op->walk([&](mlir::Operation* inner) {
      if (mlir::Value accessed = AccessedView(inner)) {
        mlir::Value accessed_root = RootOf(accessed);
        if (!accessed_root || (accessed_root == root && !DisjointViews(accessed, view)))
          touches = true;
        return;
      }
      if (!mlir::isMemoryEffectFree(inner) &&
          !llvm::isa<mlir::scf::ForOp, mlir::scf::YieldOp, mlir::vector::MaskOp>(inner))
        touches = true;
    });
  }
  return touches;
}

// Iterations of `loop` times those of the longest nest inside it (0 when not static).
int64_t TripProduct(mlir::scf::ForOp loop) {
  std::optional<int64_t> lb = mlir::getConstantIntValue(loop.getLowerBound());
  std::optional<int64_t> ub = mlir::getConstantIntValue(loop.getUpperBound());
  std::optional<int64_t> step = mlir::getConstantIntValue(loop.getStep());
  if (!lb || !ub || !step || *step <= 0) return 0;
  int64_t inner = 1;
  for (auto nested : loop.getBody()->getOps<mlir::scf::ForOp>())
    inner = std::max(inner, TripProduct(nested));
  return (*ub - *lb + *step - 1) / *step * inner;
}

// Whether iter_arg `index` of `loop` only ever gets things added to it: its one use chain
// runs through add-kind contractions, FMAs (as the addend), additions and nested loops'
// iter_args to the yield.
bool OnlyAddsInto(mlir::scf::ForOp loop, unsigned index) {
  mlir::Value value = loop.getRegionIterArgs()[index];
  while (true) {
    if (!value.hasOneUse()) return false;
    mlir::OpOperand& use = *value.use_begin();
    mlir::Operation* user = use.getOwner();
    if (auto yield = llvm::dyn_cast<mlir::scf::YieldOp>(user))
      return yield->getParentOp() == loop && use.getOperandNumber() == index;
    if (auto contract = llvm::dyn_cast<mlir::vector::ContractionOp>(user)) {
      if (contract.getKind() != mlir::vector::CombiningKind::ADD ||
          use.get() != contract.getAcc() || contract.getLhs() == value ||
          contract.getRhs() == value)
        return false;
      value = contract.getResult();
    } else if (auto fma = llvm::dyn_cast<mlir::vector::FMAOp>(user)) {
      if (use.getOperandNumber() != 2 || fma.getLhs() == value || fma.getRhs() == value)
        return false;
      value = fma.getResult();
    } else if (auto add = llvm::dyn_cast<mlir::arith::AddFOp>(user)) {
      if (add.getLhs() == add.getRhs()) return false;
      value = add.getResult();
    } else if (auto nested = llvm::dyn_cast<mlir::scf::ForOp>(user)) {
      unsigned inner = use.getOperandNumber() - nested.getNumControlOperands();
      if (use.getOperandNumber() < nested.getNumControlOperands() || !OnlyAddsInto(nested, inner))
        return false;
      value = nested.getResult(inner);
    } else {
      return false;
    }
  }
}

// Loops shorter than this keep reading their accumulator first: the read's latency is not
// worth hiding.
constexpr int64_t kDeferMinIterations = 64;

}  // namespace

void DeferAccumulatorReads(mlir::func::FuncOp dispatch) {
  llvm::SmallVector<mlir::scf::ForOp> loops;
  dispatch.walk([&](mlir::scf::ForOp loop) { loops.push_back(loop); });
  for (mlir::scf::ForOp loop : loops) {
    if (TripProduct(loop) < kDeferMinIterations) continue;
    for (unsigned i = 0; i < loop.getNumRegionIterArgs(); ++i) {
      auto read = loop.getInitArgs()[i].getDefiningOp<mlir::vector::TransferReadOp>();
      if (!read || read->getBlock() != loop->getBlock() || !read->hasOneUse() || read.getMask() ||
          !read.getPermutationMap().isMinorIdentity() ||
          llvm::any_of(read.getInBoundsValues(), [](bool b) { return !b; }) ||
          !llvm::isa<mlir::FloatType>(read.getVectorType().getElementType()))
        continue;
      mlir::Value result = loop.getResult(i);
      if (!result.hasOneUse()) continue;
      auto write = llvm::dyn_cast<mlir::vector::TransferWriteOp>(*result.getUsers().begin());
      if (!write || write->getBlock() != loop->getBlock() || write.getBase() != read.getBase() ||
          write.getIndices() != read.getIndices() ||
          write.getPermutationMap() != read.getPermutationMap() || write.getMask() ||
          !OnlyAddsInto(loop, i))
        continue;
      // Nothing between the read and the write (the loop included) may touch the buffer: the
      // read moves past all of it.
      mlir::Value root = RootOf(read.getBase());
      if (!root || TouchesViewBetween(read, write, read.getBase())) continue;
      auto buffer = llvm::cast<mlir::MemRefType>(read.getBase().getType());
      llvm::SmallVector<int64_t> strides;
      int64_t offset = 0;
      if (mlir::failed(buffer.getStridesAndOffset(strides, offset)) || strides.back() != 1)
        continue;

      // Prefetch every cache line of the tile: each row's start and every 64 bytes after,
      // plus its last element (a row need not start on a line).
      mlir::OpBuilder b(read);
      mlir::Location loc = read.getLoc();
      llvm::ArrayRef<int64_t> shape = read.getVectorType().getShape();
      const int64_t rank = shape.size();
      const int64_t per_line =
          std::max<int64_t>(1, 512 / read.getVectorType().getElementTypeBitWidth());
      int64_t rows = 1;
      for (int64_t d = 0; d + 1 < rank; ++d) rows *= shape[d];
      if (rows <= 64) {
        auto buffer_rank = buffer.getRank();
        for (int64_t r = 0; r < rows; ++r) {
          llvm::SmallVector<int64_t> position(rank, 0);
          for (int64_t d = rank - 2, rest = r; d >= 0; --d) {
            position[d] = rest % shape[d];
            rest /= shape[d];
          }
          llvm::SmallVector<int64_t> columns;
          for (int64_t c = 0; c < shape.back(); c += per_line) columns.push_back(c);
          if (shape.back() - 1 > columns.back()) columns.push_back(shape.back() - 1);
          for (int64_t column : columns) {
            position.back() = column;
            llvm::SmallVector<mlir::Value> indices(read.getIndices());
            for (int64_t d = 0; d < rank; ++d) {
              if (position[d] == 0) continue;
              unsigned dim = buffer_rank - rank + d;
              indices[dim] = b.createOrFold<mlir::arith::AddIOp>(
                  loc, indices[dim], mlir::arith::ConstantIndexOp::create(b, loc, position[d]));
            }
            mlir::memref::PrefetchOp::create(b, loc, read.getBase(), indices,
                                             /*isWrite=*/true, /*localityHint=*/3,
                                             /*isDataCache=*/true);
          }
        }
      }
      auto zero = mlir::arith::ConstantOp::create(b, loc, b.getZeroAttr(read.getVectorType()));
      loop.getInitArgsMutable()[i].assign(zero);
      read->moveBefore(write);
      b.setInsertionPoint(write);
      auto sum = mlir::arith::AddFOp::create(b, loc, read.getResult(), result);
      write.getValueToStoreMutable().assign(sum);
    }
  }
}

void ForwardSplatInits(mlir::func::FuncOp dispatch) {
  llvm::SmallVector<mlir::vector::TransferWriteOp> fills;
  dispatch.walk([&](mlir::vector::TransferWriteOp write) {
    mlir::DenseElementsAttr value;
    if (mlir::matchPattern(write.getVector(), mlir::m_Constant(&value)) && value.isSplat() &&
        IsWholeTransfer(write) && RootOf(write.getBase()))
      fills.push_back(write);
  });
  for (mlir::vector::TransferWriteOp fill : fills) {
    mlir::Value root = RootOf(fill.getBase());
    auto splat = llvm::cast<mlir::DenseElementsAttr>(
        llvm::cast<mlir::arith::ConstantOp>(fill.getVector().getDefiningOp()).getValue());
    // The first access of the fill's tile after the fill: the accumulator read it
    // initializes. Accesses to other buffers, or to tiles of this one beside it (the parts of
    // a cut ragged tile are filled one after the other), may come first.
    mlir::Operation* next = fill->getNextNode();
    while (next && (mlir::isMemoryEffectFree(next) || [&] {
             mlir::Value accessed = AccessedView(next);
             mlir::Value accessed_root = accessed ? RootOf(accessed) : mlir::Value();
             return accessed_root &&
                    (accessed_root != root || DisjointViews(accessed, fill.getBase()));
           }()))
      next = next->getNextNode();
    auto read = llvm::dyn_cast_or_null<mlir::vector::TransferReadOp>(next);
    if (!read || !IsWholeTransfer(read) || !IsWholeView(read.getBase(), fill.getBase())) continue;
    mlir::OpBuilder builder(read);
    auto constant = mlir::arith::ConstantOp::create(
        builder, read.getLoc(),
        mlir::DenseElementsAttr::get(read.getVectorType(), splat.getSplatValue<mlir::Attribute>()));
    read.getResult().replaceAllUsesWith(constant.getResult());
    read->erase();
    // The accumulator store that overwrites the whole tile, with nothing reading it between.
    for (mlir::Operation* op = fill->getNextNode(); op; op = op->getNextNode()) {
      auto store = llvm::dyn_cast<mlir::vector::TransferWriteOp>(op);
      if (!store || RootOf(store.getBase()) != root ||
          DisjointViews(store.getBase(), fill.getBase()))
        continue;
      if (IsWholeTransfer(store) && IsWholeView(store.getBase(), fill.getBase()) &&
          !TouchesViewBetween(fill, store, fill.getBase()))
        fill->erase();
      break;
    }
  }
}

void HoistAccumulators(mlir::func::FuncOp dispatch) {
  bool changed = true;
  while (changed) {
    changed = false;
    llvm::SmallVector<mlir::scf::ForOp> loops;
    dispatch.walk([&](mlir::scf::ForOp loop) { loops.push_back(loop); });  // innermost first
    for (mlir::scf::ForOp loop : loops) {
      if (HoistOne(loop)) {
        changed = true;
        break;  // loops were rewritten: collect them again
      }
    }
  }
}

}  // namespace kiln::compiler
