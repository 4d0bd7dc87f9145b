#include "runtime_service/hal/queue.h"

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "runtime_service/base/status_macros.h"

namespace kiln::hal {

namespace {

// A submission waiting for its semaphores. The last wait to be reached starts it.
struct PendingSubmission {
  TaskExecutor* executor;
  std::shared_ptr<const CommandBuffer> commands;
  std::vector<BufferView> bindings;
  SemaphoreValue signal;
  std::atomic<size_t> remaining;
  std::mutex mutex;
  absl::Status failure;  // first failed wait; guarded by mutex

  void WaitDone(absl::Status status) {
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(mutex);
      if (failure.ok()) failure = std::move(status);
    }
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    absl::Status failed;
    {
      std::lock_guard<std::mutex> lock(mutex);
      failed = failure;
    }
    if (!failed.ok()) {
      signal.semaphore->Fail(std::move(failed));
      return;
    }
    executor->Execute(std::move(commands), bindings, std::move(signal));
  }
};

}  // namespace

absl::Status Queue::Submit(std::span<const SemaphoreValue> waits,
                           std::shared_ptr<const CommandBuffer> commands,
                           std::span<const BufferView> bindings, SemaphoreValue signal) {
  if (commands == nullptr || !commands->finalized())
    return absl::FailedPreconditionError("only a finalized command buffer can be submitted");
  if (signal.semaphore == nullptr)
    return absl::InvalidArgumentError("a submission needs a semaphore to signal");
  for (const SemaphoreValue& wait : waits) {
    if (wait.semaphore == nullptr)
      return absl::InvalidArgumentError("a submission's wait has no semaphore");
  }
  KILN_RETURN_IF_ERROR(commands->CheckBindings(bindings));

  if (waits.empty()) {
    // The common case (nothing to wait for) allocates nothing.
    executor_.Execute(std::move(commands), bindings, std::move(signal));
    return absl::OkStatus();
  }
  auto pending = std::make_shared<PendingSubmission>();
  pending->executor = &executor_;
  pending->commands = std::move(commands);
  pending->bindings.assign(bindings.begin(), bindings.end());
  pending->signal = std::move(signal);
  pending->remaining.store(waits.size(), std::memory_order_relaxed);
  for (const SemaphoreValue& wait : waits) {
    wait.semaphore->OnReached(
        wait.value, [pending](absl::Status status) { pending->WaitDone(std::move(status)); });
  }
  return absl::OkStatus();
}

}  // namespace kiln::hal
