#include "runtime_service/service/memory_trimmer.h"

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime_service/testing/sanitizers.h"

#define KILN_GLIBC_MALLOC (!KILN_SANITIZED)

namespace kiln {
namespace {

using namespace std::chrono_literals;

constexpr size_t kMiB = size_t{1} << 20;

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

bool WaitForTrims(const MemoryTrimmer& trimmer, uint64_t trims) {
  for (int i = 0; i < 500 && trimmer.trims() < trims; ++i) std::this_thread::sleep_for(10ms);
  return trimmer.trims() >= trims;
}

// What a large request leaves behind: 200 MiB freed in blocks below the mmap threshold, each
// followed by a small block that stays, so glibc can neither coalesce them nor trim its heap.
TEST(MemoryTrimmerTest, ALargeRequestGivesFreedHeapMemoryBack) {
  if (!KILN_GLIBC_MALLOC) GTEST_SKIP() << "sanitizer builds replace glibc's allocator";
  MemoryTrimmer trimmer({.threshold_bytes = kMiB, .delay = 10ms});
  std::vector<void*> blocks, pins;
  constexpr size_t kBlock = 32 << 10;
  for (size_t i = 0; i < 200 * kMiB / kBlock; ++i) {
    blocks.push_back(std::malloc(kBlock));
    std::memset(blocks.back(), 1, kBlock);
    pins.push_back(std::malloc(64));
  }
  const size_t full = ResidentBytes();
  for (void* block : blocks) std::free(block);
  // glibc keeps it: the reason for the trimmer.
  EXPECT_GT(ResidentBytes(), full - 20 * kMiB);

  trimmer.RequestFinished(kMiB - 1);  // below the threshold: nothing happens
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(trimmer.trims(), 0u);
  EXPECT_GT(ResidentBytes(), full - 20 * kMiB);

  trimmer.RequestFinished(200 * kMiB);
  ASSERT_TRUE(WaitForTrims(trimmer, 1));
  EXPECT_LT(ResidentBytes(), full - 150 * kMiB);
  for (void* pin : pins) std::free(pin);
}

// glibc would raise its mmap threshold to 16 MiB when the first block is freed, and serve the
// second from an arena, whose top it then keeps; with a trimmer the threshold stays at 1 MiB.
// (Checked in a fresh process, the death-test child: where earlier blocks were freed, a large
// request may be served from them, mapped or not.)
TEST(MemoryTrimmerDeathTest, LargeBlocksStayMappedAfterLargerOnesAreFreed) {
  if (!KILN_GLIBC_MALLOC) GTEST_SKIP() << "sanitizer builds replace glibc's allocator";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        MemoryTrimmer trimmer;
        // Volatile: the compiler may drop a malloc whose block is only freed.
        void* volatile first = std::malloc(16 * kMiB);
        std::free(first);
        const size_t mapped = mallinfo2().hblks;
        void* volatile second = std::malloc(4 * kMiB);
        const bool second_mapped = mallinfo2().hblks == mapped + 1;
        std::free(second);
        std::_Exit(second_mapped ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

// A burst of large requests shares one trim, after the last of them.
TEST(MemoryTrimmerTest, ABurstSharesOneTrim) {
  MemoryTrimmer trimmer({.threshold_bytes = kMiB, .delay = 200ms});
  for (int i = 0; i < 5; ++i) {
    trimmer.RequestFinished(4 * kMiB);
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(WaitForTrims(trimmer, 1));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(trimmer.trims(), 1u);
  trimmer.RequestFinished(4 * kMiB);  // a later request gets its own
  ASSERT_TRUE(WaitForTrims(trimmer, 2));
}

TEST(MemoryTrimmerTest, DestructionDropsAScheduledTrim) {
  auto trimmer = std::make_unique<MemoryTrimmer>(
      MemoryTrimmerOptions{.threshold_bytes = 1, .delay = std::chrono::milliseconds(60000)});
  trimmer->RequestFinished(1);
  const auto start = std::chrono::steady_clock::now();
  trimmer.reset();  // does not wait out the delay
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

}  // namespace
}  // namespace kiln
