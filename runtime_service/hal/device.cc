#include "runtime_service/hal/device.h"

#include <utility>

#include "runtime_service/base/status_macros.h"

namespace kiln::hal {

absl::StatusOr<std::shared_ptr<Device>> Device::Create(const Options& options) {
  std::shared_ptr<Device> device(new Device());
  KILN_ASSIGN_OR_RETURN(device->executor_,
                        TaskExecutor::Create({options.worker_count, options.pin_workers}));
  device->queue_ = std::make_unique<Queue>(*device->executor_);
  return device;
}

absl::Status Device::Wait(const Fence& fence, absl::Time deadline) {
  if (deadline == absl::InfiniteFuture() || deadline > absl::Now())
    executor_->HelpWhile([&fence] { return !fence.Ready(); });
  return fence.Wait(deadline);
}

absl::Status Device::Wait(const Semaphore& semaphore, uint64_t value, absl::Time deadline) {
  if (deadline == absl::InfiniteFuture() || deadline > absl::Now()) {
    executor_->HelpWhile([&semaphore, value] {
      auto payload = semaphore.Query();
      return payload.ok() && *payload < value;
    });
  }
  return semaphore.Wait(value, deadline);
}

}  // namespace kiln::hal
