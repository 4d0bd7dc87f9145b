#include "runtime_service/hal/task_executor.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime_service/hal/command_semantics.h"

namespace kiln::hal {

// One command of one execution. `total` units of work: a dispatch's workgroups, or 1 for a
// copy/fill; whoever brings `finished` to `total` finishes it.
//
// Units are split into contiguous runs (chunks), one per thread that may take part: worker i
// starts on run i, the submitting thread on the last, and each steals from the others once its
// own is done. Across calls a thread so runs the same workgroups again and finds their part of
// the weights still in its core's L2; a shared counter handed them out in arrival order, so
// each call read them from L3 (1x513x1000 on two threads: 0.83 x OpenBLAS).
struct TaskExecutor::Task {
  static constexpr uint32_t kMaxChunks = 16;
  struct alignas(64) Chunk {  // own cache line: threads claim from different runs at once
    std::atomic<uint64_t> next{0};
    uint64_t end = 0;
  };

  const Command* command = nullptr;
  kiln_dispatch_state_t state{};  // dispatches: resolved bindings, counts, constants
  uint8_t* target = nullptr;      // copy/fill: resolved pointers
  const uint8_t* source = nullptr;
  uint64_t total = 0;
  uint32_t chunk_count = 1;
  Chunk chunks[kMaxChunks];
  std::atomic<uint64_t> finished{0};
  std::atomic<bool> listed{false};  // in ready_

  // Splits `total` units into runs for `participants` threads.
  void Split(uint32_t participants) {
    const uint64_t count =
        std::max<uint64_t>(1, std::min<uint64_t>({total, participants, kMaxChunks}));
    chunk_count = static_cast<uint32_t>(count);
    for (uint64_t c = 0; c < count; ++c) {
      chunks[c].next.store(c * total / count, std::memory_order_relaxed);
      chunks[c].end = (c + 1) * total / count;
    }
  }
};

// One submission of a command buffer. Pooled: reference-counted by every ready_ entry and
// every thread that runs one of its tasks, it goes back to the pool when the last lets go (so a
// worker may still look at it after the signal), and its tables keep their capacity.
struct TaskExecutor::Execution {
  std::atomic<uint32_t> refs{0};
  std::shared_ptr<const CommandBuffer> commands;
  std::vector<void*> binding_ptrs;  // all dispatches' bindings, resolved, back to back
  std::vector<size_t> binding_lengths;
  std::unique_ptr<Task[]> tasks;  // one per command, the first task_count in use
  size_t task_capacity = 0;
  // The stage being run. Written only by the thread that starts a stage; the release store of
  // stage_remaining and the acq_rel countdown order it for the thread that starts the next.
  size_t stage = 0;
  std::atomic<uint32_t> stage_remaining{0};
  std::atomic<bool> failed{false};
  std::mutex failure_mutex;
  absl::Status failure;  // first failure; guarded by failure_mutex
  SemaphoreValue signal;

  void Fail(absl::Status status) {
    std::lock_guard<std::mutex> lock(failure_mutex);
    if (failure.ok()) failure = std::move(status);
    failed.store(true, std::memory_order_relaxed);
  }

  bool Fits(size_t task_count, size_t binding_count) const {
    return task_count <= task_capacity && binding_count <= binding_ptrs.capacity() &&
           binding_count <= binding_lengths.capacity();
  }
  // Throws std::bad_alloc when memory runs out, leaving the tables usable at their old sizes.
  void Grow(size_t task_count, size_t binding_count) {
    if (task_count > task_capacity) {
      tasks = std::make_unique<Task[]>(task_count);
      task_capacity = task_count;
    }
    binding_ptrs.reserve(binding_count);
    binding_lengths.reserve(binding_count);
  }

