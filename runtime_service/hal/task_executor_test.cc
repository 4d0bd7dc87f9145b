// HAL conformance: the task executor, queue and device — scheduling, barriers, failure
// propagation, semaphore ordering between submissions, concurrency, caller participation.
#include "runtime_service/hal/task_executor.h"

#include <atomic>
#include <bit>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/hal/hal_test_util.h"

namespace kiln::hal {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace ::kiln::hal::testing;

std::shared_ptr<Device> NewDevice(uint32_t workers, bool pin = false) {
  auto device = Device::Create({.worker_count = workers, .pin_workers = pin});
  EXPECT_TRUE(device.ok()) << device.status();
  return device.ok() ? *device : nullptr;
}

std::shared_ptr<CommandBuffer> Finalized(std::shared_ptr<CommandBuffer> commands) {
  commands->Finalize();
  return commands;
}

// Test exports observe scheduling through these (tests run one at a time).
std::atomic<uint32_t> g_counter{0};
std::atomic<uint32_t> g_calls{0};
std::atomic<uint32_t> g_arrived{0};
std::atomic<bool> g_release{false};
std::atomic<bool> g_blocking{false};

// binding0: u32 per workgroup (linear id) counting visits; binding1: u32 per workgroup, the
// worker id that ran it.
int CountVisits(const kiln_executable_env_t*, const kiln_dispatch_state_t* dispatch,
                const kiln_workgroup_state_t* workgroup) {
  const uint32_t* count = dispatch->workgroup_count;
  const uint32_t* id = workgroup->workgroup_id;
  const size_t linear = (size_t{id[2]} * count[1] + id[1]) * count[0] + id[0];
  auto* visits = static_cast<uint32_t*>(dispatch->binding_ptrs[0]);
  auto* workers = static_cast<uint32_t*>(dispatch->binding_ptrs[1]);
  std::atomic_ref<uint32_t>(visits[linear]).fetch_add(1);
  workers[linear] = workgroup->worker_id;
  if (dispatch->constant_count > 0) absl::SleepFor(absl::Microseconds(dispatch->constants[0]));
  return 0;
}

// Waits (up to 5 s) until two workgroups are inside at once: only concurrent execution passes.
int Rendezvous(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
               const kiln_workgroup_state_t*) {
  g_arrived.fetch_add(1);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (g_arrived.load() < 2) {
    if (absl::Now() > deadline) return 9;
    std::this_thread::yield();
  }
  return 0;
}

int SlowIncrement(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
                  const kiln_workgroup_state_t*) {
  absl::SleepFor(absl::Microseconds(200));
  g_counter.fetch_add(1);
  return 0;
}

template <uint32_t kFailing>
int FailAt(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
           const kiln_workgroup_state_t* workgroup) {
  g_calls.fetch_add(1);
  return workgroup->workgroup_id[0] == kFailing ? 3 : 0;
}

int Count(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
          const kiln_workgroup_state_t*) {
  g_calls.fetch_add(1);
  return 0;
}

// Holds its worker until g_release.
int Block(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
          const kiln_workgroup_state_t*) {
  g_blocking.store(true);
  while (!g_release.load()) std::this_thread::yield();
  return 0;
}

// binding0: u32 per workgroup, the worker id that ran it. Each call first waits (up to 5 s)
// until four distinct workers have made one: no worker can get past its first workgroup, and
// so steal from another's run, before every worker has claimed the first of its own.
std::atomic<uint32_t> g_worker_mask{0};
int RecordAfterAllArrive(const kiln_executable_env_t*, const kiln_dispatch_state_t* dispatch,
                         const kiln_workgroup_state_t* workgroup) {
  g_worker_mask.fetch_or(1u << (workgroup->worker_id % 32));
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (std::popcount(g_worker_mask.load()) < 4) {
    if (absl::Now() > deadline) return 9;
    std::this_thread::yield();
  }
  static_cast<uint32_t*>(dispatch->binding_ptrs[0])[workgroup->workgroup_id[0]] =
      workgroup->worker_id;
  return 0;
}

// binding0[0] = worker id.
int RecordWorker(const kiln_executable_env_t*, const kiln_dispatch_state_t* dispatch,
                 const kiln_workgroup_state_t* workgroup) {
  static_cast<uint32_t*>(dispatch->binding_ptrs[0])[0] = workgroup->worker_id;
  return 0;
}

TEST(TaskExecutorTest, WorkerCount) {
  auto executor = TaskExecutor::Create();
  ASSERT_TRUE(executor.ok());
  EXPECT_EQ((*executor)->worker_count(), std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ((*executor)->worker_id_limit(),
            (*executor)->worker_count() + TaskExecutor::kMaxHelpers);
  EXPECT_EQ(TaskExecutor::Create({.worker_count = 5000}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TaskExecutorTest, WorkersShareTheWorkgroupsOfADispatch) {
  auto device = NewDevice(4);
  constexpr uint32_t kGroups = 48;
  auto commands = std::make_shared<CommandBuffer>(2);
  ASSERT_TRUE(commands
                  ->Dispatch(FunctionDispatch(
                      CountVisits, {kGroups, 1, 1},
                      {{0, 0, kGroups * sizeof(uint32_t)}, {1, 0, kGroups * sizeof(uint32_t)}},
                      {/*sleep us=*/2000}))
                  .ok());
  Finalized(commands);
  std::vector<uint32_t> visits(kGroups, 0), workers(kGroups, 0);
  BufferView table[] = {ViewOf(visits), ViewOf(workers)};
  auto done = std::make_shared<Semaphore>();
  ASSERT_TRUE(device->queue().Submit({}, commands, table, {done, 1}).ok());
  ASSERT_TRUE(done->Wait(1).ok());  // no helping: the workers alone
  std::set<uint32_t> distinct(workers.begin(), workers.end());
  EXPECT_GE(distinct.size(), 2u);
  for (uint32_t worker : distinct) EXPECT_LT(worker, 4u);
}

// Worker i starts on the i-th contiguous run of the workgroups (the same ones every call, so
// their data stays in its core's cache), then steals.
TEST(TaskExecutorTest, EachWorkerStartsOnItsOwnRunOfWorkgroups) {
  auto device = NewDevice(4);
  constexpr uint32_t kGroups = 50;  // 5 runs of 10: one per worker and one for the caller
  auto commands = std::make_shared<CommandBuffer>(1);
  ASSERT_TRUE(commands
                  ->Dispatch(FunctionDispatch(RecordAfterAllArrive, {kGroups, 1, 1},
                                              {{0, 0, kGroups * sizeof(uint32_t)}}))
                  .ok());
  Finalized(commands);
  g_worker_mask = 0;
  std::vector<uint32_t> workers(kGroups, ~0u);
  BufferView table[] = {ViewOf(workers)};
  auto done = std::make_shared<Semaphore>();
  ASSERT_TRUE(device->queue().Submit({}, commands, table, {done, 1}).ok());
  ASSERT_TRUE(done->Wait(1).ok());  // no helping: the caller's run is stolen by a worker
  for (uint32_t worker = 0; worker < 4; ++worker)
    EXPECT_EQ(workers[size_t{worker} * 10], worker) << "first workgroup of run " << worker;
  for (uint32_t worker : workers) EXPECT_LT(worker, 4u);
}

// A failure inside a later thread's run (workgroup 600 opens worker 3's run of 200) fails the
// submission with that workgroup's error, and the stage after it never runs. (That unclaimed
// workgroups of the other runs are skipped is FailureSkipsRemainingWorkgroupsAndStages: with
// four workers on this 2-core machine, how many others run first is up to the scheduler.)
TEST(TaskExecutorTest, FailureInALaterRunFailsTheSubmission) {
  auto device = NewDevice(4);
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(FailAt<600>, {1000, 1, 1})).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(SlowIncrement, {10, 1, 1})).ok());
  Finalized(commands);
  for (int run = 0; run < 10; ++run) {
    g_counter = 0;
    auto done = std::make_shared<Semaphore>();
    ASSERT_TRUE(device->queue().Submit({}, commands, {}, {done, 1}).ok());
    absl::Status status = done->Wait(1);
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(status.message(), "test dispatch failed with code 3 in workgroup (600, 0, 0)");
    EXPECT_EQ(g_counter.load(), 0u);  // the stage after the failure never ran
  }
}

TEST(TaskExecutorTest, DispatchesOfAStageRunConcurrently) {
  auto device = NewDevice(2);
  g_arrived = 0;
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(Rendezvous, {1, 1, 1})).ok());
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(Rendezvous, {1, 1, 1})).ok());
  Finalized(commands);
  auto done = std::make_shared<Semaphore>();
  ASSERT_TRUE(device->queue().Submit({}, commands, {}, {done, 1}).ok());
  EXPECT_TRUE(done->Wait(1).ok());
}

