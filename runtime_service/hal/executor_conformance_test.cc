// HAL conformance, written once and instantiated for every executor that runs command buffers:
// the task executor behind a device's queue (one worker and four) and the inline executor. Each
// must compute the same results from the same recording, honour barriers, check binding
// tables, and fail with the failing workgroup's error while running nothing after it. What only
// the task executor promises (concurrency, helping, semaphores between submissions) is in
// task_executor_test.cc.
#include <atomic>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/hal/hal_test_util.h"
#include "runtime_service/hal/inline_executor.h"

namespace kiln::hal {
namespace {

using ::testing::StartsWith;
using namespace ::kiln::hal::testing;

// The executors under test: every one the runtime runs programs on.
enum class ExecutorKind { kTaskOneWorker, kTaskFourWorkers, kInline };

class ExecutorConformanceTest : public ::testing::TestWithParam<ExecutorKind> {
 protected:
  void SetUp() override {
    if (GetParam() == ExecutorKind::kInline) return;
    auto device =
        Device::Create({.worker_count = GetParam() == ExecutorKind::kTaskOneWorker ? 1u : 4u});
    ASSERT_TRUE(device.ok()) << device.status();
    device_ = *device;
  }

  // Runs `commands` to completion the way the runtime does under this executor.
  absl::Status Run(const std::shared_ptr<const CommandBuffer>& commands,
                   std::span<const BufferView> bindings) {
    if (device_ == nullptr) return InlineExecutor::Execute(*commands, bindings);
    auto done = std::make_shared<Semaphore>();
    absl::Status submitted = device_->queue().Submit({}, commands, bindings, {done, 1});
    if (!submitted.ok()) return submitted;
    return device_->Wait(*done, 1);
  }

  // Every kiln_workgroup_state_t::worker_id this executor hands out is below this.
  uint32_t WorkerIdLimit() const {
    return device_ == nullptr ? 1 : device_->executor().worker_id_limit();
  }

