// The task executor: a pool of worker threads that runs command buffers. The commands of a
// stage (between barriers) are published together; workers claim a dispatch's workgroups one
// at a time through an atomic counter, so any number of dispatches, from any number of
// submissions, share the workers. Whoever finishes a stage's last unit of work starts the next
// stage, or completes the submission.
#ifndef KILN_RUNTIME_SERVICE_HAL_TASK_EXECUTOR_H_
#define KILN_RUNTIME_SERVICE_HAL_TASK_EXECUTOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime_service/hal/allocator.h"
#include "runtime_service/hal/command_buffer.h"
#include "runtime_service/hal/semaphore.h"

namespace kiln::hal {

struct TaskExecutorOptions {
  uint32_t worker_count = 0;  // 0: std::thread::hardware_concurrency()
  // Pins worker i to the i-th CPU this process may run on (modulo their count).
  bool pin_workers = false;
};

class TaskExecutor {
 public:
  using Options = TaskExecutorOptions;

  // Threads that help (HelpWhile) get worker ids [worker_count, worker_count + kMaxHelpers).
  static constexpr uint32_t kMaxHelpers = 64;

  static absl::StatusOr<std::unique_ptr<TaskExecutor>> Create(const Options& options = {});
  // Joins the workers once queued work is drained. Executions still waiting to be started
  // (e.g. a queue submission blocked on a semaphore) must not start afterwards.
  ~TaskExecutor();
  TaskExecutor(const TaskExecutor&) = delete;
  TaskExecutor& operator=(const TaskExecutor&) = delete;

  uint32_t worker_count() const { return static_cast<uint32_t>(workers_.size()); }
  // Every kiln_workgroup_state_t::worker_id this executor hands out is below this.
  uint32_t worker_id_limit() const { return worker_count() + kMaxHelpers; }

  // Starts running a finalized command buffer whose binding table the caller has checked
  // (CommandBuffer::CheckBindings). Returns at once; the thread that finishes the work signals
  // `signal`, or fails its semaphore with the first failure (INTERNAL naming the dispatch and
  // code; the remaining workgroups are skipped), or with RESOURCE_EXHAUSTED when the executor
  // runs out of memory for its tables. The bound memory must stay valid until then.
  // In steady state this allocates nothing: executions are pooled and reused.
  void Execute(std::shared_ptr<const CommandBuffer> commands, std::span<const BufferView> bindings,
               SemaphoreValue signal);

  // Submissions some thread still holds: running, or finished with a worker about to let go.
  // 0 once the executor is quiescent. For tests and diagnostics.
  size_t executions_in_flight() const;

  // Runs queued work on the calling thread while `keep_going()` holds and work is queued,
  // instead of sleeping while the workers do it. Returns when either stops; `keep_going` is
  // checked between tasks (a task joined is helped until its workgroups are all claimed).
  void HelpWhile(const std::function<bool()>& keep_going);

 private:
  struct Execution;
  struct Task;
  // A listed task. Each entry in ready_ holds a reference on its execution, and so does each
  // thread running one of its tasks.
  struct Ready {
    Execution* execution = nullptr;
    Task* task = nullptr;
  };

  TaskExecutor() = default;
  void WorkerMain(uint32_t worker_id);
  // nullptr when memory runs out.
  Execution* AcquireExecution(size_t task_count, size_t binding_count);
  void Unref(Execution* execution);
  // Lists the current stage's tasks; false (nothing listed) when memory runs out.
  bool StartStage(Execution* execution);
  void RunTask(const Ready& ready, uint32_t worker_id);
  void FinishTask(Execution* execution);
  void WakeHelpers();
  void Unlist(Task* task);
  int AcquireHelperId();
  void ReleaseHelperId(int id);

  std::mutex mutex_;
  std::condition_variable work_available_;
  std::vector<Ready> ready_;  // tasks with workgroups left to claim; guarded by mutex_
  uint32_t sleeping_ = 0;     // workers blocked in work_available_; guarded by mutex_
  // Helping threads (HelpWhile) out of work wait here: woken by new work and by completions,
  // never by each other's tasks, so that workers are not woken for nothing.
  std::condition_variable helper_wake_;
  uint32_t helpers_waiting_ = 0;  // guarded by mutex_
  // Bumped whenever tasks are listed: idle workers spin on it briefly before they sleep.
  std::atomic<uint64_t> work_epoch_{0};
  bool stopping_ = false;                // guarded by mutex_
  std::atomic<uint64_t> helper_ids_{0};  // bit i: helper id worker_count + i is taken
  mutable std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Execution>> executions_;  // every one made; guarded by pool_mutex_
  std::vector<Execution*> free_executions_;             // guarded by pool_mutex_
  // The largest tables any submission needed; every pooled execution grows to them.
  size_t pool_task_capacity_ = 0;     // guarded by pool_mutex_
  size_t pool_binding_capacity_ = 0;  // guarded by pool_mutex_
  std::vector<std::thread> workers_;
};

}  // namespace kiln::hal

#endif  // KILN_RUNTIME_SERVICE_HAL_TASK_EXECUTOR_H_
