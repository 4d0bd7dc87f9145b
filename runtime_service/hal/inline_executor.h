// The inline executor: runs a finalized command buffer to completion on the calling thread,
// command by command and workgroup by workgroup, as IREE's inline command buffer does. It is
// the synchronous device of the inline-dynamic execution model; the task executor is the
// asynchronous one. Both run the same recorded command buffer with the same per-command
// semantics (command_semantics.h), so a program has one representation however it runs.
#ifndef KILN_RUNTIME_SERVICE_HAL_INLINE_EXECUTOR_H_
#define KILN_RUNTIME_SERVICE_HAL_INLINE_EXECUTOR_H_

#include <span>

#include "absl/status/status.h"
#include "runtime_service/hal/allocator.h"
#include "runtime_service/hal/command_buffer.h"

namespace kiln::hal {

class InlineExecutor {
 public:
  // Runs `commands` (finalized: FAILED_PRECONDITION otherwise) with `bindings`, checked as a
  // queue submission's are (INVALID_ARGUMENT, nothing run). Commands run in recorded order,
  // which satisfies every barrier. The first failing workgroup ends the run with its error
  // (INTERNAL "<label> failed with code N in workgroup (x, y, z)"); nothing after it runs.
  // Workgroups see worker_id 0.
  //
  // `dispatch_seconds`, when not empty, has one entry per command and receives each
  // dispatch's wall time (added, so that repeated runs accumulate): per-dispatch profiles.
  //
  // Thread-safe; in steady state it allocates nothing (per-thread tables, grown once).
  static absl::Status Execute(const CommandBuffer& commands, std::span<const BufferView> bindings,
                              std::span<double> dispatch_seconds = {});
};

}  // namespace kiln::hal

#endif  // KILN_RUNTIME_SERVICE_HAL_INLINE_EXECUTOR_H_
