#include "compiler_service/service/compile_worker_pool.h"

#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "compiler_service/malloc_tunables.h"
#include "compiler_service/service/compile_worker.h"
#include "compiler_service/service/worker_channel.h"
#include "compiler_service/service/worker_protocol.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace wv1 = kiln::compiler::worker::v1;
using Clock = std::chrono::steady_clock;

struct CompileWorkerPool::Worker {
  pid_t pid = -1;
  int fd = -1;
  std::string dir;
  ~Worker() {
    if (fd >= 0) close(fd);
  }
};

namespace {

std::string Gib(uint64_t bytes) {
  return absl::StrCat(static_cast<double>(bytes) / static_cast<double>(uint64_t{1} << 30), " GiB");
}

// What a worker's end means for the compile it was running.
absl::Status DescribeEnd(int wait_status, const CompileWorkerPoolOptions& options) {
  if (WIFEXITED(wait_status)) {
    switch (WEXITSTATUS(wait_status)) {
      case compile_worker::kExitOutOfMemory:
        return absl::ResourceExhaustedError(absl::StrCat(
            "the compile ran out of memory (each compile may use ", Gib(options.memory_limit_bytes),
            " of address space: --compile-memory-limit)"));
      case compile_worker::kExitSandboxFailed:
        return absl::InternalError(
            "the compile worker could not set up its sandbox (kilnd's log has the reason)");
      case 127:
        return absl::InternalError("the compile worker could not be started");
      default:
        return absl::InternalError(absl::StrCat("the compile worker exited with status ",
                                                WEXITSTATUS(wait_status), " mid-compile"));
    }
  }
  if (!WIFSIGNALED(wait_status)) return absl::InternalError("the compile worker ended oddly");
  int signal_number = WTERMSIG(wait_status);
  switch (signal_number) {
    case SIGXCPU:
      return absl::ResourceExhaustedError(
          absl::StrCat("the compile used more than its CPU-time limit of ",
                       options.timeout_seconds + 2, " s (--compile-timeout, plus 2 s)"));
    case SIGSEGV:
    case SIGBUS:
      return absl::InvalidArgumentError(absl::StrCat(
          "the compiler crashed on this program (SIG", sigabbrev_np(signal_number),
          "), most often nesting too deep for the parser's stack; only this compile failed"));
    case SIGABRT:
      return absl::InvalidArgumentError(
          "the compiler aborted on this program (SIGABRT: a fatal error in MLIR/LLVM, whose "
          "message is in kilnd's log); only this compile failed");
    case SIGKILL:
      // Not ours (ours are counted as abandoned compiles): the kernel's OOM killer, or an
      // operator; the first is the one a client can act on (a smaller program, or later).
      return absl::ResourceExhaustedError(
          "the compile worker was killed (SIGKILL) from outside kilnd: by the kernel's "
          "out-of-memory killer or by an operator; only this compile failed");
    default: {
      const char* name = sigabbrev_np(signal_number);
      return absl::InternalError(absl::StrCat("the compiler died on this program (SIG",
                                              name ? name : std::to_string(signal_number), ")"));
    }
  }
}

}  // namespace

CompileWorkerPool::CompileWorkerPool(CompileWorkerPoolOptions options)
    : options_(std::move(options)) {}

CompileWorkerPool::~CompileWorkerPool() {
  Shutdown();
  if (prestart_.joinable()) prestart_.join();
  std::unique_lock<std::mutex> lock(mutex_);
  slot_freed_.wait(lock, [this] { return busy_ == 0 && queued_ == 0; });
}

