// A device queue: submissions of command buffers ordered only by timeline semaphores. A
// submission starts once all of its waits are reached and signals (or fails) its semaphore
// when done; submissions without a semaphore path between them may run at the same time.
#ifndef KILN_RUNTIME_SERVICE_HAL_QUEUE_H_
#define KILN_RUNTIME_SERVICE_HAL_QUEUE_H_

#include <memory>
#include <span>

#include "absl/status/status.h"
#include "runtime_service/hal/allocator.h"
#include "runtime_service/hal/command_buffer.h"
#include "runtime_service/hal/semaphore.h"
#include "runtime_service/hal/task_executor.h"

namespace kiln::hal {

// Thread-safe: any number of threads may submit at once.
class Queue {
 public:
  explicit Queue(TaskExecutor& executor) : executor_(executor) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Runs `commands` with `bindings` (binding-table entry i backs binding i) on the executor
  // once every `waits` point is reached, then signals `signal`. If a wait fails, or the
  // execution fails (e.g. a dispatch returns non-zero), `signal`'s semaphore fails with that
  // error instead, so the failure flows down the semaphore chain to whoever waits.
  // Returns at once. An error returned here (unfinalized command buffer, binding table that
  // does not match) means nothing was submitted and `signal` is untouched. The bound memory
  // must stay valid until `signal` is reached or failed.
  absl::Status Submit(std::span<const SemaphoreValue> waits,
                      std::shared_ptr<const CommandBuffer> commands,
                      std::span<const BufferView> bindings, SemaphoreValue signal);

 private:
  TaskExecutor& executor_;
};

}  // namespace kiln::hal

#endif  // KILN_RUNTIME_SERVICE_HAL_QUEUE_H_
