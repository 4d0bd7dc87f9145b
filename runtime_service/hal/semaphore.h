// Timeline semaphores and fences: how HAL submissions wait for each other and how a caller
// waits for a submission. A semaphore holds a monotonically increasing uint64 payload; waiting
// for value v returns once the payload reaches v. A failed semaphore carries the error, which
// every current and future waiter receives (so a failing dispatch reaches the caller).
#ifndef KILN_RUNTIME_SERVICE_HAL_SEMAPHORE_H_
#define KILN_RUNTIME_SERVICE_HAL_SEMAPHORE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::hal {

class Semaphore {
 public:
  explicit Semaphore(uint64_t initial_value = 0) : value_(initial_value) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // The current payload, or the failure.
  absl::StatusOr<uint64_t> Query() const;

  // Advances the payload to `value` and wakes whoever waits for at most `value`.
  // INVALID_ARGUMENT when `value` does not exceed the current payload (timelines only move
  // forward); the failure when the semaphore has failed.
  absl::Status Signal(uint64_t value);

  // Puts the semaphore in the failed state for good. The first failure wins; `status` must not
  // be OK (an OK status becomes INTERNAL).
  void Fail(absl::Status status);

  // Blocks until the payload reaches `value` (OK), `deadline` passes (DEADLINE_EXCEEDED), or
  // the semaphore fails (its error). absl::InfinitePast() polls.
  absl::Status Wait(uint64_t value, absl::Time deadline = absl::InfiniteFuture()) const;

  // Calls `callback` once the payload reaches `value` (OK) or the semaphore fails (the error):
  // right away on this thread if that is already so, otherwise on the signalling thread.
  // Callbacks must be quick and must not call back into this semaphore's Wait.
  void OnReached(uint64_t value, std::function<void(absl::Status)> callback);

 private:
  struct Listener {
    uint64_t value;
    std::function<void(absl::Status)> callback;
  };

  mutable std::mutex mutex_;
  mutable std::condition_variable reached_;
  uint64_t value_;
  absl::Status failure_;  // OK unless failed
  std::vector<Listener> listeners_;
};

// A point on a semaphore's timeline.
struct SemaphoreValue {
  std::shared_ptr<Semaphore> semaphore;
  uint64_t value = 0;
};

// A set of timeline points that together mean "done".
class Fence {
 public:
  Fence() = default;
  explicit Fence(std::vector<SemaphoreValue> points) : points_(std::move(points)) {}

  void Add(std::shared_ptr<Semaphore> semaphore, uint64_t value) {
    points_.push_back({std::move(semaphore), value});
  }
  const std::vector<SemaphoreValue>& points() const { return points_; }

  // Waits for every point; returns the first error (a failure or DEADLINE_EXCEEDED).
  absl::Status Wait(absl::Time deadline = absl::InfiniteFuture()) const;
  // True when every point is reached or one has failed (Wait would return at once).
  bool Ready() const;

 private:
  std::vector<SemaphoreValue> points_;
};

}  // namespace kiln::hal

#endif  // KILN_RUNTIME_SERVICE_HAL_SEMAPHORE_H_
