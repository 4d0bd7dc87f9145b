#include "compiler_service/service/worker_channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln::compile_worker {

namespace {

absl::Status Closed() { return absl::UnavailableError("the compile worker's channel closed"); }

// Reads exactly `size` bytes into `out`, polling so that `wait` can abandon a slow peer.
absl::Status ReadExactly(int fd, char* out, size_t size, const WaitCheck& wait) {
  size_t done = 0;
  while (done < size) {
    if (wait) {
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      int ready = poll(&p, 1, kPollMilliseconds);
      if (ready < 0 && errno != EINTR)
        return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
      if (ready <= 0) {
        if (absl::Status status = wait(); !status.ok()) return status;
        continue;
      }
    }
    ssize_t n = read(fd, out + done, size - done);
    if (n == 0) return Closed();
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) return Closed();
      return absl::InternalError(
          absl::StrCat("read from a compile worker: ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    // MSG_NOSIGNAL: a worker that died must not take kilnd with it through SIGPIPE.
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) return Closed();
      return absl::InternalError(absl::StrCat("write to a compile worker: ", std::strerror(errno)));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFrame(int fd, std::string_view payload) {
  uint64_t size = payload.size();
  unsigned char header[8];
  for (int i = 0; i < 8; ++i) header[i] = static_cast<unsigned char>(size >> (8 * i));
  if (absl::Status status = WriteAll(fd, reinterpret_cast<const char*>(header), sizeof(header));
      !status.ok())
    return status;
  return WriteAll(fd, payload.data(), payload.size());
}

absl::StatusOr<std::string> ReadFrame(int fd, const WaitCheck& wait) {
  unsigned char header[8];
  if (absl::Status status = ReadExactly(fd, reinterpret_cast<char*>(header), sizeof(header), wait);
      !status.ok())
    return status;
  uint64_t size = 0;
  for (int i = 0; i < 8; ++i) size |= static_cast<uint64_t>(header[i]) << (8 * i);
  if (size > kMaxFrameBytes)
    return absl::DataLossError(absl::StrCat("a compile worker frame of ", size,
                                            " bytes exceeds the limit of ", kMaxFrameBytes));
  std::string payload(size, '\0');
  if (absl::Status status = ReadExactly(fd, payload.data(), size, wait); !status.ok())
    return status;
  return payload;
}

}  // namespace kiln::compile_worker
