// HAL conformance: timeline semaphores and fences.
#include "runtime_service/hal/semaphore.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::hal {
namespace {

using ::testing::HasSubstr;

absl::Time Soon() { return absl::Now() + absl::Milliseconds(20); }

TEST(SemaphoreTest, SignalAdvancesTheTimeline) {
  Semaphore semaphore(3);
  EXPECT_EQ(*semaphore.Query(), 3u);
  EXPECT_TRUE(semaphore.Wait(3).ok());
  EXPECT_TRUE(semaphore.Wait(0).ok());
  EXPECT_TRUE(semaphore.Signal(5).ok());
  EXPECT_EQ(*semaphore.Query(), 5u);
  EXPECT_TRUE(semaphore.Wait(4, absl::InfinitePast()).ok());
  // Timelines only move forward.
  absl::Status status = semaphore.Signal(5);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("already 5"));
  EXPECT_EQ(semaphore.Signal(2).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*semaphore.Query(), 5u);
}

TEST(SemaphoreTest, WaitTimesOut) {
  Semaphore semaphore;
  const absl::Time start = absl::Now();
  absl::Status status = semaphore.Wait(1, Soon());
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(15));
  // A deadline in the past polls.
  EXPECT_EQ(semaphore.Wait(1, absl::InfinitePast()).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(semaphore.Signal(1).ok());
  EXPECT_TRUE(semaphore.Wait(1, absl::InfinitePast()).ok());
}

TEST(SemaphoreTest, SignalWakesWaitersInTimelineOrder) {
  auto semaphore = std::make_shared<Semaphore>();
  std::atomic<int> woken[4] = {};
  std::vector<std::thread> waiters;
  for (int value = 1; value <= 3; ++value) {
    waiters.emplace_back([&, value] {
      EXPECT_TRUE(semaphore->Wait(value).ok());
      woken[value].store(1);
    });
  }
  for (int value = 1; value <= 3; ++value) {
    // Nobody waiting for a later value may wake before its value is signalled.
    absl::SleepFor(absl::Milliseconds(10));
    for (int later = value; later <= 3; ++later) EXPECT_EQ(woken[later].load(), 0) << later;
    ASSERT_TRUE(semaphore->Signal(value).ok());
    while (woken[value].load() == 0) std::this_thread::yield();
  }
  for (auto& waiter : waiters) waiter.join();
}

TEST(SemaphoreTest, SignalJumpReleasesEveryEarlierWaiter) {
  Semaphore semaphore;
  std::vector<std::thread> waiters;
  std::atomic<int> done{0};
  for (int value = 1; value <= 4; ++value) {
    waiters.emplace_back([&, value] {
      EXPECT_TRUE(semaphore.Wait(value).ok());
      ++done;
    });
  }
  ASSERT_TRUE(semaphore.Signal(10).ok());
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(done.load(), 4);
}

TEST(SemaphoreTest, FailureReachesCurrentAndFutureWaiters) {
  Semaphore semaphore;
  std::vector<absl::Status> seen(3);
  std::vector<std::thread> waiters;
  waiters.reserve(3);
  for (int i = 0; i < 3; ++i)
    waiters.emplace_back([&, i] { seen[i] = semaphore.Wait(static_cast<uint64_t>(i) + 1); });
  absl::SleepFor(absl::Milliseconds(10));
  semaphore.Fail(absl::InternalError("dispatch 'x' failed with code 7"));
  for (auto& waiter : waiters) waiter.join();
  for (const absl::Status& status : seen) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(status.message(), "dispatch 'x' failed with code 7");
  }
  // Later waiters, queries and signals get the same error; the first failure wins.
  semaphore.Fail(absl::CancelledError("second"));
  EXPECT_EQ(semaphore.Wait(100).message(), "dispatch 'x' failed with code 7");
  EXPECT_EQ(semaphore.Wait(0, absl::InfinitePast()).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(semaphore.Query().status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(semaphore.Signal(1).code(), absl::StatusCode::kInternal);

  Semaphore ok_failure;
  ok_failure.Fail(absl::OkStatus());
  EXPECT_EQ(ok_failure.Wait(1).code(), absl::StatusCode::kInternal);
}

TEST(SemaphoreTest, OnReachedRunsNowOrOnSignalOrOnFailure) {
  Semaphore semaphore(2);
  std::vector<std::pair<int, absl::StatusCode>> calls;
  semaphore.OnReached(1, [&](const absl::Status& s) { calls.push_back({1, s.code()}); });
  ASSERT_EQ(calls.size(), 1u);  // already reached: called right away
  semaphore.OnReached(4, [&](const absl::Status& s) { calls.push_back({4, s.code()}); });
  semaphore.OnReached(3, [&](const absl::Status& s) { calls.push_back({3, s.code()}); });
  semaphore.OnReached(9, [&](const absl::Status& s) { calls.push_back({9, s.code()}); });
  EXPECT_EQ(calls.size(), 1u);
  ASSERT_TRUE(semaphore.Signal(4).ok());
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].second, absl::StatusCode::kOk);
  EXPECT_EQ(calls[2].second, absl::StatusCode::kOk);
  semaphore.Fail(absl::AbortedError("gone"));
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[3], std::make_pair(9, absl::StatusCode::kAborted));
  semaphore.OnReached(1, [&](const absl::Status& s) { calls.push_back({1, s.code()}); });
  EXPECT_EQ(calls.back(), std::make_pair(1, absl::StatusCode::kAborted));
}

TEST(FenceTest, WaitsForEveryPoint) {
  auto a = std::make_shared<Semaphore>();
  auto b = std::make_shared<Semaphore>(5);
  Fence fence({{a, 2}, {b, 6}});
  EXPECT_FALSE(fence.Ready());
  EXPECT_EQ(fence.Wait(Soon()).code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(a->Signal(2).ok());
  EXPECT_FALSE(fence.Ready());
  std::thread signaller([&] {
    absl::SleepFor(absl::Milliseconds(5));
    EXPECT_TRUE(b->Signal(6).ok());
  });
  EXPECT_TRUE(fence.Wait().ok());
  signaller.join();
  EXPECT_TRUE(fence.Ready());
  EXPECT_TRUE(Fence().Wait(absl::InfinitePast()).ok());  // empty fence: nothing to wait for
}

TEST(FenceTest, ReportsAFailedPoint) {
  auto a = std::make_shared<Semaphore>();
  auto b = std::make_shared<Semaphore>();
  Fence fence;
  fence.Add(a, 1);
  fence.Add(b, 1);
  // A failure of a later point ends a wait blocked on an earlier, still pending one.
  absl::Status blocked;
  std::thread waiter([&] { blocked = fence.Wait(); });
  absl::SleepFor(absl::Milliseconds(10));
  b->Fail(absl::InternalError("boom"));
  waiter.join();
  EXPECT_EQ(blocked.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(blocked.message(), "boom");
  EXPECT_TRUE(fence.Ready());  // Wait returns at once from now on
  EXPECT_EQ(fence.Wait(absl::InfinitePast()).message(), "boom");
  ASSERT_TRUE(a->Signal(1).ok());
  EXPECT_EQ(fence.Wait().message(), "boom");
}

}  // namespace
}  // namespace kiln::hal
