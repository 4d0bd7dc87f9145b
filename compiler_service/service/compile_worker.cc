#include "compiler_service/service/compile_worker.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "compiler_service/compiler.h"
#include "compiler_service/service/sandbox.h"
#include "compiler_service/service/worker_channel.h"
#include "compiler_service/service/worker_protocol.h"
#include "llvm/Support/ErrorHandling.h"

namespace kiln::compile_worker {

namespace {

// Allocation failure anywhere (operator new, or LLVM's safe_malloc and bump allocators) ends
// the worker at once with a status the parent reads as RESOURCE_EXHAUSTED; unwinding through
// MLIR after a failed allocation is not something it is written to survive.
constexpr char kWarmUpProgram[] = R"mlir(
func.func @main(%x: tensor<8x8xf32>, %w: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m = linalg.matmul ins(%x, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  return %m : tensor<8x8xf32>
}
)mlir";

[[noreturn]] void OutOfMemory() {
  static constexpr char kMessage[] = "kiln compile worker: out of memory\n";
  (void)!write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  _exit(kExitOutOfMemory);
}

void OnLlvmBadAlloc(void*, const char*, bool) { OutOfMemory(); }

// The worker must not outlive kilnd: when the parent dies the worker is re-parented, and this
// thread notices within a second (a compile blocks the channel's EOF from being read).
void WatchParent() {
  const pid_t parent = getppid();
  std::thread([parent] {
    while (getppid() == parent) std::this_thread::sleep_for(std::chrono::seconds(1));
    _exit(0);
  }).detach();
}

// RLIMIT_CPU for the coming compile: what this process has used so far plus the allowance, so a
// long-lived worker's earlier compiles do not count against it. Only the soft limit moves (a
// lowered hard limit could never be raised again for the next compile); SIGXCPU's default
// action ends the worker, which the parent reports as the CPU-time limit.
void LimitCpu(double seconds) {
  rlimit limit{};
  if (getrlimit(RLIMIT_CPU, &limit) != 0) return;
  if (seconds <= 0) {
    limit.rlim_cur = limit.rlim_max;
  } else {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto used = static_cast<rlim_t>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec);
    limit.rlim_cur = used + static_cast<rlim_t>(std::ceil(seconds));
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_cur > limit.rlim_max)
      limit.rlim_cur = limit.rlim_max;
  }
  (void)setrlimit(RLIMIT_CPU, &limit);
}

}  // namespace

int RunCompileWorker(const char* private_dir, uint64_t memory_limit_bytes) {
  // Before anything large is mapped: past this, allocations fail (and end the worker below).
  rlimit no_core{.rlim_cur = 0, .rlim_max = 0};
  (void)setrlimit(RLIMIT_CORE, &no_core);
  if (memory_limit_bytes > 0) {
    rlimit as{.rlim_cur = memory_limit_bytes, .rlim_max = memory_limit_bytes};
    if (setrlimit(RLIMIT_AS, &as) != 0) {
      std::perror("kiln compile worker: RLIMIT_AS");
      return kExitSandboxFailed;
    }
  }
  std::set_new_handler(OutOfMemory);
  llvm::install_bad_alloc_error_handler(OnLlvmBadAlloc);
  WatchParent();
  // lld writes its scratch files under TMPDIR; the sandbox allows writes only here.
  setenv("TMPDIR", private_dir, 1);
  if (chdir(private_dir) != 0) {
    std::perror("kiln compile worker: chdir");
    return kExitSandboxFailed;
  }
  SandboxReport report;
  if (absl::Status status = EnterSandbox(private_dir, report); !status.ok()) {
    std::fprintf(stderr, "kiln compile worker: cannot enter the sandbox: %s\n",
                 std::string(status.message()).c_str());
    return kExitSandboxFailed;
  }
  if (!report.notes.empty())
    std::fprintf(stderr, "kiln compile worker: %s\n", report.notes.c_str());

  // Warm up before the first request: MLIR's context, dialects, pipelines and LLVM's target
  // take about a second the first time; a worker started ahead of need (Prestart) has that done
  // by the time a compile arrives.
  (void)kiln::compiler::Compile(kWarmUpProgram, kiln::compiler::CompileOptions{});

  while (true) {
    absl::StatusOr<std::string> frame = ReadFrame(kChannelFd);
    if (!frame.ok()) return absl::IsUnavailable(frame.status()) ? 0 : kExitProtocolError;
    wv1::WorkerCompileRequest request;
    if (!request.ParseFromString(*frame)) return kExitProtocolError;
    frame->clear();
    frame->shrink_to_fit();
    // The allowance is wall-clock time; a compile's threads spend CPU time faster than that.
    LimitCpu(request.cpu_seconds() * kiln::compiler::CompileThreads());
    kiln::compiler::CompileOptions options = ToOptions(request);
    absl::StatusOr<kiln::compiler::CompileResult> result =
        kiln::compiler::Compile(request.source(), options);
    request.Clear();
    std::string reply = ToResponse(result).SerializeAsString();
    if (!WriteFrame(kChannelFd, reply).ok()) return 0;
  }
}

int CompileWorkerMain(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s %s DIR ADDRESS_SPACE_BYTES (started by kilnd only)\n", argv[0],
                 kWorkerFlag);
    return 2;
  }
  char* end = nullptr;
  uint64_t limit = std::strtoull(argv[3], &end, 10);
  if (end == argv[3] || *end != '\0') return 2;
  return RunCompileWorker(argv[2], limit);
}

}  // namespace kiln::compile_worker
