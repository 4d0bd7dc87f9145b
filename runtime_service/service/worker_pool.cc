#include "runtime_service/service/worker_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln {

WorkerPool::WorkerPool(int workers, size_t max_queued) : max_queued_(max_queued) {
  workers = std::max(workers, 1);
  threads_.reserve(workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() { Shutdown(); }

absl::Status WorkerPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return absl::UnavailableError("the server is shutting down");
    if (queue_.size() >= max_queued_)
      return absl::ResourceExhaustedError(absl::StrCat(
          "the inference queue is full (", max_queued_, " requests waiting); retry later"));
    queue_.push_back(std::move(task));
  }
  ready_.notify_one();
  return absl::OkStatus();
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& thread : threads_)
    if (thread.joinable()) thread.join();
  threads_.clear();
}

void WorkerPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace kiln