TEST(TaskExecutorTest, FailingDispatchFailsTheSubmissionAndTheCaller) {
  auto device = NewDevice(3);
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(LibraryDispatch(kFail, {2, 1, 1}, {})).ok());
  Finalized(commands);
  auto done = std::make_shared<Semaphore>();
  ASSERT_TRUE(device->queue().Submit({}, commands, {}, {done, 1}).ok());
  absl::Status status = device->Wait(*done, 1);  // the caller
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()),
              StartsWith("export 'fail' failed with code 7 in workgroup ("));
  // The signalled semaphore carries it for anyone else.
  EXPECT_EQ(done->Query().status(), status);
  EXPECT_EQ(done->Wait(1).code(), absl::StatusCode::kInternal);
}

TEST(TaskExecutorTest, FailureSkipsRemainingWorkgroupsAndStages) {
  // One worker, no helping: the order is deterministic. The worker starts on its own run
  // (workgroups 0-499) and fails at once; the caller's run (500-999) is skipped too.
  auto device = NewDevice(1);
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(FailAt<0>, {1000, 1, 1})).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(Count, {10, 1, 1})).ok());
  Finalized(commands);
  g_calls = 0;
  auto done = std::make_shared<Semaphore>();
  ASSERT_TRUE(device->queue().Submit({}, commands, {}, {done, 1}).ok());
  absl::Status status = done->Wait(1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(), "test dispatch failed with code 3 in workgroup (0, 0, 0)");
  EXPECT_EQ(g_calls.load(), 1u);
}

