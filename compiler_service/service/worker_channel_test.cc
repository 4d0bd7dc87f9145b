#include "compiler_service/service/worker_channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace kiln::compile_worker {
namespace {

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    for (int fd : fds_)
      if (fd >= 0) close(fd);
  }
  void CloseWriter() {
    close(fds_[1]);
    fds_[1] = -1;
  }
  int fds_[2] = {-1, -1};
};

TEST_F(ChannelTest, FramesRoundTripIncludingEmptyAndLarge) {
  std::string large(3 << 20, 'x');  // larger than the socket buffer: written while read
  large[12345] = 'y';
  std::thread writer([&] {
    ASSERT_TRUE(WriteFrame(fds_[1], "hello").ok());
    ASSERT_TRUE(WriteFrame(fds_[1], "").ok());
    ASSERT_TRUE(WriteFrame(fds_[1], large).ok());
  });
  EXPECT_EQ(*ReadFrame(fds_[0]), "hello");
  EXPECT_EQ(*ReadFrame(fds_[0]), "");
  absl::StatusOr<std::string> read = ReadFrame(fds_[0], [] { return absl::OkStatus(); });
  writer.join();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, large);
}

TEST_F(ChannelTest, ClosedPeerIsUnavailable) {
  CloseWriter();
  absl::StatusOr<std::string> read = ReadFrame(fds_[0]);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ChannelTest, PeerClosingMidFrameIsUnavailable) {
  const unsigned char header[8] = {10, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(write(fds_[1], header, sizeof(header)), 8);
  ASSERT_EQ(write(fds_[1], "abc", 3), 3);
  CloseWriter();
  EXPECT_EQ(ReadFrame(fds_[0]).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ChannelTest, OversizedLengthIsRefusedWithoutAllocating) {
  const unsigned char header[8] = {0, 0, 0, 0, 0, 0, 0, 0x7f};  // 2^62-ish bytes
  ASSERT_EQ(write(fds_[1], header, sizeof(header)), 8);
  absl::StatusOr<std::string> read = ReadFrame(fds_[0]);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(read.status().message()).find("exceeds the limit"), std::string::npos);
}

TEST_F(ChannelTest, WaitCheckAbandonsASilentPeer) {
  int polls = 0;
  absl::StatusOr<std::string> read = ReadFrame(fds_[0], [&polls]() -> absl::Status {
    if (++polls < 3) return absl::OkStatus();
    return absl::DeadlineExceededError("gave up");
  });
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(polls, 3);
}

TEST_F(ChannelTest, WritingToAClosedPeerIsUnavailableNotSigpipe) {
  close(fds_[0]);
  fds_[0] = -1;
  EXPECT_EQ(WriteFrame(fds_[1], std::string(1 << 20, 'z')).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace kiln::compile_worker