absl::StatusOr<std::unique_ptr<CompileWorkerPool::Worker>> CompileWorkerPool::Spawn() {
  std::string root = options_.temp_root;
  if (root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    root = tmp && *tmp ? tmp : "/tmp";
  }
  std::string pattern = root + "/kiln-compile-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr)
    return absl::InternalError(absl::StrCat("cannot create a compile worker directory under ", root,
                                            ": ", std::strerror(errno)));
  auto worker = std::make_unique<Worker>();
  worker->dir = pattern;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    std::filesystem::remove_all(worker->dir);
    return absl::InternalError(absl::StrCat("socketpair: ", std::strerror(errno)));
  }
  worker->fd = fds[0];
  int child_fd = fds[1];

  std::vector<std::string> args = options_.command;
  if (args.empty()) args = {"/proc/self/exe", compile_worker::kWorkerFlag};
  args.push_back(worker->dir);
  args.push_back(std::to_string(options_.memory_limit_bytes));
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // posix_spawn (vfork-like) rather than fork: kilnd is multithreaded and may be large.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_fd, compile_worker::kChannelFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, compile_worker::kChannelFd + 1);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);  // kilnd blocks SIGTERM/SIGINT; workers not
  sigset_t defaults;
  sigfillset(&defaults);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setpgroup(&attributes, 0);  // a terminal's ^C goes to kilnd, which drains
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  // The worker's malloc runs with kiln's compile tunables (compiler_service/malloc_tunables.h).
  std::vector<std::string> env = kiln::compiler::WithCompileMallocTunables(environ);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& variable : env) envp.push_back(variable.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(child_fd);
  if (rc != 0) {
    std::filesystem::remove_all(worker->dir);
    return absl::InternalError(
        absl::StrCat("cannot start a compile worker (", args[0], "): ", std::strerror(rc)));
  }
  worker->pid = pid;
  started_.fetch_add(1);
  spdlog::debug("compile worker {} started in {}", pid, worker->dir);
  return worker;
}

int CompileWorkerPool::Reap(Worker& worker) {
  // SIGKILL first: a worker that already exited is a zombie, and waitpid still reports how.
  kill(worker.pid, SIGKILL);
  int wait_status = 0;
  while (waitpid(worker.pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  std::error_code ec;
  std::filesystem::remove_all(worker.dir, ec);
  worker.pid = -1;
  return wait_status;
}

absl::Status CompileWorkerPool::Acquire(const kiln::compiler::ContinueCheck& check) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (shut_down_) return absl::UnavailableError("kilnd is shutting down");
  const int capacity = std::max(1, options_.workers);
  if (busy_ < capacity) {
    ++busy_;
    return absl::OkStatus();
  }
  if (queued_ >= options_.max_queued)
    return absl::ResourceExhaustedError(
        absl::StrCat("the compile queue is full (", busy_, " compiles running, ", queued_,
                     " waiting: --compile-workers, --compile-queue); retry later"));
  ++queued_;
  while (busy_ >= capacity) {
    slot_freed_.wait_for(lock, std::chrono::milliseconds(compile_worker::kPollMilliseconds));
    if (busy_ < capacity) break;
    lock.unlock();
    absl::Status status = check();
    lock.lock();
    if (!status.ok()) {
      --queued_;
      slot_freed_.notify_all();
      return status;
    }
  }
  --queued_;
  ++busy_;
  return absl::OkStatus();
}

void CompileWorkerPool::Release(std::unique_ptr<Worker> worker) {
  std::unique_ptr<Worker> retired;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --busy_;
    if (worker && !shut_down_) {
      idle_.push_back(std::move(worker));
    } else {
      retired = std::move(worker);
    }
  }
  slot_freed_.notify_all();
  if (retired) Reap(*retired);
}

