// kilnd's compiles run in worker processes (issue 15): MLIR and LLVM parse and transform
// whatever a client sends, and a crash, abort, stack overflow or allocation failure in them must
// fail that one compile, never the daemon and the models it serves. Each worker is kilnd itself
// re-executed as a compile worker (compile_worker.h): sandboxed, with an address-space limit and
// a CPU-time limit per compile, in a private directory. Workers are reused (their warm pipeline
// caches with them) until one fails or is killed, then replaced on the next compile.
#ifndef KILN_COMPILER_SERVICE_SERVICE_COMPILE_WORKER_POOL_H_
#define KILN_COMPILER_SERVICE_SERVICE_COMPILE_WORKER_POOL_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler_service/compiler.h"

namespace kiln {

struct CompileWorkerPoolOptions {
  int workers = 1;         // compiles running at once, one process each
  size_t max_queued = 64;  // compiles waiting for a worker; one more is RESOURCE_EXHAUSTED
  // RLIMIT_AS of each worker. The address space, not resident memory: it also bounds what a
  // program can make the compiler allocate (a folded 40 GB constant, a huge module).
  uint64_t memory_limit_bytes = uint64_t{8} << 30;
  // Wall-clock limit of one compile (DEADLINE_EXCEEDED past it, the worker killed), and the
  // same number as its CPU-time limit; 0: none beyond the caller's own deadline.
  double timeout_seconds = 0;
  // How to start a worker: the program and the arguments before the private directory's path.
  // Default: this very executable (/proc/self/exe) with --compile-worker.
  std::vector<std::string> command;
  std::string temp_root;  // where private directories are made; default $TMPDIR or /tmp
};

struct CompileWorkerPoolStats {
  uint64_t started = 0;  // worker processes started
  uint64_t failed = 0;   // workers that crashed, ran out of memory or time, or broke protocol
  uint64_t killed = 0;   // workers killed for a deadline, a cancellation or shutdown
  uint64_t running = 0;  // compiles running now
  uint64_t queued = 0;   // compiles waiting for a worker now
};

class CompileWorkerPool {
 public:
  explicit CompileWorkerPool(CompileWorkerPoolOptions options);
  ~CompileWorkerPool();  // kills every worker
  CompileWorkerPool(const CompileWorkerPool&) = delete;
  CompileWorkerPool& operator=(const CompileWorkerPool&) = delete;

  // kiln::compiler::Compile in a worker. `should_continue` is polled every 50 ms while the
  // compile waits or runs; a non-OK status kills the worker and is returned. Besides the
  // compiler's own errors: INVALID_ARGUMENT when the compiler crashed on the program (a signal),
  // RESOURCE_EXHAUSTED when it ran out of memory or CPU time, or when the queue is full,
  // DEADLINE_EXCEEDED past timeout_seconds, UNAVAILABLE after Shutdown.
  absl::StatusOr<kiln::compiler::CompileResult> Compile(
      std::string_view source, const kiln::compiler::CompileOptions& options,
      const kiln::compiler::ContinueCheck& should_continue = nullptr);

  // Starts one worker in the background, so the first compile finds it warm, and computes the
  // compiler's build id (a hash of the binary) ahead of the first cache key: together about a
  // second that the first compile otherwise waits for.
  void Prestart();

  // Refuses new compiles and kills the running ones (they fail UNAVAILABLE). Idempotent.
  void Shutdown();

  CompileWorkerPoolStats Stats() const;
  const CompileWorkerPoolOptions& options() const { return options_; }

 private:
  struct Worker;
  absl::StatusOr<std::unique_ptr<Worker>> Spawn();
  // Kills (SIGKILL) and reaps a worker, removes its directory; returns its wait status.
  static int Reap(Worker& worker);
  absl::Status Acquire(const kiln::compiler::ContinueCheck& check);
  void Release(std::unique_ptr<Worker> worker);

  const CompileWorkerPoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable slot_freed_;
  std::vector<std::unique_ptr<Worker>> idle_;
  std::vector<pid_t> running_pids_;  // of workers compiling now, for Shutdown
  int busy_ = 0;
  size_t queued_ = 0;
  bool shut_down_ = false;
  std::thread prestart_;
  std::atomic<uint64_t> started_{0}, failed_{0}, killed_{0};
};

}  // namespace kiln

#endif  // KILN_COMPILER_SERVICE_SERVICE_COMPILE_WORKER_POOL_H_
