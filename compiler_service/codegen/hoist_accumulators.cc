#include "compiler_service/codegen/hoist_accumulators.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
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

mlir::Value AccessedRoot(mlir::Operation* op, bool& is_access) {
  is_access = true;
  if (auto read = llvm::dyn_cast<mlir::vector::TransferReadOp>(op)) return RootOf(read.getBase());
  if (auto write = llvm::dyn_cast<mlir::vector::TransferWriteOp>(op))
    return RootOf(write.getBase());
  if (auto load = llvm::dyn_cast<mlir::memref::LoadOp>(op)) return RootOf(load.getMemref());
  if (auto store = llvm::dyn_cast<mlir::memref::StoreOp>(op)) return RootOf(store.getMemref());
  if (auto load = llvm::dyn_cast<mlir::vector::LoadOp>(op)) return RootOf(load.getBase());
  if (auto store = llvm::dyn_cast<mlir::vector::StoreOp>(op)) return RootOf(store.getBase());
  is_access = false;
  return {};
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
        if (!other_root || other_root == root) conflict = true;
        return;
      }
      if (!mlir::isMemoryEffectFree(other) && !llvm::isa<mlir::scf::ForOp, mlir::scf::YieldOp,
                                                         mlir::vector::MaskOp>(other))
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

}  // namespace

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
