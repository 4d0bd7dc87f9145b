// The workgroup level of a dispatch's lowering config: along which output dimension, and in
// tiles of what size, a dispatch is split into workgroups that the task executor's workers
// run in parallel. kiln-select-lowering-strategy records it as `workgroup_tiles` in each op's
// #kiln.lowering_config; kiln-distribute-workgroups applies it to dispatches of async
// functions and chooses nothing.
#ifndef KILN_COMPILER_SERVICE_CODEGEN_WORKGROUP_TILES_H_
#define KILN_COMPILER_SERVICE_CODEGEN_WORKGROUP_TILES_H_

#include <cstdint>
#include <optional>
#include <utility>

#include "compiler_service/codegen/target_info.h"
#include "llvm/ADT/SmallVector.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace kiln::compiler {

struct WorkgroupOptions {
  int64_t target_workgroups = 16;  // per dispatch: over-decomposed for load balance
  // No workgroup smaller than this many iteration points: below it the hand-off to a worker
  // costs more than the work.
  int64_t min_work_per_workgroup = 32768;
};

// Each linalg op of `dispatch` (in walk order) with its workgroup tile per loop (0: not split;
// exactly one loop split, the one that iterates the chosen output dimension), or nothing when
// the dispatch is better left one workgroup (too little work, or slices that would read what
// another workgroup writes).
std::optional<llvm::SmallVector<std::pair<mlir::linalg::LinalgOp, llvm::SmallVector<int64_t>>>>
ChooseWorkgroupTiles(mlir::func::FuncOp dispatch, const TargetInfo& target,
                     const WorkgroupOptions& options);

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_CODEGEN_WORKGROUP_TILES_H_
