// The local CPU device of the async HAL: owns the host allocator's arena pool, the task
// executor and the queue that feeds it. One device is meant to be shared by every module a
// process loads (LoadedModule::Load takes a shared_ptr), so all of them share one set of
// worker threads.
#ifndef KILN_RUNTIME_SERVICE_HAL_DEVICE_H_
#define KILN_RUNTIME_SERVICE_HAL_DEVICE_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime_service/hal/allocator.h"
#include "runtime_service/hal/queue.h"
#include "runtime_service/hal/semaphore.h"
#include "runtime_service/hal/task_executor.h"

namespace kiln::hal {

struct DeviceOptions {
  uint32_t worker_count = 0;  // 0: one per hardware thread
  bool pin_workers = false;   // pin worker i to the i-th allowed CPU
};

class Device {
 public:
  using Options = DeviceOptions;

  static absl::StatusOr<std::shared_ptr<Device>> Create(const Options& options = {});
  // Every submission must have completed (its semaphore reached or failed) by now.
  ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  ArenaPool& arena_pool() { return arena_pool_; }
  TaskExecutor& executor() { return *executor_; }
  Queue& queue() { return *queue_; }
  absl::StatusOr<Buffer> Allocate(size_t length) { return Buffer::Allocate(length); }

  // Fence::Wait, except that the calling thread runs queued work while the fence is not
  // ready rather than sleeping (it sleeps only once nothing is left to claim).
  absl::Status Wait(const Fence& fence, absl::Time deadline = absl::InfiniteFuture());
  absl::Status Wait(const Semaphore& semaphore, uint64_t value,
                    absl::Time deadline = absl::InfiniteFuture());

 private:
  Device() = default;

  ArenaPool arena_pool_;
  std::unique_ptr<TaskExecutor> executor_;
  std::unique_ptr<Queue> queue_;  // after executor_: destroyed first
};

}  // namespace kiln::hal

#endif  // KILN_RUNTIME_SERVICE_HAL_DEVICE_H_