  // Readies the tables for `task_count` tasks (which Fits).
  void Reset(size_t task_count) {
    for (size_t i = 0; i < task_count; ++i) {
      Task& task = tasks[i];
      task.command = nullptr;
      task.state = {};
      task.target = nullptr;
      task.source = nullptr;
      task.total = 0;
      task.chunk_count = 1;
      task.chunks[0].next.store(0, std::memory_order_relaxed);
      task.chunks[0].end = 0;
      task.finished.store(0, std::memory_order_relaxed);
      task.listed.store(false, std::memory_order_relaxed);
    }
    stage = 0;
    failed.store(false, std::memory_order_relaxed);
    failure = absl::OkStatus();
  }

  // Signals on success; on failure (or a signal that cannot apply) fails the semaphore.
  void Complete();
};

namespace {

#if defined(__x86_64__) || defined(__i386__)
#define KILN_CPU_RELAX() __builtin_ia32_pause()
#else
#define KILN_CPU_RELAX() ((void)0)
#endif

}  // namespace

void TaskExecutor::Execution::Complete() {
  absl::Status status;
  {
    std::lock_guard<std::mutex> lock(failure_mutex);
    status = failure;
  }
  try {
    if (status.ok()) status = signal.semaphore->Signal(signal.value);
  } catch (const std::bad_alloc&) {  // listing the semaphore's due callbacks
    status = ExecutorOutOfMemory();
  }
  if (!status.ok()) signal.semaphore->Fail(std::move(status));
}

absl::StatusOr<std::unique_ptr<TaskExecutor>> TaskExecutor::Create(const Options& options) {
  ExecutorOutOfMemory();  // made now, while memory is plentiful
  uint32_t count = options.worker_count;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  if (count > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker count ", count, " is above the limit of 1024"));
  }
  std::vector<int> cpus;
  if (options.pin_workers) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
      return absl::InternalError(absl::StrCat("sched_getaffinity: ", std::strerror(errno)));
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    if (cpus.empty()) return absl::InternalError("no CPU to pin workers to");
  }

  std::unique_ptr<TaskExecutor> executor(new TaskExecutor());
  executor->ready_.reserve(256);
  // One execution for the submission being started plus one per worker that may still hold a
  // finished one: enough for a single submitting thread never to need another.
  for (uint32_t i = 0; i < count + 2; ++i)
    executor->executions_.push_back(std::make_unique<Execution>());
  for (const auto& execution : executor->executions_)
    executor->free_executions_.push_back(execution.get());
  executor->workers_.reserve(count);
  for (uint32_t id = 0; id < count; ++id) {
    executor->workers_.emplace_back([raw = executor.get(), id] { raw->WorkerMain(id); });
    if (!cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpus[id % cpus.size()], &set);
      const int error =
          pthread_setaffinity_np(executor->workers_.back().native_handle(), sizeof(set), &set);
      if (error != 0) {
        return absl::InternalError(absl::StrCat("pinning worker ", id, ": ", std::strerror(error)));
      }
    }
  }
  return executor;
}

TaskExecutor::~TaskExecutor() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_available_.notify_all();
  helper_wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

TaskExecutor::Execution* TaskExecutor::AcquireExecution(size_t task_count, size_t binding_count) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  // Out of memory, the pool stays as it was (every execution listed, free ones free).
  try {
    if (free_executions_.empty()) {
      // More submissions in flight than ever before: a new execution, tables like the others'.
      auto fresh = std::make_unique<Execution>();
      fresh->Grow(pool_task_capacity_, pool_binding_capacity_);
      executions_.reserve(executions_.size() + 1);
      free_executions_.reserve(executions_.size() + 1);
      executions_.push_back(std::move(fresh));
      free_executions_.push_back(executions_.back().get());
    }
    Execution* execution = free_executions_.back();
    if (!execution->Fits(task_count, binding_count)) {
      // A bigger command buffer than any before: grow every execution now (those in flight when
      // they come back, in Unref), so that whichever one a later submission gets already fits.
      const size_t tasks = std::max(pool_task_capacity_, task_count);
      const size_t bindings = std::max(pool_binding_capacity_, binding_count);
      execution->Grow(tasks, bindings);
      pool_task_capacity_ = tasks;
      pool_binding_capacity_ = bindings;
      for (Execution* idle : free_executions_) idle->Grow(tasks, bindings);
    }
    free_executions_.pop_back();
    execution->refs.store(1, std::memory_order_relaxed);
    return execution;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

size_t TaskExecutor::executions_in_flight() const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  return executions_.size() - free_executions_.size();
}

