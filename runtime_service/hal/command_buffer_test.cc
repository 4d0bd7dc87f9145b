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

}  // namespace
}  // namespace kiln::hal
