// kiln-form-dispatches: see Passes.td.
#include "compiler_service/codegen/op_queries.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_FORMDISPATCHES
#include "compiler_service/transforms/Passes.h.inc"

namespace {

bool IsViewOp(mlir::Operation* op) {
  return llvm::isa<mlir::memref::SubViewOp, mlir::memref::ExpandShapeOp,
                   mlir::memref::CollapseShapeOp, mlir::memref::CastOp,
                   mlir::memref::ReinterpretCastOp, mlir::memref::TransposeOp>(op);
}

// The buffer a value views: a host argument, a transient or a constant.
mlir::FailureOr<mlir::Value> TraceRoot(mlir::Value value, mlir::Operation* user) {
  while (mlir::Operation* def = value.getDefiningOp()) {
    if (IsViewOp(def)) {
      value = def->getOperand(0);
      continue;
    }
    if (llvm::isa<mlir::memref::AllocOp, mlir::memref::GetGlobalOp>(def)) return value;
    return user->emitError() << "cannot form a dispatch: buffer operand is produced by '"
                             << def->getName() << "'";
  }
  return value;  // a block argument of the host function
}

// Ops a dispatch may recompute from its bindings: views and side-effect-free scalar code.
bool IsClonable(mlir::Operation* op) {
  return IsViewOp(op) || op->hasTrait<mlir::OpTrait::ConstantLike>() ||
         (mlir::isPure(op) && op->getNumRegions() == 0 &&
          llvm::none_of(op->getResultTypes(),
                        [](mlir::Type t) { return llvm::isa<mlir::MemRefType>(t); }));
}

// Only side-effect-free ops (views, constants) between `first` and `second` in their block.
bool OnlyPureBetween(mlir::Operation* first, mlir::Operation* second) {
  for (mlir::Operation* op = first->getNextNode(); op != second; op = op->getNextNode())
    if (op == nullptr || !mlir::isMemoryEffectFree(op)) return false;
  return true;
}

// `producer` writes exactly the buffer `op` then accumulates into: a fill before any op, or
// an all-parallel op with an identity output map (a broadcast bias) before a reduction.
bool InitializesOutputOf(mlir::Operation* producer, mlir::Operation* op) {
  auto p = llvm::cast<mlir::linalg::LinalgOp>(producer);
  auto next = llvm::cast<mlir::linalg::LinalgOp>(op);
  if (p.getNumDpsInits() != 1 || !OnlyPureBetween(producer, op)) return false;
  mlir::Value written = p.getDpsInitOperand(0)->get();
  if (llvm::none_of(next.getDpsInitsMutable(),
                    [&](mlir::OpOperand& init) { return init.get() == written; }))
    return false;
  if (llvm::isa<mlir::linalg::FillOp>(producer)) return true;
  if (!AllParallel(p) || next.getNumReductionLoops() == 0 || next.getNumDpsInits() != 1 ||
      !p.getMatchingIndexingMap(p.getDpsInitOperand(0)).isIdentity())
    return false;
  // It reads nothing of the output but its own element (so any slice of it can be made on
  // its own).
  const mlir::Value root = ViewedBuffer(written);
  return llvm::all_of(p.getDpsInputOperands(),
                      [&](mlir::OpOperand* input) { return ViewedBuffer(input->get()) != root; });
}

// `op` (the next linalg op after `previous`, the last of `group`) is elementwise over the
// slice `current` that the group wrote: all-parallel, an identity map on an output of
// `current`'s shape, reading `current` at the element it writes, and touching no other buffer
// the group reads or writes in a way a workgroup's slice would not cover (kiln-distribute-
// workgroups splits every op of a dispatch along the same output dimension).
bool ConsumesSlice(mlir::Operation* previous, mlir::Operation* op, mlir::Value current,
                   llvm::ArrayRef<mlir::Operation*> group) {
  auto consumer = llvm::dyn_cast<mlir::linalg::LinalgOp>(op);
  if (!consumer || !consumer.hasPureBufferSemantics() || consumer.getNumDpsInits() != 1 ||
      !AllParallel(consumer) || !OnlyPureBetween(previous, op))
    return false;
  mlir::OpOperand* init = consumer.getDpsInitOperand(0);
  if (!consumer.getMatchingIndexingMap(init).isIdentity()) return false;
  auto current_type = llvm::dyn_cast<mlir::MemRefType>(current.getType());
  auto init_type = llvm::dyn_cast<mlir::MemRefType>(init->get().getType());
  if (!current_type || !init_type || !current_type.hasStaticShape() ||
      current_type.getShape() != init_type.getShape())
    return false;
  // The buffers the group reads (other than through `current`) and writes.
  llvm::SmallPtrSet<mlir::Value, 8> read_roots, written_roots;
  for (mlir::Operation* member : group) {
    auto linalg_op = llvm::cast<mlir::linalg::LinalgOp>(member);
    for (mlir::OpOperand* input : linalg_op.getDpsInputOperands())
      read_roots.insert(ViewedBuffer(input->get()));
    // And the buffers a body reads at computed indices (a gather's table).
    llvm::SetVector<mlir::Value> captured;
    mlir::getUsedValuesDefinedAbove(member->getRegions(), captured);
    for (mlir::Value value : captured)
      if (llvm::isa<mlir::MemRefType>(value.getType())) read_roots.insert(ViewedBuffer(value));
    for (mlir::OpOperand& output : linalg_op.getDpsInitsMutable())
      written_roots.insert(ViewedBuffer(output.get()));
  }
  // Writing a buffer the group reads (bufferization reuses a dead input's buffer) would race
  // with the other workgroups still reading it.
  const mlir::Value out_root = ViewedBuffer(init->get());
  if (read_roots.contains(out_root)) return false;
  if (written_roots.contains(out_root) && init->get() != current) return false;
  bool reads_current = false;
  for (mlir::OpOperand* input : consumer.getDpsInputOperands()) {
    mlir::Value value = input->get();
    const bool identity = consumer.getMatchingIndexingMap(input).isIdentity();
    if (value == current && identity) {
      reads_current = true;
      continue;
    }
    const mlir::Value root = ViewedBuffer(value);
    if (written_roots.contains(root) || root == out_root) return false;
  }
  return reads_current;
}

class DispatchOutliner {
 public:
  DispatchOutliner(mlir::func::FuncOp host, mlir::SymbolTable& symbols)
      : host_(host), symbols_(symbols) {}

