// kiln-plan-memory: see Passes.td.
#include "compiler_service/codegen/byte_size.h"
#include "compiler_service/transforms/passes.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_PLANMEMORY
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct Interval {
  mlir::memref::AllocOp alloc;
  int64_t bytes = 0;
  int64_t begin = 0;  // position of the definition
  int64_t end = 0;    // position of the last use
  int64_t offset = -1;
};

int64_t AlignUp(int64_t value, int64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

struct PlanMemoryPass : public impl::PlanMemoryBase<PlanMemoryPass> {
  void runOnOperation() override {
    for (auto host : getOperation().getOps<mlir::func::FuncOp>()) {
      if (!host.isPublic() || host.isExternal()) continue;
      if (mlir::failed(Plan(host))) return signalPassFailure();
    }
  }

  mlir::LogicalResult Plan(mlir::func::FuncOp host) {
    llvm::DenseMap<mlir::Operation*, int64_t> position;
    int64_t next = 0;
    for (mlir::Operation& op : host.getBody().front()) position[&op] = next++;
    std::vector<Interval> intervals;
    for (mlir::Operation& op : host.getBody().front()) {
      auto alloc = llvm::dyn_cast<mlir::memref::AllocOp>(op);
      if (!alloc) continue;
      mlir::MemRefType type = alloc.getType();
      if (!type.hasStaticShape() || !type.getLayout().isIdentity())
        return alloc.emitError() << "transient buffers must have a static identity layout";
      Interval interval;
      interval.alloc = alloc;
      interval.bytes = AlignUp(StaticBytes(type), kArenaAlignment);
      interval.begin = interval.end = position[&op];
      for (mlir::Operation* user : alloc->getUsers()) {
        mlir::Operation* top = host.getBody().front().findAncestorOpInBlock(*user);
        if (top) interval.end = std::max(interval.end, position[top]);
      }
      intervals.push_back(interval);
    }
    // Largest first, each at the lowest offset that does not collide with an already placed
    // buffer whose lifetime overlaps: the classic greedy packing, near-optimal in practice.
    std::vector<Interval*> order;
    order.reserve(intervals.size());
    for (Interval& interval : intervals) order.push_back(&interval);
    std::stable_sort(order.begin(), order.end(),
                     [](const Interval* a, const Interval* b) { return a->bytes > b->bytes; });
    std::vector<Interval*> placed;
    int64_t arena_size = 0;
    for (Interval* interval : order) {
      std::vector<std::pair<int64_t, int64_t>> taken;
      for (Interval* other : placed)
        if (other->begin <= interval->end && interval->begin <= other->end)
          taken.push_back({other->offset, other->offset + other->bytes});
      std::sort(taken.begin(), taken.end());
      int64_t offset = 0;
      for (auto [start, stop] : taken) {
        if (offset + interval->bytes <= start) break;
        offset = std::max(offset, stop);
      }
      interval->offset = offset;
      arena_size = std::max(arena_size, offset + interval->bytes);
      placed.push_back(interval);
    }
    mlir::Builder b(host.getContext());
    for (Interval& interval : intervals)
      interval.alloc->setAttr(kArenaOffsetAttr, b.getI64IntegerAttr(interval.offset));
    host->setAttr(kArenaSizeAttr, b.getI64IntegerAttr(arena_size));
    return mlir::success();
  }
};

}  // namespace
}  // namespace kiln::compiler