void TaskExecutor::Unref(Execution* execution) {
  if (execution->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // Drop what the submission shares with others now, not when the execution is next reused.
  execution->commands.reset();
  execution->signal = {};
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (!execution->Fits(pool_task_capacity_, pool_binding_capacity_)) {
    try {
      execution->Grow(pool_task_capacity_, pool_binding_capacity_);
    } catch (const std::bad_alloc&) {  // NOLINT(bugprone-empty-catch): growing is optional here
      // Left smaller: AcquireExecution grows it when a submission needs it.
    }
  }
  free_executions_.push_back(execution);  // within the capacity reserved for every execution
}

void TaskExecutor::Execute(std::shared_ptr<const CommandBuffer> commands,
                           std::span<const BufferView> bindings, SemaphoreValue signal) {
  const CommandBuffer& buffer = *commands;
  Execution* execution =
      AcquireExecution(buffer.commands().size(), buffer.dispatch_binding_count());
  if (execution == nullptr) {
    signal.semaphore->Fail(ExecutorOutOfMemory());
    return;
  }
  execution->Reset(buffer.commands().size());
  execution->commands = std::move(commands);
  execution->signal = std::move(signal);
  if (buffer.stages().empty()) {
    execution->Complete();
    Unref(execution);
    return;
  }

  // Resolve every binding now: workers then touch only the task they run.
  execution->binding_ptrs.resize(buffer.dispatch_binding_count());
  execution->binding_lengths.resize(buffer.dispatch_binding_count());
  size_t next_binding = 0;
  for (size_t i = 0; i < buffer.commands().size(); ++i) {
    Task& task = execution->tasks[i];
    task.command = &buffer.commands()[i];
    if (const auto* dispatch = std::get_if<DispatchCommand>(task.command)) {
      kiln_dispatch_state_t& state = task.state;
      for (int d = 0; d < 3; ++d) {
        state.workgroup_count[d] = dispatch->workgroup_count[d];
        state.workgroup_size[d] = dispatch->workgroup_size[d];
      }
      state.binding_count = static_cast<uint32_t>(dispatch->bindings.size());
      state.constant_count = static_cast<uint32_t>(dispatch->constants.size());
      state.binding_ptrs = execution->binding_ptrs.data() + next_binding;
      state.binding_lengths = execution->binding_lengths.data() + next_binding;
      state.constants = dispatch->constants.data();
      for (const BindingRef& ref : dispatch->bindings) {
        execution->binding_ptrs[next_binding] = bindings[ref.binding].data + ref.offset;
        execution->binding_lengths[next_binding] = static_cast<size_t>(ref.length);
        ++next_binding;
      }
      task.total = uint64_t{dispatch->workgroup_count[0]} * dispatch->workgroup_count[1] *
                   dispatch->workgroup_count[2];
    } else if (const auto* copy = std::get_if<CopyCommand>(task.command)) {
      task.source = bindings[copy->source.binding].data + copy->source.offset;
      task.target = bindings[copy->target.binding].data + copy->target.offset;
      task.total = 1;
    } else {
      const auto& fill = std::get<FillCommand>(*task.command);
      task.target = bindings[fill.target.binding].data + fill.target.offset;
      task.total = 1;
    }
    // The workers and the submitting thread (helper ids start at worker_count()).
    task.Split(worker_count() + 1);
  }
  if (!StartStage(execution)) {
    execution->Fail(ExecutorOutOfMemory());
    execution->Complete();
  }
  Unref(execution);
}

bool TaskExecutor::StartStage(Execution* execution) {
  const Stage& stage = execution->commands->stages()[execution->stage];
  execution->stage_remaining.store(stage.end - stage.begin, std::memory_order_release);
  uint64_t units = 0;
  uint32_t sleeping = 0, helpers = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Room to spare: an entry being unlisted by another thread may still be there, and growth
    // would be a heap allocation in the middle of steady-state work.
    const size_t needed = ready_.size() + (stage.end - stage.begin) + workers_.size() + 1;
    if (needed > ready_.capacity()) {
      try {
        ready_.reserve(2 * needed);
      } catch (const std::bad_alloc&) {
        return false;
      }
    }
    for (uint32_t i = stage.begin; i < stage.end; ++i) {
      Task& task = execution->tasks[i];
      task.listed.store(true, std::memory_order_relaxed);
      execution->refs.fetch_add(1, std::memory_order_relaxed);
      ready_.push_back({execution, &task});
      units += task.total;
    }
    sleeping = sleeping_;
    helpers = helpers_waiting_;
    work_epoch_.fetch_add(1, std::memory_order_release);
  }
  if (helpers > 0) helper_wake_.notify_all();
  // Wake no more workers than there are units to claim; a lone unit is often taken by the
  // submitting thread itself (HelpWhile), but a worker must not count on that.
  if (units >= sleeping) {
    work_available_.notify_all();
  } else {
    for (uint64_t i = 0; i < units; ++i) work_available_.notify_one();
  }
  return true;
}