  std::shared_ptr<Device> device_;  // null: the inline executor
};

std::span<const uint8_t> Pattern(const void* data, size_t size) {
  return {static_cast<const uint8_t*>(data), size};
}

// Test exports observe execution through these (tests run one at a time).
std::atomic<uint32_t> g_counter{0};
std::atomic<uint32_t> g_later{0};

// binding0: u32 per workgroup (linear id) counting visits; binding1: the worker id that ran it.
int CountVisits(const kiln_executable_env_t*, const kiln_dispatch_state_t* dispatch,
                const kiln_workgroup_state_t* workgroup) {
  const uint32_t* count = dispatch->workgroup_count;
  const uint32_t* id = workgroup->workgroup_id;
  const size_t linear = (size_t{id[2]} * count[1] + id[1]) * count[0] + id[0];
  std::atomic_ref<uint32_t>(static_cast<uint32_t*>(dispatch->binding_ptrs[0])[linear]).fetch_add(1);
  static_cast<uint32_t*>(dispatch->binding_ptrs[1])[linear] = workgroup->worker_id;
  return 0;
}

int SlowIncrement(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
                  const kiln_workgroup_state_t*) {
  absl::SleepFor(absl::Microseconds(100));
  g_counter.fetch_add(1);
  return 0;
}

// Fails (code 5) unless exactly constants[0] increments happened before it started.
int CheckCounter(const kiln_executable_env_t*, const kiln_dispatch_state_t* dispatch,
                 const kiln_workgroup_state_t*) {
  return g_counter.load() == dispatch->constants[0] ? 0 : 5;
}

int FailAtX0Y1(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
               const kiln_workgroup_state_t* workgroup) {
  const uint32_t* id = workgroup->workgroup_id;
  return id[0] == 0 && id[1] == 1 && id[2] == 0 ? 3 : 0;
}

int CountLater(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
               const kiln_workgroup_state_t*) {
  g_later.fetch_add(1);
  return 0;
}

// Recorded once, replayed with different binding tables: c = a + b, a copy and a fill in the
// first stage; barrier; d = 2 * c.
TEST_P(ExecutorConformanceTest, RecordOnceReplayManyTimes) {
  constexpr size_t kN = 1000;
  auto commands = std::make_shared<CommandBuffer>(6);
  ASSERT_TRUE(commands
                  ->Dispatch(LibraryDispatch(kAddF32, {7, 1, 1},
                                             {{0, 0, kN * 4}, {1, 0, kN * 4}, {2, 0, kN * 4}}))
                  .ok());
  ASSERT_TRUE(commands->Copy({0, 0, 64}, {4, 0, 64}).ok());
  const uint16_t pattern = 0xbeef;
  ASSERT_TRUE(commands->Fill({5, 2, 6}, Pattern(&pattern, 2)).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands
                  ->Dispatch(LibraryDispatch(kScaleF32, {1, 1, 1}, {{2, 0, kN * 4}, {3, 0, kN * 4}},
                                             {FloatBits(2.0f)}))
                  .ok());
  commands->Finalize();

  for (int replay = 0; replay < 20; ++replay) {
    std::vector<float> a = Iota(kN, static_cast<float>(replay), 1.0f);
    std::vector<float> b = Iota(kN, -3.0f, 0.5f);
    std::vector<float> c(kN), d(kN), copy(16);
    std::vector<uint16_t> filled(5, 0);
    BufferView table[] = {ViewOf(a), ViewOf(b), ViewOf(c), ViewOf(d), ViewOf(copy), ViewOf(filled)};
    ASSERT_TRUE(Run(commands, table).ok());
    for (size_t i = 0; i < kN; ++i) {
      ASSERT_EQ(c[i], a[i] + b[i]) << i;
      ASSERT_EQ(d[i], 2.0f * (a[i] + b[i])) << i;
    }
    EXPECT_EQ(std::vector<float>(a.begin(), a.begin() + 16), copy);
    EXPECT_EQ(filled, (std::vector<uint16_t>{0, 0xbeef, 0xbeef, 0xbeef, 0}));
  }
}

TEST_P(ExecutorConformanceTest, EmptyCommandBufferSucceeds) {
  auto commands = std::make_shared<CommandBuffer>(0);
  commands->Finalize();
  EXPECT_TRUE(Run(commands, {}).ok());
}

TEST_P(ExecutorConformanceTest, EveryWorkgroupRunsExactlyOnce) {
  constexpr uint32_t kGroups = 5 * 4 * 3;
  auto commands = std::make_shared<CommandBuffer>(2);
  ASSERT_TRUE(commands
                  ->Dispatch(FunctionDispatch(
                      CountVisits, {5, 4, 3},
                      {{0, 0, kGroups * sizeof(uint32_t)}, {1, 0, kGroups * sizeof(uint32_t)}}))
                  .ok());
  commands->Finalize();
  for (int run = 0; run < 10; ++run) {
    std::vector<uint32_t> visits(kGroups, 0), workers(kGroups, ~0u);
    BufferView table[] = {ViewOf(visits), ViewOf(workers)};
    ASSERT_TRUE(Run(commands, table).ok());
    EXPECT_EQ(visits, std::vector<uint32_t>(kGroups, 1));
    for (uint32_t worker : workers) EXPECT_LT(worker, WorkerIdLimit());
  }
}

TEST_P(ExecutorConformanceTest, BarriersOrderStages) {
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(SlowIncrement, {8, 2, 2})).ok());
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(SlowIncrement, {1, 1, 1})).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(CheckCounter, {8, 1, 1}, {}, {33})).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(SlowIncrement, {3, 1, 1})).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(CheckCounter, {8, 1, 1}, {}, {36})).ok());
  commands->Finalize();
  for (int run = 0; run < 3; ++run) {
    g_counter = 0;
    absl::Status status = Run(commands, {});
    ASSERT_TRUE(status.ok()) << status;
  }
}

// Copies and fills of every pattern width, zero lengths included; an overlapping copy within
// one buffer moves the bytes as memmove does.
TEST_P(ExecutorConformanceTest, CopiesAndFills) {
  auto commands = std::make_shared<CommandBuffer>(2);
  const uint8_t p1 = 0x11;
  const uint16_t p2 = 0x2233;
  const uint32_t p4 = 0x44556677;
  const uint64_t p8 = 0x8899aabbccddeeffull;
  ASSERT_TRUE(commands->Fill({0, 0, 3}, Pattern(&p1, 1)).ok());
  ASSERT_TRUE(commands->Fill({0, 4, 4}, Pattern(&p2, 2)).ok());
  ASSERT_TRUE(commands->Fill({0, 8, 8}, Pattern(&p4, 4)).ok());
  ASSERT_TRUE(commands->Fill({0, 16, 16}, Pattern(&p8, 8)).ok());
  ASSERT_TRUE(commands->Fill({0, 3, 0}, Pattern(&p8, 8)).ok());
  ASSERT_TRUE(commands->Copy({0, 0, 0}, {1, 0, 0}).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands->Copy({1, 0, 24}, {1, 8, 24}).ok());  // overlapping, forward
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands->Copy({0, 0, 32}, {1, 32, 32}).ok());
  commands->Finalize();

  std::vector<uint8_t> a(32, 0xee), b(64);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i);
  BufferView table[] = {ViewOf(a), ViewOf(b)};
  ASSERT_TRUE(Run(commands, table).ok());

  std::vector<uint8_t> expected_a(32);
  std::memset(expected_a.data(), 0x11, 3);
  expected_a[3] = 0xee;
  for (size_t i = 0; i < 2; ++i) std::memcpy(expected_a.data() + 4 + 2 * i, &p2, 2);
  for (size_t i = 0; i < 2; ++i) std::memcpy(expected_a.data() + 8 + 4 * i, &p4, 4);
  for (size_t i = 0; i < 2; ++i) std::memcpy(expected_a.data() + 16 + 8 * i, &p8, 8);
  EXPECT_EQ(a, expected_a);
  std::vector<uint8_t> expected_b(64);
  for (size_t i = 0; i < 8; ++i) expected_b[i] = static_cast<uint8_t>(i);
  for (size_t i = 8; i < 32; ++i) expected_b[i] = static_cast<uint8_t>(i - 8);
  std::memcpy(expected_b.data() + 32, expected_a.data(), 32);
  EXPECT_EQ(b, expected_b);
}

