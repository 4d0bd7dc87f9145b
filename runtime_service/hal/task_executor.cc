#include "runtime_service/hal/task_executor.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kiln::hal {

// One command of one execution. `total` units of work: a dispatch's workgroups, or 1 for a
// copy/fill. Units are claimed through `next`; whoever brings `finished` to `total` finishes it.
struct TaskExecutor::Task {
  const Command* command = nullptr;
  kiln_dispatch_state_t state{};  // dispatches: resolved bindings, counts, constants
  uint8_t* target = nullptr;      // copy/fill: resolved pointers
  const uint8_t* source = nullptr;
  uint64_t total = 0;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> finished{0};
  std::atomic<bool> listed{false};  // in ready_
};

// One submission of a command buffer. Shared by every thread that holds one of its tasks, so
// it outlives the last worker that looks at it even after `done` ran.
struct TaskExecutor::Execution {
  std::shared_ptr<const CommandBuffer> commands;
  std::vector<void*> binding_ptrs;  // all dispatches' bindings, resolved, back to back
  std::vector<size_t> binding_lengths;
  std::unique_ptr<Task[]> tasks;    // one per command
  // The stage being run. Written only by the thread that starts a stage; the release store of
  // stage_remaining and the acq_rel countdown order it for the thread that starts the next.
  size_t stage = 0;
  std::atomic<uint32_t> stage_remaining{0};
  std::atomic<bool> failed{false};
  std::mutex failure_mutex;
  absl::Status failure;  // first failure; guarded by failure_mutex
  Completion done;

  void Fail(absl::Status status) {
    std::lock_guard<std::mutex> lock(failure_mutex);
    if (failure.ok()) failure = std::move(status);
    failed.store(true, std::memory_order_relaxed);
  }
};

namespace {

absl::Status RunDispatch(const DispatchCommand& dispatch, const kiln_dispatch_state_t& state,
                         uint64_t index, uint32_t worker_id) {
  kiln_workgroup_state_t workgroup{};
  const uint32_t count_x = state.workgroup_count[0], count_y = state.workgroup_count[1];
  workgroup.workgroup_id[0] = static_cast<uint32_t>(index % count_x);
  workgroup.workgroup_id[1] = static_cast<uint32_t>(index / count_x % count_y);
  workgroup.workgroup_id[2] = static_cast<uint32_t>(index / count_x / count_y);
  workgroup.worker_id = worker_id;
  const int code = dispatch.fn(dispatch.env, &state, &workgroup);
  if (code == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(dispatch.label, " failed with code ", code,
                                          " in workgroup (", workgroup.workgroup_id[0], ", ",
                                          workgroup.workgroup_id[1], ", ",
                                          workgroup.workgroup_id[2], ")"));
}

void RunFill(const FillCommand& fill, uint8_t* target) {
  if (fill.target.length == 0) return;
  if (fill.pattern_size == 1) {
    std::memset(target, static_cast<int>(fill.pattern & 0xff), fill.target.length);
    return;
  }
  for (uint64_t at = 0; at < fill.target.length; at += fill.pattern_size)
    std::memcpy(target + at, &fill.pattern, fill.pattern_size);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TaskExecutor>> TaskExecutor::Create(const Options& options) {
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
        return absl::InternalError(
            absl::StrCat("pinning worker ", id, ": ", std::strerror(error)));
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
  for (std::thread& worker : workers_) worker.join();
}

void TaskExecutor::Execute(std::shared_ptr<const CommandBuffer> commands,
                           std::span<const BufferView> bindings, Completion done) {
  auto execution = std::make_shared<Execution>();
  const CommandBuffer& buffer = *commands;
  execution->commands = std::move(commands);
  execution->done = std::move(done);
  if (buffer.stages().empty()) {
    execution->done(absl::OkStatus());
    return;
  }

  // Resolve every binding now: workers then touch only the task they run.
  execution->binding_ptrs.resize(buffer.dispatch_binding_count());
  execution->binding_lengths.resize(buffer.dispatch_binding_count());
  execution->tasks = std::make_unique<Task[]>(buffer.commands().size());
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
  }
  StartStage(execution);
}

void TaskExecutor::StartStage(const std::shared_ptr<Execution>& execution) {
  const Stage& stage = execution->commands->stages()[execution->stage];
  execution->stage_remaining.store(stage.end - stage.begin, std::memory_order_release);
  uint64_t units = 0;
  uint32_t sleeping = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (uint32_t i = stage.begin; i < stage.end; ++i) {
      Task& task = execution->tasks[i];
      task.listed.store(true, std::memory_order_relaxed);
      ready_.push_back({execution, &task});
      units += task.total;
    }
    sleeping = sleeping_;
  }
  // Wake no more workers than there are units to claim; a lone unit is often taken by the
  // submitting thread itself (HelpWhile), but a worker must not count on that.
  if (units >= sleeping) {
    work_available_.notify_all();
  } else {
    for (uint64_t i = 0; i < units; ++i) work_available_.notify_one();
  }
}