void TaskExecutor::RunTask(const Ready& ready, uint32_t worker_id) {
  Task& task = *ready.task;
  Execution& execution = *ready.execution;
  uint64_t completed = 0;
  const uint32_t chunk_count = task.chunk_count;
  const uint32_t own = worker_id % chunk_count;
  bool stop = false;
  for (uint32_t i = 0; i < chunk_count && !stop; ++i) {
    Task::Chunk& chunk = task.chunks[(own + i) % chunk_count];
    for (;;) {
      const uint64_t index = chunk.next.fetch_add(1, std::memory_order_relaxed);
      if (index >= chunk.end) break;
      ++completed;
      absl::Status status;
      if (!execution.failed.load(std::memory_order_relaxed)) {
        if (const auto* dispatch = std::get_if<DispatchCommand>(task.command)) {
          status = RunWorkgroup(*dispatch, task.state, index, worker_id);
        } else if (const auto* copy = std::get_if<CopyCommand>(task.command)) {
          RunCopy(*copy, task.source, task.target);
        } else {
          RunFill(std::get<FillCommand>(*task.command), task.target);
        }
        if (status.ok()) continue;
        execution.Fail(std::move(status));
      }
      // Failed: claim (and so skip) every workgroup nobody has claimed yet.
      for (uint32_t c = 0; c < chunk_count; ++c) {
        Task::Chunk& other = task.chunks[c];
        const uint64_t rest = other.next.exchange(other.end, std::memory_order_relaxed);
        if (rest < other.end) completed += other.end - rest;
      }
      stop = true;
      break;
    }
  }
  Unlist(&task);
  if (completed > 0 &&
      task.finished.fetch_add(completed, std::memory_order_acq_rel) + completed == task.total) {
    FinishTask(ready.execution);
  }
}

void TaskExecutor::Unlist(Task* task) {
  if (!task->listed.exchange(false, std::memory_order_relaxed)) return;
  Execution* listed = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find_if(ready_.begin(), ready_.end(),
                           [task](const Ready& ready) { return ready.task == task; });
    if (it != ready_.end()) {
      listed = it->execution;
      ready_.erase(it);
    }
  }
  if (listed != nullptr) Unref(listed);  // never the last reference: the caller holds one
}

