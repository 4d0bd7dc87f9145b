#include "runtime_service/hal/semaphore.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace kiln::hal {

absl::StatusOr<uint64_t> Semaphore::Query() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!failure_.ok()) return failure_;
  return value_;
}

absl::Status Semaphore::Signal(uint64_t value) {
  std::vector<Listener> due;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failure_.ok()) return failure_;
    if (value <= value_) {
      return absl::InvalidArgumentError(
          absl::StrCat("semaphore signalled to ", value, " but its payload is already ", value_));
    }
    value_ = value;
    // Listeners are few (one per pending submission); a linear partition is enough.
    auto keep = listeners_.begin();
    for (auto it = listeners_.begin(); it != listeners_.end(); ++it) {
      if (it->value <= value) {
        due.push_back(std::move(*it));
      } else {
        if (keep != it) *keep = std::move(*it);
        ++keep;
      }
    }
    listeners_.erase(keep, listeners_.end());
  }
  reached_.notify_all();
  // Outside the lock: a callback may start a submission that signals other semaphores.
  for (Listener& listener : due) listener.callback(absl::OkStatus());
  return absl::OkStatus();
}

void Semaphore::Fail(absl::Status status) {
  if (status.ok()) status = absl::InternalError("semaphore failed with an OK status");
  std::vector<Listener> due;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failure_.ok()) return;
    failure_ = status;
    due.swap(listeners_);
  }
  reached_.notify_all();
  for (Listener& listener : due) listener.callback(status);
}

absl::Status Semaphore::Wait(uint64_t value, absl::Time deadline) const {
  std::unique_lock<std::mutex> lock(mutex_);
  auto done = [&] { return !failure_.ok() || value_ >= value; };
  if (deadline == absl::InfiniteFuture()) {
    reached_.wait(lock, done);
  } else if (!done()) {
    // absl::ToChronoTime saturates far-future times, so wait_until never overflows.
    if (!reached_.wait_until(lock, absl::ToChronoTime(deadline), done)) {
      return absl::DeadlineExceededError(
          absl::StrCat("semaphore wait for ", value, " timed out at payload ", value_));
    }
  }
  return failure_;
}

void Semaphore::OnReached(uint64_t value, std::function<void(absl::Status)> callback) {
  absl::Status now;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_.ok() && value_ < value) {
      listeners_.push_back({value, std::move(callback)});
      return;
    }
    now = failure_;
  }
  callback(std::move(now));
}

absl::Status Fence::Wait(absl::Time deadline) const {
  if (points_.size() == 1) return points_[0].semaphore->Wait(points_[0].value, deadline);
  // A failure of any point ends the wait at once, even while earlier points are pending, so
  // the points are watched together rather than waited for one by one.
  bool reached = true;
  for (const SemaphoreValue& point : points_) {
    auto value = point.semaphore->Query();
    if (!value.ok()) return value.status();
    reached = reached && *value >= point.value;
  }
  if (reached) return absl::OkStatus();
  if (deadline <= absl::Now()) return absl::DeadlineExceededError("fence wait timed out");

  struct Watch {
    std::mutex mutex;
    std::condition_variable changed;
    size_t remaining = 0;
    absl::Status failure;
  };
  auto watch = std::make_shared<Watch>();
  watch->remaining = points_.size();
  for (const SemaphoreValue& point : points_) {
    point.semaphore->OnReached(point.value, [watch](absl::Status status) {
      std::lock_guard<std::mutex> lock(watch->mutex);
      if (!status.ok() && watch->failure.ok()) watch->failure = std::move(status);
      --watch->remaining;
      watch->changed.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(watch->mutex);
  auto done = [&] { return watch->remaining == 0 || !watch->failure.ok(); };
  if (deadline == absl::InfiniteFuture()) {
    watch->changed.wait(lock, done);
  } else if (!watch->changed.wait_until(lock, absl::ToChronoTime(deadline), done)) {
    return absl::DeadlineExceededError("fence wait timed out");
  }
  return watch->failure;
}

bool Fence::Ready() const {
  bool reached = true;
  for (const SemaphoreValue& point : points_) {
    auto value = point.semaphore->Query();
    if (!value.ok()) return true;  // a failure ends the wait, whatever the other points say
    reached = reached && *value >= point.value;
  }
  return reached;
}

}  // namespace kiln::hal