TEST_P(ExecutorConformanceTest, FailingExportIsInternalNamingItsWorkgroup) {
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(LibraryDispatch(kFail, {2, 1, 1}, {})).ok());
  commands->Finalize();
  absl::Status status = Run(commands, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()),
              StartsWith("export 'fail' failed with code 7 in workgroup ("));
}

// The error names the one failing workgroup, and no command after the failing stage runs.
TEST_P(ExecutorConformanceTest, FailureRunsNothingAfterIt) {
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(FailAtX0Y1, {40, 3, 2})).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(CountLater, {10, 1, 1})).ok());
  commands->Finalize();
  for (int run = 0; run < 5; ++run) {
    g_later = 0;
    absl::Status status = Run(commands, {});
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(std::string(status.message()),
              "test dispatch failed with code 3 in workgroup (0, 1, 0)");
    EXPECT_EQ(g_later.load(), 0u);
  }
}

// A kernel's index check (a gather's index out of range) is the inputs' fault: INVALID_ARGUMENT
// with a message a user can act on, on every executor.
int IndexOutOfRange(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
                    const kiln_workgroup_state_t* workgroup) {
  return workgroup->workgroup_id[0] == 2 ? KILN_DISPATCH_INDEX_OUT_OF_RANGE : KILN_DISPATCH_OK;
}

TEST_P(ExecutorConformanceTest, IndexOutOfRangeIsTheInputsFault) {
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(IndexOutOfRange, {4, 1, 1})).ok());
  commands->Finalize();
  absl::Status status = Run(commands, {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(status.message()),
            "test dispatch: an index computed from the inputs (a gather or embedding lookup) is "
            "out of range of the tensor it indexes; nothing was read out of bounds and no results "
            "were returned: check the index inputs");
}

TEST_P(ExecutorConformanceTest, BindingTablesAreChecked) {
  auto commands = std::make_shared<CommandBuffer>(2);
  ASSERT_TRUE(commands->Copy({0, 0, 8}, {1, 4, 8}).ok());
  commands->Finalize();
  std::vector<uint8_t> a(8, 1), b(11, 0);
  BufferView short_table[] = {ViewOf(a), ViewOf(b)};
  absl::Status status = Run(commands, short_table);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "binding 1 is 11 bytes; the command buffer uses 12");
  EXPECT_EQ(b, std::vector<uint8_t>(11, 0));  // nothing ran
  status = Run(commands, std::span(short_table, 1));
  EXPECT_EQ(status.message(), "binding table has 1 entries; the command buffer uses 2");
}

TEST_P(ExecutorConformanceTest, OnlyFinalizedCommandBuffersRun) {
  auto commands = std::make_shared<CommandBuffer>(0);
  ASSERT_TRUE(commands->Dispatch(FunctionDispatch(CountLater, {1, 1, 1})).ok());
  g_later = 0;
  EXPECT_EQ(Run(commands, {}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(g_later.load(), 0u);
}

INSTANTIATE_TEST_SUITE_P(EveryExecutor, ExecutorConformanceTest,
                         ::testing::Values(ExecutorKind::kTaskOneWorker,
                                           ExecutorKind::kTaskFourWorkers, ExecutorKind::kInline),
                         [](const ::testing::TestParamInfo<ExecutorKind>& info) {
                           switch (info.param) {
                             case ExecutorKind::kTaskOneWorker:
                               return "TaskOneWorker";
                             case ExecutorKind::kTaskFourWorkers:
                               return "TaskFourWorkers";
                             case ExecutorKind::kInline:
                               return "Inline";
                           }
                           return "Unknown";
                         });

}  // namespace
}  // namespace kiln::hal
