// kiln-choose-execution-model: see Passes.td.
#include "absl/strings/str_cat.h"
#include "compiler_service/codegen/byte_size.h"
#include "compiler_service/transforms/passes.h"
#include "mlir/IR/SymbolTable.h"

namespace kiln::compiler {

#define GEN_PASS_DEF_CHOOSEEXECUTIONMODEL
#include "compiler_service/transforms/Passes.h.inc"

namespace {

struct DispatchCost {
  int64_t work = 0;         // iteration-space points of all its ops
  int64_t parallelism = 1;  // parallel iteration points of its largest op
  int64_t bytes = 0;        // the buffers its ops read and write
};

DispatchCost Estimate(mlir::func::FuncOp dispatch) {
  DispatchCost cost;
  int64_t largest = 0;
  dispatch.walk([&](mlir::linalg::LinalgOp op) {
    int64_t points = 1, parallel = 1;
    for (auto [range, type] : llvm::zip(op.getStaticLoopRanges(), op.getIteratorTypesArray())) {
      int64_t extent = mlir::ShapedType::isDynamic(range) ? 1 : range;
      points *= extent;
      if (type == mlir::utils::IteratorType::parallel) parallel *= extent;
    }
    cost.work += points;
    for (mlir::Value operand : op->getOperands())
      if (llvm::isa<mlir::MemRefType>(operand.getType()))
        cost.bytes += StaticBytes(operand.getType());
    if (points > largest) {
      largest = points;
      cost.parallelism = parallel;
    }
  });
  return cost;
}

std::string Millions(int64_t n) {
  if (n >= 1000000) return absl::StrCat(n / 1000000, ".", (n % 1000000) / 100000, "M");
  if (n >= 1000) return absl::StrCat(n / 1000, "K");
  return absl::StrCat(n);
}

struct ChooseExecutionModelPass : public impl::ChooseExecutionModelBase<ChooseExecutionModelPass> {
  using ChooseExecutionModelBase::ChooseExecutionModelBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    if (model != "auto" && model != kAsyncModel && model != kInlineModel) {
      module.emitError() << "unknown execution model '" << model << "'";
      return signalPassFailure();
    }
    mlir::SymbolTable symbols(module);
    for (auto host : module.getOps<mlir::func::FuncOp>()) {
      if (!host.isPublic() || host.isExternal()) continue;
      // big_work: the points in dispatches of minWorkPerDispatch or more, the ones a second
      // thread can speed up by more than their queue submission and fence cost.
      int64_t work = 0, big_work = 0, parallelism = 1, dispatches = 0, bytes = 0;
      host.walk([&](mlir::func::CallOp call) {
        if (!call->hasAttr(kDispatchAttr)) return;
        auto dispatch = symbols.lookup<mlir::func::FuncOp>(call.getCallee());
        DispatchCost cost = Estimate(dispatch);
        work += cost.work;
        if (cost.work >= minWorkPerDispatch) big_work += cost.work;
        parallelism = std::max(parallelism, cost.parallelism);
        bytes = std::max(bytes, cost.bytes);
        ++dispatches;
      });
      std::string chosen, reason;
      std::string summary = absl::StrCat(Millions(work), " iteration points over ", dispatches,
                                         dispatches == 1 ? " dispatch" : " dispatches");
      if (model != "auto") {
        chosen = model;
        reason = absl::StrCat("requested by the compile options (", summary, ")");
      } else if (work < inlineWorkThreshold && bytes >= inlineBytesThreshold && parallelism >= 2) {
        // Little arithmetic over much memory (a vector times a weight matrix): bound by
        // memory bandwidth, which each worker's core adds to. 1x513x1000 on two threads:
        // 20 us async against 28 inline.
        chosen = kAsyncModel;
        reason = absl::StrCat(summary, ", ", bytes / 1024,
                              " KB in one dispatch: "
                              "memory-bound, so workgroups run on the task executor's workers "
                              "for their bandwidth");
      } else if (work < inlineWorkThreshold) {
        // Measured on two threads (the caller helps, so a worker still waking up costs only
        // the hand-off): 64x256x64 (1.0M points) 12 us async against 19 inline, 49x576x64
        // (1.8M) 21 against 33; at 0.5M they were even. The threshold was 4M before workers
        // spun briefly between calls.
        chosen = kInlineModel;
        reason = absl::StrCat(summary,
                              ": too little work to pay for queue, fence and worker "
                              "hand-off, so it runs on the calling thread");
      } else if (big_work < inlineWorkThreshold) {
        // About 0.3 us of queue and fence per async dispatch (benchmarks/dispatch_overhead.sh)
        // against about 1 us that a second thread saves on 128K points: what counts is the
        // work in dispatches at least that big, not an average that one big product among
        // many small ops would carry.
        chosen = kInlineModel;
        reason = absl::StrCat(summary,
                              ": dispatches too small to pay for a queue submission "
                              "and fence each, so it runs on the calling thread");
      } else if (parallelism < 2) {
        chosen = kInlineModel;
        reason = absl::StrCat(summary, ": no parallel dimension to spread over workers");
      } else {
        chosen = kAsyncModel;
        reason = absl::StrCat(summary, ", up to ", Millions(parallelism),
                              " parallel points per dispatch: workgroups run on the task "
                              "executor's workers");
      }
      mlir::Builder b(host.getContext());
      host->setAttr(kExecutionModelAttr, b.getStringAttr(chosen));
      host->setAttr(kExecutionModelReasonAttr, b.getStringAttr(reason));
    }
  }
};

}  // namespace
}  // namespace kiln::compiler