TEST(QueueTest, FailurePropagatesDownTheSemaphoreChain) {
  auto device = NewDevice(2);
  auto fail = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(fail->Dispatch(LibraryDispatch(kFail, {1, 1, 1}, {})).ok());
  Finalized(fail);
  auto counting = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(counting->Dispatch(FunctionDispatch(Count, {4, 1, 1})).ok());
  Finalized(counting);

  g_calls = 0;
  auto gate = std::make_shared<Semaphore>();
  auto a = std::make_shared<Semaphore>();
  auto b = std::make_shared<Semaphore>();
  // b's submission is queued behind a's, which waits on the gate.
  SemaphoreValue wait_a[] = {{a, 1}};
  ASSERT_TRUE(device->queue().Submit(wait_a, counting, {}, {b, 1}).ok());
  SemaphoreValue wait_gate[] = {{gate, 1}};
  ASSERT_TRUE(device->queue().Submit(wait_gate, fail, {}, {a, 1}).ok());
  ASSERT_TRUE(gate->Signal(1).ok());
  absl::Status status = device->Wait(*b, 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(), "export 'fail' failed with code 7 in workgroup (0, 0, 0)");
  EXPECT_EQ(g_calls.load(), 0u);  // the dependent work never ran

  // A failed wait semaphore fails the submission without running it, too.
  auto failed = std::make_shared<Semaphore>();
  failed->Fail(absl::CancelledError("upstream cancelled"));
  auto c = std::make_shared<Semaphore>();
  SemaphoreValue wait_failed[] = {{failed, 1}};
  ASSERT_TRUE(device->queue().Submit(wait_failed, counting, {}, {c, 1}).ok());
  EXPECT_EQ(c->Wait(1).message(), "upstream cancelled");
  EXPECT_EQ(g_calls.load(), 0u);
}

