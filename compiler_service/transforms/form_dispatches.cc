// kiln-form-dispatches: see Passes.td.
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
      // A fill that initializes the next op's output is part of that op's dispatch.
      if (auto fill = llvm::dyn_cast<mlir::linalg::FillOp>(ops[i]); fill && i + 1 < ops.size()) {
        auto next = llvm::cast<mlir::linalg::LinalgOp>(ops[i + 1]);
        mlir::Value filled = fill.getDpsInitOperand(0)->get();
        if (ops[i]->getNextNode() == ops[i + 1] &&
            llvm::any_of(next.getDpsInitsMutable(),
                         [&](mlir::OpOperand& init) { return init.get() == filled; })) {
          groups.push_back({ops[i], ops[i + 1]});
          ++i;
          continue;
        }
      }
      groups.push_back({ops[i]});
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
