// Frames between kilnd and its compile workers on a stream socket: a little-endian uint64 length,
// then that many bytes (a serialized kiln.compiler.worker.v1 message).
#ifndef KILN_COMPILER_SERVICE_SERVICE_WORKER_CHANNEL_H_
#define KILN_COMPILER_SERVICE_SERVICE_WORKER_CHANNEL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::compile_worker {

// The largest frame either side accepts: a module bigger than this is refused rather than
// allocated on a length read from the other process.
inline constexpr uint64_t kMaxFrameBytes = uint64_t{8} << 30;

// Called while a read waits for data (every `kPollMilliseconds`); a non-OK status abandons the
// read and is returned.
using WaitCheck = std::function<absl::Status()>;
inline constexpr int kPollMilliseconds = 50;

// Writes one frame. UNAVAILABLE when the peer has gone (never SIGPIPE).
absl::Status WriteFrame(int fd, std::string_view payload);

// Reads one frame. UNAVAILABLE "closed" when the peer closed the socket (or died) before a
// complete frame arrived; DATA_LOSS for a length over kMaxFrameBytes.
absl::StatusOr<std::string> ReadFrame(int fd, const WaitCheck& wait = nullptr);

}  // namespace kiln::compile_worker

#endif  // KILN_COMPILER_SERVICE_SERVICE_WORKER_CHANNEL_H_