TEST(QueueTest, WaitsOrderSubmissions) {
  auto device = NewDevice(3);
  constexpr size_t kN = 4096;
  // add: c = a + b; scale: out = 3 * in. Three dependent submissions, each waiting on the
  // previous one's semaphore, queued in reverse order behind a gate.
  auto add = std::make_shared<CommandBuffer>(3);
  ASSERT_TRUE(add->Dispatch(LibraryDispatch(kAddF32, {8, 1, 1},
                                            {{0, 0, kN * 4}, {1, 0, kN * 4}, {2, 0, kN * 4}}))
                  .ok());
  Finalized(add);
  auto scale = std::make_shared<CommandBuffer>(2);
  ASSERT_TRUE(scale
                  ->Dispatch(LibraryDispatch(kScaleF32, {1, 1, 1}, {{0, 0, kN * 4}, {1, 0, kN * 4}},
                                             {FloatBits(3.0f)}))
                  .ok());
  Finalized(scale);

  std::vector<float> a = Iota(kN, 1.0f, 1.0f), b = Iota(kN, 0.5f, -0.25f);
  std::vector<float> c(kN, -1.0f), d(kN, -1.0f), e(kN, -1.0f);
  auto gate = std::make_shared<Semaphore>();
  auto timeline = std::make_shared<Semaphore>();  // one timeline: 1 after add, 2, 3
  BufferView scale2[] = {ViewOf(d), ViewOf(e)};
  SemaphoreValue after2[] = {{timeline, 2}};
  ASSERT_TRUE(device->queue().Submit(after2, scale, scale2, {timeline, 3}).ok());
  BufferView scale1[] = {ViewOf(c), ViewOf(d)};
  SemaphoreValue after1[] = {{timeline, 1}};
  ASSERT_TRUE(device->queue().Submit(after1, scale, scale1, {timeline, 2}).ok());
  BufferView add_table[] = {ViewOf(a), ViewOf(b), ViewOf(c)};
  SemaphoreValue after_gate[] = {{gate, 1}};
  ASSERT_TRUE(device->queue().Submit(after_gate, add, add_table, {timeline, 1}).ok());

  // Nothing may run before the gate opens.
  EXPECT_EQ(timeline->Wait(1, absl::Now() + absl::Milliseconds(20)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(c[0], -1.0f);
  ASSERT_TRUE(gate->Signal(1).ok());
  ASSERT_TRUE(device->Wait(Fence({{timeline, 3}})).ok());
  for (size_t i = 0; i < kN; ++i) ASSERT_EQ(e[i], 9.0f * (a[i] + b[i])) << i;
}

TEST(QueueTest, ConcurrentSubmissionsFromManyThreads) {
  auto device = NewDevice(3);
  constexpr size_t kN = 2000;
  auto add = std::make_shared<CommandBuffer>(3);
  ASSERT_TRUE(add->Dispatch(LibraryDispatch(kAddF32, {5, 1, 1},
                                            {{0, 0, kN * 4}, {1, 0, kN * 4}, {2, 0, kN * 4}}))
                  .ok());
  Finalized(add);
  constexpr int kThreads = 6;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<float> a = Iota(kN, static_cast<float>(t), 1.0f), b = Iota(kN, 2.0f, 0.5f);
      for (int i = 0; i < 100; ++i) {
        std::vector<float> c(kN, 0.0f);
        BufferView table[] = {ViewOf(a), ViewOf(b), ViewOf(c)};
        auto done = std::make_shared<Semaphore>();
        if (!device->queue().Submit({}, add, table, {done, 1}).ok() ||
            !device->Wait(*done, 1).ok()) {
          ++failures[t];
          continue;
        }
        for (size_t k = 0; k < kN; ++k) {
          if (c[k] != a[k] + b[k]) {
            ++failures[t];
            break;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << t;
}

TEST(QueueTest, WaitingThreadHelpsWhenWorkersAreBusy) {
  auto device = NewDevice(1);
  g_release = false;
  g_blocking = false;
  auto block = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(block->Dispatch(FunctionDispatch(Block, {1, 1, 1})).ok());
  Finalized(block);
  auto blocked = std::make_shared<Semaphore>();
  ASSERT_TRUE(device->queue().Submit({}, block, {}, {blocked, 1}).ok());
  while (!g_blocking.load()) std::this_thread::yield();  // the only worker is now taken

  auto record = std::make_shared<CommandBuffer>(1);
  ASSERT_TRUE(record->Dispatch(FunctionDispatch(RecordWorker, {1, 1, 1}, {{0, 0, 4}})).ok());
  Finalized(record);
  std::vector<uint32_t> worker(1, 12345);
  BufferView table[] = {ViewOf(worker)};
  auto done = std::make_shared<Semaphore>();
  ASSERT_TRUE(device->queue().Submit({}, record, table, {done, 1}).ok());
  EXPECT_TRUE(device->Wait(*done, 1).ok());                 // would hang if the caller only slept
  EXPECT_GE(worker[0], device->executor().worker_count());  // a helper's id
  EXPECT_LT(worker[0], device->executor().worker_id_limit());
  g_release = true;
  EXPECT_TRUE(device->Wait(*blocked, 1).ok());
}

TEST(QueueTest, RejectedSubmissionsLeaveTheSemaphoreAlone) {
  auto device = NewDevice(1);
  auto done = std::make_shared<Semaphore>();
  auto open = std::make_shared<CommandBuffer>(1);
  EXPECT_EQ(device->queue().Submit({}, open, {}, {done, 1}).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(open->Fill({0, 0, 8}, std::vector<uint8_t>{1}).ok());
  open->Finalize();
  std::vector<uint8_t> small(4);
  BufferView table[] = {ViewOf(small)};
  EXPECT_EQ(device->queue().Submit({}, open, table, {done, 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(device->queue().Submit({}, open, {}, {done, 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(device->queue().Submit({}, open, table, {nullptr, 1}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*done->Query(), 0u);
}

TEST(DeviceTest, PinnedWorkersRun) {
  auto device = NewDevice(2, /*pin=*/true);
  ASSERT_NE(device, nullptr);
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(Count, {64, 1, 1})).ok());
  Finalized(commands);
  g_calls = 0;
  auto done = std::make_shared<Semaphore>();
  ASSERT_TRUE(device->queue().Submit({}, commands, {}, {done, 1}).ok());
  EXPECT_TRUE(device->Wait(Fence({{done, 1}}), absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(g_calls.load(), 64u);
}

}  // namespace
}  // namespace kiln::hal
