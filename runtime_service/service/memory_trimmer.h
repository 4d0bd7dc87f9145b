// Gives the memory of large requests back to the system. glibc keeps freed heap memory in its
// arenas; what a large request leaves there (gRPC's receive buffers, decoded tensors) is
// fragmented by longer-lived allocations, so it is never trimmed from the top and kilnd's RSS
// stayed at its peak: eight concurrent 200 MiB requests left 682 MiB held. After a large
// request, a background thread calls malloc_trim, which also releases free pages in the middle
// of the heaps.
//
// malloc_trim does not shrink the top of a thread's arena, and glibc raises its mmap and trim
// thresholds (up to 32 and 64 MiB) whenever a large block is freed, after which such blocks come
// from the arenas and their tops stay: 60 requests of 4 MiB left 34 MiB behind. So constructing
// a trimmer also fixes the thresholds for the process (blocks of 1 MiB or more are mapped and
// unmapped on their own; a top over 2 MiB is given back), which keeps them from moving.
#ifndef KILN_RUNTIME_SERVICE_SERVICE_MEMORY_TRIMMER_H_
#define KILN_RUNTIME_SERVICE_SERVICE_MEMORY_TRIMMER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

namespace kiln {

struct MemoryTrimmerOptions {
  // Requests at least this large schedule a trim.
  size_t threshold_bytes = size_t{1} << 20;
  // The trim runs once no large request has finished for this long (gRPC frees a request's
  // message only after its handler returns, and a burst of requests shares one trim), or ten
  // times this long after the first request waiting for it, so a steady stream is trimmed too.
  std::chrono::milliseconds delay{50};
};

class MemoryTrimmer {
 public:
  explicit MemoryTrimmer(MemoryTrimmerOptions options = {});
  ~MemoryTrimmer();  // joins the thread (a scheduled trim is dropped)
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  // A request of `bytes` (its payload) has been handled, successfully or not.
  void RequestFinished(size_t bytes);
  // Trims done so far.
  uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  void Run();

  const MemoryTrimmerOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pending_ = false;                                // guarded by mutex_
  std::chrono::steady_clock::time_point first_, last_;  // pending requests; guarded by mutex_
  bool stopping_ = false;                               // guarded by mutex_
  std::atomic<uint64_t> trims_{0};
  std::thread thread_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_MEMORY_TRIMMER_H_