  mlir::LogicalResult Run() {
    ConvertCopies();
    llvm::SmallVector<llvm::SmallVector<mlir::Operation*, 2>> groups;
    llvm::SmallVector<mlir::Operation*> ops;
    for (mlir::Operation& op : host_.getBody().front())
      if (llvm::isa<mlir::linalg::LinalgOp>(op)) ops.push_back(&op);
    for (size_t i = 0; i < ops.size(); ++i) {
      llvm::SmallVector<mlir::Operation*, 2>& group = groups.emplace_back();
      // A fill, or an elementwise op broadcasting a bias, that initializes the next op's
      // output is part of that op's dispatch.
      if (i + 1 < ops.size() && InitializesOutputOf(ops[i], ops[i + 1])) group.push_back(ops[i++]);
      group.push_back(ops[i]);
      // Elementwise consumers of a reduction's output (bias, activation, residual add, the
      // copy into a padded buffer) run in its dispatch, on each workgroup's slice while it is
      // still in cache, instead of in dispatches of their own that each pass over the whole
      // tensor again.
      auto anchor = llvm::cast<mlir::linalg::LinalgOp>(ops[i]);
      if (anchor.getNumReductionLoops() == 0 || anchor.getNumDpsInits() != 1) continue;
      mlir::Value current = anchor.getDpsInitOperand(0)->get();
      while (i + 1 < ops.size() && ConsumesSlice(ops[i], ops[i + 1], current, group)) {
        group.push_back(ops[++i]);
        current = llvm::cast<mlir::linalg::LinalgOp>(ops[i]).getDpsInitOperand(0)->get();
      }
    }
    for (auto& group : groups)
      if (mlir::failed(Outline(group))) return mlir::failure();
    Cleanup();
    return mlir::success();
  }

 private:
  void ConvertCopies() {
    llvm::SmallVector<mlir::memref::CopyOp> copies;
    host_.walk([&](mlir::memref::CopyOp copy) { copies.push_back(copy); });
    for (mlir::memref::CopyOp copy : copies) {
      mlir::OpBuilder b(copy);
      mlir::linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
      copy.erase();
    }
  }

