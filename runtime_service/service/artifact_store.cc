#include "runtime_service/service/artifact_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "runtime_service/base/sha256.h"

namespace kiln {

absl::StatusOr<ArtifactStore> ArtifactStore::Open(std::string root) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(root) / "modules", ec);
  if (ec)
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create artifact cache directory '", root, "': ", ec.message()));
  return ArtifactStore(std::move(root));
}

absl::StatusOr<std::string> ArtifactStore::PathFor(std::string_view digest) const {
  // (absl::string_view is not std::string_view in Debian's absl build: StrCat takes strings.)
  std::string text(digest);
  if (!IsValidDigestString(text))
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not an artifact digest (expected sha256: and 64 hex digits)"));
  return absl::StrCat(root_, "/modules/", text.substr(7), ".kmod");
}

bool ArtifactStore::Contains(std::string_view digest) const {
  auto path = PathFor(digest);
  return path.ok() && ::access(path->c_str(), R_OK) == 0;
}

absl::Status ArtifactStore::Put(std::string_view digest, std::string_view bytes) const {
  auto path = PathFor(digest);
  if (!path.ok()) return path.status();
  static std::atomic<uint64_t> counter{0};
  std::string temp = absl::StrCat(*path, ".tmp.", ::getpid(), ".", counter++);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot write '", temp, "': ", std::strerror(errno)));
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return absl::InternalError(absl::StrCat("cannot write '", temp, "': ", std::strerror(err)));
    }
    written += static_cast<size_t>(n);
  }
  // fsync before rename: after a power loss the digest names either nothing or the full file.
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(temp.c_str(), path->c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot store artifact '", *path, "': ", std::strerror(err)));
  }
  return absl::OkStatus();
}

void ArtifactStore::Remove(std::string_view digest) const {
  auto path = PathFor(digest);
  if (path.ok()) ::unlink(path->c_str());
}

}  // namespace kiln
