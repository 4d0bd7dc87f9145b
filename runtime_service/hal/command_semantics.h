// What one command does, defined once for every executor (the task executor's workers and the
// inline executor's calling thread): a dispatch's workgroup, a copy, a fill. Executors differ
// only in who runs these and in what order between barriers.
#ifndef KILN_RUNTIME_SERVICE_HAL_COMMAND_SEMANTICS_H_
#define KILN_RUNTIME_SERVICE_HAL_COMMAND_SEMANTICS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "runtime_service/executable_abi.h"
#include "runtime_service/hal/command_buffer.h"

namespace kiln::hal {

// Runs workgroup `index` (linear, x fastest) of `dispatch` with its resolved `state`.
// KILN_DISPATCH_INDEX_OUT_OF_RANGE is INVALID_ARGUMENT (the inputs' fault); any other non-zero
// code is INTERNAL "<label> failed with code N in workgroup (x, y, z)"; the message is
// built without throwing (RESOURCE_EXHAUSTED if even that cannot be allocated), so this may run
// on a worker thread.
absl::Status RunWorkgroup(const DispatchCommand& dispatch, const kiln_dispatch_state_t& state,
                          uint64_t index, uint32_t worker_id);

// `fill.target.length` bytes at `target`: the pattern repeated.
void RunFill(const FillCommand& fill, uint8_t* target);

// `copy.source.length` bytes; source and target may overlap.
void RunCopy(const CopyCommand& copy, const uint8_t* source, uint8_t* target);

// The error an executor reports when it cannot get memory for its own tables.
const absl::Status& ExecutorOutOfMemory();

}  // namespace kiln::hal

#endif  // KILN_RUNTIME_SERVICE_HAL_COMMAND_SEMANTICS_H_