void TaskExecutor::FinishTask(Execution* execution) {
  if (execution->stage_remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // This thread finished the stage: start the next one or complete the execution.
  const size_t stage_count = execution->commands->stages().size();
  if (!execution->failed.load(std::memory_order_relaxed) && ++execution->stage < stage_count) {
    if (StartStage(execution)) return;
    execution->Fail(ExecutorOutOfMemory());
  }
  execution->Complete();
  WakeHelpers();  // a helper may be waiting for exactly this completion
}

void TaskExecutor::WakeHelpers() {
  {
    // Taken after the signal: a helper that saw the execution unfinished is already waiting.
    std::lock_guard<std::mutex> lock(mutex_);
    if (helpers_waiting_ == 0) return;
  }
  helper_wake_.notify_all();
}

void TaskExecutor::WorkerMain(uint32_t worker_id) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (ready_.empty()) {
      if (stopping_) return;
      // Spin a little before sleeping: calls of a few hundred microseconds come back to back,
      // and waking a sleeping thread costs tens of microseconds on a VM (depthwise 1x56x56x128
      // on two threads: 0.70 x oneDNN, whose OpenMP threads spin too). kSpin bounds the CPU
      // an idle worker burns after each piece of work.
      constexpr auto kSpin = std::chrono::microseconds(100);
      const uint64_t epoch = work_epoch_.load(std::memory_order_acquire);
      lock.unlock();
      const auto until = std::chrono::steady_clock::now() + kSpin;
      bool more = false;
      while (!more && std::chrono::steady_clock::now() < until) {
        for (int i = 0; i < 64 && !more; ++i) {
          KILN_CPU_RELAX();
          more = work_epoch_.load(std::memory_order_acquire) != epoch;
        }
      }
      lock.lock();
      if (!ready_.empty() || stopping_) continue;
      ++sleeping_;
      work_available_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      --sleeping_;
      continue;
    }
    // Workers start on different tasks so that a stage's dispatches proceed side by side.
    const Ready ready = ready_[worker_id % ready_.size()];
    ready.execution->refs.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    RunTask(ready, worker_id);
    Unref(ready.execution);  // may return the execution to the pool
    lock.lock();
  }
}

int TaskExecutor::AcquireHelperId() {
  uint64_t taken = helper_ids_.load(std::memory_order_relaxed);
  for (;;) {
    if (taken == ~uint64_t{0}) return -1;
    const int bit = std::countr_one(taken);
    if (helper_ids_.compare_exchange_weak(taken, taken | (uint64_t{1} << bit),
                                          std::memory_order_acquire)) {
      return bit;
    }
  }
}

void TaskExecutor::ReleaseHelperId(int id) {
  helper_ids_.fetch_and(~(uint64_t{1} << id), std::memory_order_release);
}

void TaskExecutor::HelpWhile(const std::function<bool()>& keep_going) {
  const int helper = AcquireHelperId();
  if (helper < 0) return;  // enough helpers already; this thread just waits
  const uint32_t worker_id = worker_count() + static_cast<uint32_t>(helper);
  std::unique_lock<std::mutex> lock(mutex_);
  // keep_going() is read under mutex_ (its semaphore's lock nests inside; nothing takes them
  // the other way round), so a completion cannot slip between the check and the wait.
  while (!stopping_ && keep_going()) {
    if (ready_.empty()) {
      // Between stages (one dispatch's last workgroups still running, the next not yet
      // listed) there is no work for a moment: wait for it instead of leaving the rest of
      // the call to the workers. Leaving made a pack-then-matmul call run its matmul on one
      // worker while this thread slept (1024^3, two threads: 0.59 x OpenBLAS).
      // Completions and new work notify; the timeout covers a semaphore signalled from
      // outside the executor (a host Signal), which does not.
      ++helpers_waiting_;
      helper_wake_.wait_for(lock, std::chrono::milliseconds(1));
      --helpers_waiting_;
      continue;
    }
    const Ready ready = ready_.front();
    ready.execution->refs.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    RunTask(ready, worker_id);
    Unref(ready.execution);
    lock.lock();
  }
  lock.unlock();
  ReleaseHelperId(helper);
}

}  // namespace kiln::hal
