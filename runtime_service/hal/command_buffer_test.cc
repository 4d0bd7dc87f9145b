// HAL conformance: command buffer recording, validation, and replay through a device.
#include "runtime_service/hal/command_buffer.h"

#include <cstring>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/hal/hal_test_util.h"

namespace kiln::hal {
namespace {

using ::testing::HasSubstr;
using namespace ::kiln::hal::testing;

std::span<const uint8_t> Pattern(const void* data, size_t size) {
  return {static_cast<const uint8_t*>(data), size};
}

TEST(CommandBufferTest, BarriersSplitStages) {
  CommandBuffer commands(3);
  ASSERT_TRUE(commands.Barrier().ok());  // leading barrier: no empty stage
  ASSERT_TRUE(commands.Dispatch(LibraryDispatch(kAddF32, {1, 1, 1}, {{0}, {1}, {2}})).ok());
  ASSERT_TRUE(commands.Copy({0, 0, 4}, {1, 0, 4}).ok());
  ASSERT_TRUE(commands.Barrier().ok());
  ASSERT_TRUE(commands.Barrier().ok());  // repeated: no empty stage
  const uint32_t one = 1;
  ASSERT_TRUE(commands.Fill({2, 0, 16}, Pattern(&one, 4)).ok());
  EXPECT_FALSE(commands.finalized());
  commands.Finalize();
  EXPECT_TRUE(commands.finalized());
  ASSERT_EQ(commands.stages().size(), 2u);
  EXPECT_EQ(commands.stages()[0].begin, 0u);
  EXPECT_EQ(commands.stages()[0].end, 2u);
  EXPECT_EQ(commands.stages()[1].begin, 2u);
  EXPECT_EQ(commands.stages()[1].end, 3u);
  EXPECT_EQ(commands.commands().size(), 3u);
  EXPECT_EQ(commands.dispatch_binding_count(), 3u);

  // Finalized: immutable.
  EXPECT_EQ(commands.Barrier().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(commands.Copy({0, 0, 4}, {1, 0, 4}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CommandBufferTest, RecordingChecksOperands) {
  CommandBuffer commands(2);
  auto status = commands.Dispatch(LibraryDispatch(kScaleF32, {1, 1, 1}, {{0}, {2}}, {0}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "dispatch uses binding 2 but the command buffer has 2");
  status = commands.Dispatch(LibraryDispatch(kFail, {1, 0, 1}, {}));
  EXPECT_EQ(status.message(), "dispatch 'export 'fail'' has a workgroup count of 0");
  status = commands.Dispatch(LibraryDispatch(kFail, {UINT32_MAX, UINT32_MAX, 2}, {}));
  EXPECT_EQ(status.message(), "dispatch 'export 'fail'' has too many workgroups");
  DispatchCommand no_function;
  EXPECT_EQ(commands.Dispatch(no_function).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(commands.Copy({0, 0, 8}, {1, 0, 4}).message(),
            "copy source length 8 differs from target length 4");
  EXPECT_EQ(commands.Copy({0, UINT64_MAX, 4}, {1, 0, 4}).message(),
            "copy source range [offset 18446744073709551615, length 4] overflows");
  const char three[3] = {};
  EXPECT_EQ(commands.Fill({0, 0, 12}, Pattern(three, 3)).message(),
            "fill pattern is 3 bytes; it must be 1, 2, 4 or 8");
  EXPECT_EQ(commands.Fill({0, 0, 10}, Pattern(three, 2)).code(), absl::StatusCode::kOk);
  const uint32_t four = 0;
  EXPECT_EQ(commands.Fill({0, 0, 10}, Pattern(&four, 4)).message(),
            "fill length 10 is not a multiple of the 4-byte pattern");
}

TEST(CommandBufferTest, BindingTableMustCoverEveryRange) {
  CommandBuffer commands(2);
  ASSERT_TRUE(commands.Copy({0, 16, 16}, {1, 0, 16}).ok());
  ASSERT_TRUE(commands.Copy({0, 0, 8}, {1, 40, 8}).ok());
  commands.Finalize();
  std::vector<uint8_t> a(32), b(48), short_b(47);
  BufferView ok[] = {ViewOf(a), ViewOf(b)};
  EXPECT_TRUE(commands.CheckBindings(ok).ok());
  BufferView too_short[] = {ViewOf(a), ViewOf(short_b)};
  auto status = commands.CheckBindings(too_short);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "binding 1 is 47 bytes; the command buffer uses 48");
  EXPECT_EQ(commands.CheckBindings(std::span(ok, 1)).message(),
            "binding table has 1 entries; the command buffer uses 2");
  BufferView null_entry[] = {ViewOf(a), {nullptr, 48}};
  EXPECT_THAT(std::string(commands.CheckBindings(null_entry).message()), HasSubstr("(null)"));
}

// Recorded once, replayed with different binding tables: c = a + b; barrier; d = 2 * c; and a
// copy and fill in the first stage.
TEST(CommandBufferTest, RecordOnceReplayManyTimes) {
  auto device = Device::Create({.worker_count = 3});
  ASSERT_TRUE(device.ok()) << device.status();
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
    auto done = std::make_shared<Semaphore>();
    ASSERT_TRUE((*device)->queue().Submit({}, commands, table, {done, 1}).ok());
    ASSERT_TRUE((*device)->Wait(*done, 1).ok());
    for (size_t i = 0; i < kN; ++i) {
      ASSERT_EQ(c[i], a[i] + b[i]) << i;
      ASSERT_EQ(d[i], 2.0f * (a[i] + b[i])) << i;
    }
    EXPECT_EQ(std::vector<float>(a.begin(), a.begin() + 16), copy);
    EXPECT_EQ(filled, (std::vector<uint16_t>{0, 0xbeef, 0xbeef, 0xbeef, 0}));
  }
}

TEST(CommandBufferTest, EmptyCommandBufferSignalsAtOnce) {
  auto device = Device::Create({.worker_count = 1});
  ASSERT_TRUE(device.ok());
  auto commands = std::make_shared<CommandBuffer>(0);
  commands->Finalize();
  auto done = std::make_shared<Semaphore>();
  ASSERT_TRUE((*device)->queue().Submit({}, commands, {}, {done, 7}).ok());
  EXPECT_TRUE(done->Wait(7).ok());
}

}  // namespace
}  // namespace kiln::hal