void TaskExecutor::RunTask(const Ready& ready, uint32_t worker_id) {
  Task& task = *ready.task;
  Execution& execution = *ready.execution;
  uint64_t completed = 0;
  for (;;) {
    const uint64_t index = task.next.fetch_add(1, std::memory_order_relaxed);
    if (index >= task.total) break;
    ++completed;
    absl::Status status;
    if (!execution.failed.load(std::memory_order_relaxed)) {
      if (const auto* dispatch = std::get_if<DispatchCommand>(task.command)) {
        status = RunDispatch(*dispatch, task.state, index, worker_id);
      } else if (const auto* copy = std::get_if<CopyCommand>(task.command)) {
        if (copy->source.length > 0) std::memmove(task.target, task.source, copy->source.length);
      } else {
        RunFill(std::get<FillCommand>(*task.command), task.target);
      }
      if (status.ok()) continue;
      execution.Fail(std::move(status));
    }
    // Failed: claim (and so skip) every workgroup nobody has claimed yet.
    const uint64_t rest = task.next.exchange(task.total, std::memory_order_relaxed);
    if (rest < task.total) completed += task.total - rest;
    break;
  }
  Unlist(&task);
  if (completed > 0 &&
      task.finished.fetch_add(completed, std::memory_order_acq_rel) + completed == task.total) {
    FinishTask(ready.execution);
  }
}

void TaskExecutor::Unlist(Task* task) {
  if (!task->listed.exchange(false, std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::find_if(ready_.begin(), ready_.end(),
                         [task](const Ready& ready) { return ready.task == task; });
  if (it != ready_.end()) ready_.erase(it);
}

void TaskExecutor::FinishTask(const std::shared_ptr<Execution>& execution) {
  if (execution->stage_remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // This thread finished the stage: start the next one or complete the execution.
  const size_t stage_count = execution->commands->stages().size();
  if (!execution->failed.load(std::memory_order_relaxed) && ++execution->stage < stage_count) {
    StartStage(execution);
    return;
  }
  absl::Status status;
  {
    std::lock_guard<std::mutex> lock(execution->failure_mutex);
    status = execution->failure;
  }
  Completion done = std::move(execution->done);
  done(std::move(status));
}

void TaskExecutor::WorkerMain(uint32_t worker_id) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (ready_.empty()) {
      if (stopping_) return;
      ++sleeping_;
      work_available_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      --sleeping_;
      continue;
    }
    // Workers start on different tasks so that a stage's dispatches proceed side by side.
    Ready ready = ready_[worker_id % ready_.size()];
    lock.unlock();
    RunTask(ready, worker_id);
    ready = {};  // may free the execution: not under the lock
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
  while (keep_going()) {
    Ready ready;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (ready_.empty()) break;
      ready = ready_.front();
    }
    RunTask(ready, worker_id);
  }
  ReleaseHelperId(helper);
}

}  // namespace kiln::hal