  mlir::LogicalResult Outline(llvm::ArrayRef<mlir::Operation*> group) {
    mlir::Operation* anchor = group.back();
    llvm::SetVector<mlir::Value> roots;
    llvm::SetVector<mlir::Value> captured;
    for (mlir::Operation* op : group) {
      for (mlir::Value operand : op->getOperands()) {
        if (!llvm::isa<mlir::MemRefType>(operand.getType())) continue;
        auto root = TraceRoot(operand, op);
        if (mlir::failed(root)) return mlir::failure();
        roots.insert(*root);
      }
      mlir::getUsedValuesDefinedAbove(op->getRegions(), captured);
    }
    // Buffers read inside a region (a gather's table, loaded at computed indices) are
    // bindings too.
    for (mlir::Value value : captured) {
      if (!llvm::isa<mlir::MemRefType>(value.getType())) continue;
      auto root = TraceRoot(value, anchor);
      if (mlir::failed(root)) return mlir::failure();
      roots.insert(*root);
    }

    // The dispatch function: one argument per root buffer, then the workgroup id.
    llvm::SmallVector<mlir::Type> arg_types;
    for (mlir::Value root : roots) arg_types.push_back(root.getType());
    mlir::OpBuilder module_builder(host_);
    auto index_type = module_builder.getIndexType();
    arg_types.push_back(index_type);
    std::string name = (host_.getSymName() + "__dispatch_" + llvm::Twine(count_++)).str();
    auto dispatch = mlir::func::FuncOp::create(module_builder, anchor->getLoc(), name,
                                               module_builder.getFunctionType(arg_types, {}));
    dispatch.setPrivate();
    dispatch->setAttr(kDispatchAttr, module_builder.getUnitAttr());
    dispatch->setAttr(kWorkgroupCountAttr, module_builder.getDenseI64ArrayAttr({1, 1, 1}));
    symbols_.insert(dispatch);
    mlir::Block* body = dispatch.addEntryBlock();
    mlir::OpBuilder b = mlir::OpBuilder::atBlockBegin(body);
    mlir::IRMapping mapping;
    for (auto [root, arg] : llvm::zip(roots, body->getArguments())) mapping.map(root, arg);

    // Views and scalar constants between the roots and the ops are recomputed inside.
    std::function<mlir::LogicalResult(mlir::Value)> materialize =
        [&](mlir::Value value) -> mlir::LogicalResult {
      if (mapping.contains(value)) return mlir::success();
      mlir::Operation* def = value.getDefiningOp();
      if (def == nullptr || !IsClonable(def))
        return anchor->emitError()
               << "cannot form a dispatch: it uses a value defined by "
               << (def ? def->getName().getStringRef() : "a block argument") << " outside it";
      for (mlir::Value operand : def->getOperands())
        if (mlir::failed(materialize(operand))) return mlir::failure();
      b.clone(*def, mapping);
      return mlir::success();
    };
    for (mlir::Operation* op : group) {
      for (mlir::Value operand : op->getOperands())
        if (mlir::failed(materialize(operand))) return mlir::failure();
    }
    for (mlir::Value value : captured)
      if (mlir::failed(materialize(value))) return mlir::failure();
    for (mlir::Operation* op : group) b.clone(*op, mapping);
    mlir::func::ReturnOp::create(b, anchor->getLoc());

    // The host calls it; the workgroup-id operand is a placeholder the host program ignores.
    mlir::OpBuilder host_builder(anchor);
    llvm::SmallVector<mlir::Value> operands(roots.begin(), roots.end());
    operands.push_back(mlir::arith::ConstantIndexOp::create(host_builder, anchor->getLoc(), 0));
    auto call = mlir::func::CallOp::create(host_builder, anchor->getLoc(), dispatch, operands);
    call->setAttr(kDispatchAttr, host_builder.getUnitAttr());
    for (mlir::Operation* op : llvm::reverse(group)) op->erase();
    return mlir::success();
  }

  // Views, scalars and deallocations left in the host are dead now; transients are planned
  // by kiln-plan-memory instead of being freed.
  void Cleanup() {
    llvm::SmallVector<mlir::Operation*> deallocs;
    host_.walk([&](mlir::memref::DeallocOp op) { deallocs.push_back(op); });
    for (mlir::Operation* op : deallocs) op->erase();
    bool changed = true;
    while (changed) {
      changed = false;
      llvm::SmallVector<mlir::Operation*> dead;
      for (mlir::Operation& op : host_.getBody().front())
        if (op.use_empty() && IsClonable(&op) && !op.hasTrait<mlir::OpTrait::IsTerminator>())
          dead.push_back(&op);
      for (mlir::Operation* op : dead) op->erase();
      changed = !dead.empty();
    }
  }

  mlir::func::FuncOp host_;
  mlir::SymbolTable& symbols_;
  int count_ = 0;
};

struct FormDispatchesPass : public impl::FormDispatchesBase<FormDispatchesPass> {
  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    mlir::SymbolTable symbols(module);
    llvm::SmallVector<mlir::func::FuncOp> hosts;
    for (auto func : module.getOps<mlir::func::FuncOp>())
      if (func.isPublic() && !func.isExternal()) hosts.push_back(func);
    for (mlir::func::FuncOp host : hosts) {
      if (host.getBody().getBlocks().size() != 1) {
        host.emitError() << "cannot form dispatches: host function has control flow";
        return signalPassFailure();
      }
      DispatchOutliner outliner(host, symbols);
      if (mlir::failed(outliner.Run())) return signalPassFailure();
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
