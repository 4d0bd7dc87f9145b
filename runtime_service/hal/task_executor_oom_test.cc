// The task executor running out of memory: the submission fails with RESOURCE_EXHAUSTED through
// its semaphore, on the submitting thread or on a worker, and the executor keeps working.
//
// This binary interposes the C allocator (glibc's malloc family, which operator new also goes
// through) and makes every allocation fail while armed. Sanitizer builds bring their own
// allocator, so there the tests are skipped.
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/testing/sanitizers.h"

#define KILN_FAILS_ALLOCATIONS (!KILN_SANITIZED)

namespace {
std::atomic<bool> g_fail{false};
}  // namespace

#if KILN_FAILS_ALLOCATIONS
// glibc's own entry points, exported for exactly this kind of interposition.
extern "C" {
// NOLINTBEGIN(bugprone-reserved-identifier): glibc's names, not ours to choose
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t nmemb, size_t size);
void* __libc_realloc(void* ptr, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* ptr);
// NOLINTEND(bugprone-reserved-identifier)

void* malloc(size_t size) {
  return g_fail.load(std::memory_order_relaxed) ? nullptr : __libc_malloc(size);
}
// Parameters named as glibc's declarations name them.
void* calloc(size_t nmemb, size_t size) {
  return g_fail.load(std::memory_order_relaxed) ? nullptr : __libc_calloc(nmemb, size);
}
void* realloc(void* ptr, size_t size) {
  return g_fail.load(std::memory_order_relaxed) ? nullptr : __libc_realloc(ptr, size);
}
void* memalign(size_t alignment, size_t size) {
  return g_fail.load(std::memory_order_relaxed) ? nullptr : __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }
int posix_memalign(void** memptr, size_t alignment, size_t size) {
  void* pointer = memalign(alignment, size);
  if (pointer == nullptr) return ENOMEM;
  *memptr = pointer;
  return 0;
}
void free(void* ptr) { __libc_free(ptr); }
}
#endif

namespace kiln::hal {
namespace {

constexpr char kOutOfMemory[] =
    "out of memory in the HAL executor; the command buffer was not run to completion";

class TaskExecutorOomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KILN_FAILS_ALLOCATIONS) GTEST_SKIP() << "sanitizer builds replace the allocator";
    auto device = Device::Create({.worker_count = 2});
    ASSERT_TRUE(device.ok()) << device.status();
    device_ = *device;
  }

  // `stages` stages of fills of one byte each, `per_stage` fills in each, over a buffer of one
  // byte per fill.
  static std::shared_ptr<CommandBuffer> Fills(uint32_t stages, uint32_t per_stage) {
    auto commands = std::make_shared<CommandBuffer>(1);
    const uint8_t pattern = 7;
    uint64_t at = 0;
    for (uint32_t s = 0; s < stages; ++s) {
      if (s > 0) {
        EXPECT_TRUE(commands->Barrier().ok());
      }
      for (uint32_t i = 0; i < per_stage; ++i)
        EXPECT_TRUE(commands->Fill({0, at++, 1}, {&pattern, 1}).ok());
    }
    commands->Finalize();
    return commands;
  }

  // Submits `commands` over a fresh buffer, with every allocation failing until it ends when
  // `fail`, and returns how it ended. With `expect_filled`, checks that every byte was written.
  absl::Status Run(const std::shared_ptr<CommandBuffer>& commands, bool fail,
                   bool expect_filled = false) {
    std::vector<uint8_t> buffer(commands->commands().size(), 0);
    const BufferView bindings[] = {{buffer.data(), buffer.size()}};
    auto done = std::make_shared<Semaphore>(0);
    g_fail.store(fail);
    absl::Status submitted = device_->queue().Submit({}, commands, bindings, {done, 1});
    // Without allocating (no Device::Wait, whose help loop takes a std::function): poll.
    absl::Status status;
    for (;;) {
      absl::StatusOr<uint64_t> value = done->Query();
      if (!value.ok() || *value >= 1) {
        status = value.status();
        break;
      }
      std::this_thread::yield();
    }
    g_fail.store(false);
    EXPECT_TRUE(submitted.ok()) << submitted;
    if (expect_filled) {
      EXPECT_EQ(buffer, std::vector<uint8_t>(buffer.size(), 7));
    }
    return status;
  }

  std::shared_ptr<Device> device_;
};

TEST_F(TaskExecutorOomTest, GrowingTheTablesFailsOnTheSubmittingThread) {
  ASSERT_TRUE(Run(Fills(1, 1), /*fail=*/false, /*expect_filled=*/true).ok());
  // 600 commands need larger pooled tables than any submission before.
  const auto big = Fills(1, 600);
  absl::Status status = Run(big, /*fail=*/true);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), kOutOfMemory);
  EXPECT_EQ(device_->executor().executions_in_flight(), 0u);
  // With memory back, the same submission runs.
  EXPECT_TRUE(Run(big, /*fail=*/false, /*expect_filled=*/true).ok());
}

TEST_F(TaskExecutorOomTest, ListingALargerStageFailsOnAWorker) {
  // Tables for 601 tasks, but never more than one task listed at once.
  ASSERT_TRUE(Run(Fills(601, 1), /*fail=*/false, /*expect_filled=*/true).ok());
  // A first stage of one fill, then 600 at once: the worker that finishes the first must grow
  // the ready list for the second.
  auto commands = std::make_shared<CommandBuffer>(1);
  const uint8_t pattern = 7;
  ASSERT_TRUE(commands->Fill({0, 0, 1}, {&pattern, 1}).ok());
  ASSERT_TRUE(commands->Barrier().ok());
  for (uint64_t i = 1; i <= 600; ++i) ASSERT_TRUE(commands->Fill({0, i, 1}, {&pattern, 1}).ok());
  commands->Finalize();
  absl::Status status = Run(commands, /*fail=*/true);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), kOutOfMemory);
  for (int i = 0; i < 5000 && device_->executor().executions_in_flight() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(device_->executor().executions_in_flight(), 0u);
  EXPECT_TRUE(Run(commands, /*fail=*/false, /*expect_filled=*/true).ok());
}

}  // namespace
}  // namespace kiln::hal
