#include "runtime_service/service/worker_pool.h"

#include <algorithm>
#include <chrono>
#include <new>

#include "absl/strings/str_cat.h"

namespace kiln {

WorkerPool::WorkerPool(int workers, size_t max_queued) : max_queued_(max_queued) {
  workers = std::max(workers, 1);
  threads_.reserve(workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Run(); });
  total_workers_.fetch_add(workers, std::memory_order_relaxed);
}

WorkerPool::~WorkerPool() { Shutdown(); }

absl::Status WorkerPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return absl::UnavailableError("the server is shutting down");
    if (queue_.size() >= max_queued_)
      return absl::ResourceExhaustedError(absl::StrCat("the inference queue is full (", max_queued_,
                                                       " requests waiting); retry later"));
    queue_.push_back(std::move(task));
    total_queued_.fetch_add(1, std::memory_order_relaxed);
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
  total_workers_.fetch_sub(threads_.size(), std::memory_order_relaxed);
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
      total_queued_.fetch_sub(1, std::memory_order_relaxed);
    }
    total_busy_.fetch_add(1, std::memory_order_relaxed);
    auto start = std::chrono::steady_clock::now();
    try {
      task();
    } catch (const std::bad_alloc&) {
      // Abandoned, and the worker lives on: a task that must report running out of memory
      // catches it itself (RuntimeServiceImpl::Run does).
      total_abandoned_.fetch_add(1, std::memory_order_relaxed);
    }
    total_busy_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now() - start)
                                 .count(),
                             std::memory_order_relaxed);
    total_busy_.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace kiln
