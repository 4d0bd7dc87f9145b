#include "runtime_service/service/memory_trimmer.h"

#include <malloc.h>

#include <algorithm>

namespace kiln {

namespace {

void FixAllocatorThresholds() {
  static const bool fixed = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 2 << 20);
    return true;
  }();
  (void)fixed;
}

}  // namespace

MemoryTrimmer::MemoryTrimmer(MemoryTrimmerOptions options)
    : options_(options), thread_([this] { Run(); }) {
  FixAllocatorThresholds();
}

MemoryTrimmer::~MemoryTrimmer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void MemoryTrimmer::RequestFinished(size_t bytes) {
  if (bytes < options_.threshold_bytes) return;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    last_ = now;
    if (pending_) return;  // the scheduled trim covers this request too
    pending_ = true;
    first_ = now;
  }
  wake_.notify_one();
}

void MemoryTrimmer::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return pending_ || stopping_; });
    if (stopping_) return;
    for (;;) {
      const auto due = std::min(last_ + options_.delay, first_ + 10 * options_.delay);
      if (std::chrono::steady_clock::now() >= due) break;
      if (wake_.wait_until(lock, due, [this] { return stopping_; })) return;
    }
    pending_ = false;
    lock.unlock();
    malloc_trim(0);
    trims_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
  }
}

}  // namespace kiln
