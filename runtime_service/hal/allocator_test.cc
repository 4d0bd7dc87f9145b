// HAL conformance: buffers, views and the transient arena pool.
#include "runtime_service/hal/allocator.h"

#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::hal {
namespace {

using ::testing::HasSubstr;

TEST(BufferTest, AlignedAndMovable) {
  for (size_t length : {1, 63, 64, 65, 4096, 100000}) {
    auto buffer = Buffer::Allocate(length);
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer->data()) % kBufferAlignment, 0u) << length;
    EXPECT_EQ(buffer->length(), length);
    buffer->data()[length - 1] = 42;  // the whole length is usable
    Buffer moved = std::move(*buffer);
    EXPECT_EQ(moved.data()[length - 1], 42);
    EXPECT_EQ(buffer->data(), nullptr);
    EXPECT_EQ(buffer->length(), 0u);
  }
  auto empty = Buffer::Allocate(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->length(), 0u);
  EXPECT_EQ(Buffer::Allocate(SIZE_MAX).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(BufferViewTest, SubviewsAreBoundsChecked) {
  auto buffer = Buffer::Allocate(100);
  ASSERT_TRUE(buffer.ok());
  const BufferView view = buffer->view();
  auto sub = view.Subview(10, 90);
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ(sub->data, buffer->data() + 10);
  EXPECT_EQ(sub->length, 90u);
  auto nested = sub->Subview(80, 10);
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->data, buffer->data() + 90);
  EXPECT_TRUE(view.Subview(100, 0).ok());  // empty view at the end

  EXPECT_EQ(view.Subview(10, 91).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(view.Subview(101, 0).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(sub->Subview(80, 11).status().code(), absl::StatusCode::kOutOfRange);
  // offset + length wraps around: still out of range, not a tiny view.
  auto wrapped = view.Subview(10, UINT64_MAX - 5);
  EXPECT_EQ(wrapped.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(wrapped.status().message()), HasSubstr("outside a 100-byte buffer"));
  EXPECT_TRUE(view.Contains(0, 100));
  EXPECT_FALSE(view.Contains(UINT64_MAX, 2));
}

TEST(ArenaPoolTest, SteadyStateReusesArenas) {
  ArenaPool pool;
  uint8_t* first = nullptr;
  {
    auto arena = pool.Acquire(1000);
    ASSERT_TRUE(arena.ok()) << arena.status();
    EXPECT_EQ(arena->length(), 1000u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(arena->data()) % kBufferAlignment, 0u);
    first = arena->data();
  }
  EXPECT_EQ(pool.stats().allocations, 1u);
  EXPECT_EQ(pool.stats().cached, 1u);
  for (int i = 0; i < 100; ++i) {
    auto arena = pool.Acquire(1000);
    ASSERT_TRUE(arena.ok());
    EXPECT_EQ(arena->data(), first);
  }
  // A size that rounds to the same 64-byte class reuses it too.
  {
    auto arena = pool.Acquire(1020);
    EXPECT_EQ(arena->data(), first);
  }
  EXPECT_EQ(pool.stats().allocations, 1u);
  EXPECT_EQ(pool.stats().reuses, 101u);

  // Two live arenas are distinct; both come back.
  {
    auto a = pool.Acquire(1000);
    auto b = pool.Acquire(1000);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(a->data(), b->data());
  }
  EXPECT_EQ(pool.stats().allocations, 2u);
  EXPECT_EQ(pool.stats().cached, 2u);
  // Another size class allocates once.
  {
    auto c = pool.Acquire(5000);
  }
  {
    auto c = pool.Acquire(5000);
  }
  EXPECT_EQ(pool.stats().allocations, 3u);

  auto empty = pool.Acquire(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->length(), 0u);
  EXPECT_EQ(pool.stats().allocations, 3u);

  pool.Trim();
  EXPECT_EQ(pool.stats().cached, 0u);
  {
    auto d = pool.Acquire(1000);
  }
  EXPECT_EQ(pool.stats().allocations, 4u);
  EXPECT_EQ(pool.Acquire(SIZE_MAX).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(ArenaPoolTest, MovedArenaReturnsOnce) {
  ArenaPool pool;
  {
    auto arena = pool.Acquire(64);
    ASSERT_TRUE(arena.ok());
    Arena moved = std::move(*arena);
    Arena assigned;
    assigned = std::move(moved);
    EXPECT_NE(assigned.data(), nullptr);
  }
  EXPECT_EQ(pool.stats().cached, 1u);
}

TEST(ArenaPoolTest, ConcurrentAcquireGivesDistinctArenas) {
  ArenaPool pool;
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::vector<int> ok(kThreads, 1);  // not vector<bool>: its bits share words
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        auto arena = pool.Acquire(256);
        if (!arena.ok()) {
          ok[t] = 0;
          return;
        }
        // Each holder writes its own marker; a shared arena would be seen overwritten.
        for (int k = 0; k < 256; ++k) arena->data()[k] = static_cast<uint8_t>(t);
        for (int k = 0; k < 256; ++k) ok[t] = ok[t] && arena->data()[k] == t ? 1 : 0;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(ok[t]) << t;
  EXPECT_LE(pool.stats().allocations, static_cast<uint64_t>(kThreads));
}

}  // namespace
}  // namespace kiln::hal
