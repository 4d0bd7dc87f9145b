// A fixed set of worker threads serving a bounded FIFO of tasks. Inference requests run
// synchronously on a worker; a full queue is reported to the caller instead of growing
// without bound (RESOURCE_EXHAUSTED at the service edge).
#ifndef KILN_RUNTIME_SERVICE_SERVICE_WORKER_POOL_H_
#define KILN_RUNTIME_SERVICE_SERVICE_WORKER_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace kiln {

class WorkerPool {
 public:
  WorkerPool(int workers, size_t max_queued);
  ~WorkerPool();  // Shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // RESOURCE_EXHAUSTED when max_queued tasks are already waiting; UNAVAILABLE after Shutdown.
  // A task that throws std::bad_alloc is abandoned there; the worker keeps serving.
  absl::Status Submit(std::function<void()> task);
  // Stops accepting tasks, runs the ones already queued, joins the workers. Idempotent.
  void Shutdown();
  int worker_count() const { return static_cast<int>(threads_.size()); }

  // Totals over every pool in the process (the shared one and per-module ones), for metrics:
  // tasks waiting, workers running a task, and the time workers spent running tasks.
  static size_t TotalQueued() { return total_queued_.load(std::memory_order_relaxed); }
  static size_t TotalBusy() { return total_busy_.load(std::memory_order_relaxed); }
  static size_t TotalWorkers() { return total_workers_.load(std::memory_order_relaxed); }
  // Tasks that threw std::bad_alloc.
  static uint64_t TotalAbandoned() { return total_abandoned_.load(std::memory_order_relaxed); }
  static double TotalBusySeconds() {
    return static_cast<double>(total_busy_ns_.load(std::memory_order_relaxed)) * 1e-9;
  }

 private:
  void Run();

  const size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;

  static inline std::atomic<size_t> total_queued_{0};
  static inline std::atomic<size_t> total_busy_{0};
  static inline std::atomic<size_t> total_workers_{0};
  static inline std::atomic<uint64_t> total_busy_ns_{0};
  static inline std::atomic<uint64_t> total_abandoned_{0};
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_WORKER_POOL_H_