absl::StatusOr<kiln::compiler::CompileResult> CompileWorkerPool::Compile(
    std::string_view source, const kiln::compiler::CompileOptions& options,
    const kiln::compiler::ContinueCheck& should_continue) {
  const auto start = Clock::now();
  bool abandoned = false;
  auto check = [&]() -> absl::Status {
    if (should_continue) {
      if (absl::Status status = should_continue(); !status.ok()) {
        abandoned = true;
        return status;
      }
    }
    if (options_.timeout_seconds > 0 &&
        Clock::now() - start > std::chrono::duration<double>(options_.timeout_seconds)) {
      abandoned = true;
      return absl::DeadlineExceededError(absl::StrCat("the compile ran longer than its limit of ",
                                                      options_.timeout_seconds,
                                                      " s (--compile-timeout)"));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (shut_down_) {
      abandoned = true;
      return absl::UnavailableError("kilnd is shutting down");
    }
    return absl::OkStatus();
  };
  if (absl::Status status = Acquire(check); !status.ok()) return status;

  // A reused worker that died while idle (killed from outside) is replaced, not blamed.
  std::unique_ptr<Worker> worker;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!worker && !idle_.empty()) {
      worker = std::move(idle_.back());
      idle_.pop_back();
      int ignored = 0;
      if (waitpid(worker->pid, &ignored, WNOHANG) != 0) {
        std::error_code ec;
        std::filesystem::remove_all(worker->dir, ec);
        worker.reset();
      }
    }
  }
  if (!worker) {
    auto spawned = Spawn();
    if (!spawned.ok()) {
      Release(nullptr);
      return spawned.status();
    }
    worker = std::move(*spawned);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running_pids_.push_back(worker->pid);
  }
  wv1::WorkerCompileRequest request = compile_worker::ToRequest(source, options);
  // The CPU-time limit backs the wall-clock one up (a worker the parent cannot stop, say while
  // kilnd is stopped); 2 s beyond it so that the wall clock, with its clearer status, fires first.
  if (options_.timeout_seconds > 0) request.set_cpu_seconds(options_.timeout_seconds + 2);
  absl::StatusOr<std::string> reply = [&]() -> absl::StatusOr<std::string> {
    std::string bytes = request.SerializeAsString();
    request.Clear();
    if (absl::Status status = compile_worker::WriteFrame(worker->fd, bytes); !status.ok())
      return status;
    bytes.clear();
    bytes.shrink_to_fit();
    return compile_worker::ReadFrame(worker->fd, check);
  }();
  bool shutting_down = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase(running_pids_, worker->pid);
    shutting_down = shut_down_;
  }

  wv1::WorkerCompileResponse response;
  if (reply.ok() && !response.ParseFromString(*reply)) {
    reply = absl::DataLossError("a compile worker answered with an unreadable message");
  }
  if (!reply.ok()) {
    absl::Status status = reply.status();
    if (abandoned || shutting_down) {
      Reap(*worker);
      killed_.fetch_add(1);
      if (!abandoned) status = absl::UnavailableError("kilnd is shutting down");
    } else {
      // The worker died (or broke protocol): its exit status says why.
      int wait_status = Reap(*worker);
      failed_.fetch_add(1);
      if (absl::IsUnavailable(status)) status = DescribeEnd(wait_status, options_);
      spdlog::warn("compile worker failed on {}: {}", options.source_name,
                   std::string(status.message()));
    }
    worker.reset();
    Release(nullptr);
    return status;
  }
  Release(std::move(worker));
  return compile_worker::FromResponse(std::move(response));
}

void CompileWorkerPool::Prestart() {
  if (prestart_.joinable()) return;
  prestart_ = std::thread([this] {
    // The parent's share of a first compile, too: the build id hashes this binary (~100 MB)
    // and the cache key resolves the host target.
    (void)kiln::compiler::CompilerBuildId();
    (void)kiln::compiler::CanonicalOptionsKey(kiln::compiler::CompileOptions{});
    auto spawned = Spawn();
    if (!spawned.ok()) {
      spdlog::warn("{}", std::string(spawned.status().message()));
      return;
    }
    std::unique_ptr<Worker> late;  // shut down while it started
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (shut_down_) {
        late = std::move(*spawned);
      } else {
        idle_.push_back(std::move(*spawned));
      }
    }
    if (late) Reap(*late);
  });
}

void CompileWorkerPool::Shutdown() {
  std::vector<std::unique_ptr<Worker>> idle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shut_down_) return;
    shut_down_ = true;
    // Under the lock: a compile removes its pid here before it reaps, so no pid is reused.
    for (pid_t pid : running_pids_) kill(pid, SIGKILL);
    idle.swap(idle_);
  }
  slot_freed_.notify_all();
  for (auto& worker : idle) Reap(*worker);
}

CompileWorkerPoolStats CompileWorkerPool::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {started_.load(), failed_.load(), killed_.load(), static_cast<uint64_t>(busy_),
          static_cast<uint64_t>(queued_)};
}

}  // namespace kiln
