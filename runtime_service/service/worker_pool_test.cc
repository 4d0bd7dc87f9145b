#include "runtime_service/service/worker_pool.h"

#include <atomic>
#include <future>
#include <new>

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(WorkerPoolTest, RunsEveryTaskOnTheWorkers) {
  std::atomic<int> sum{0};
  {
    WorkerPool pool(3, 100);
    for (int i = 1; i <= 50; ++i) ASSERT_TRUE(pool.Submit([&, i] { sum += i; }).ok());
  }  // destruction drains the queue
  EXPECT_EQ(sum.load(), 50 * 51 / 2);
}

TEST(WorkerPoolTest, FullQueueIsResourceExhausted) {
  // Declared before the pool so that they outlive it: the worker may still be returning from
  // gate.wait() or started.set_value() when the test body ends (TSan found the pool destroyed
  // after them).
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> started;
  WorkerPool pool(1, 2);
  ASSERT_TRUE(pool.Submit([&] {
                    started.set_value();
                    gate.wait();
                  })
                  .ok());
  started.get_future().wait();  // the worker is busy; the next two fill the queue
  ASSERT_TRUE(pool.Submit([] {}).ok());
  ASSERT_TRUE(pool.Submit([] {}).ok());
  absl::Status full = pool.Submit([] {});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(), "the inference queue is full (2 requests waiting); retry later");
  release.set_value();
}

TEST(WorkerPoolTest, ATaskOutOfMemoryIsAbandonedAndTheWorkerServesOn) {
  const uint64_t abandoned = WorkerPool::TotalAbandoned();
  std::promise<void> done;
  {
    WorkerPool pool(1, 4);
    ASSERT_TRUE(pool.Submit([] { throw std::bad_alloc(); }).ok());
    ASSERT_TRUE(pool.Submit([&] { done.set_value(); }).ok());
    done.get_future().wait();
  }
  EXPECT_EQ(WorkerPool::TotalAbandoned(), abandoned + 1);
}

TEST(WorkerPoolTest, SubmitAfterShutdownIsUnavailable) {
  WorkerPool pool(2, 4);
  pool.Shutdown();
  EXPECT_EQ(pool.Submit([] {}).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace kiln
