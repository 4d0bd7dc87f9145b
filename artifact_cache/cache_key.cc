#include "artifact_cache/cache_key.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime_service/base/status_macros.h"

namespace kiln {

namespace {

// Bumped if what the MAC covers ever changes, so old records fail instead of meaning something
// else.
constexpr std::string_view kEntryDomain{"kiln-cache-entry-v1\0", 20};

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

// NOT_FOUND when there is no key file yet; FAILED_PRECONDITION for anything unusable.
absl::StatusOr<std::array<uint8_t, CacheKey::kSize>> ReadKeyFile(const std::string& path) {
  // O_NOFOLLOW: a link could point the key anywhere; O_NONBLOCK: a FIFO must not hang start-up.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat("no cache key file '", path, "'"));
    if (error == ELOOP) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cache key file '", path, "' is a symbolic link; it must be a regular file"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open cache key file '", path, "': ", std::strerror(error)));
  }
  FdCloser closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot stat cache key file '", path, "': ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cache key file '", path, "' is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cache key file '%s' has mode %04o, which gives group or others access "
                        "to it; it must be 0600 (chmod 600 it)",
                        path, st.st_mode & 07777));
  }
  if (st.st_size != static_cast<off_t>(CacheKey::kSize)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cache key file '", path, "' holds ", st.st_size, " bytes; a key is ",
                     CacheKey::kSize, " (remove the file to have a new key made)"));
  }
  std::array<uint8_t, CacheKey::kSize> key{};
  size_t done = 0;
  while (done < key.size()) {
    ssize_t n = ::read(fd, key.data() + done, key.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read cache key file '", path, "'",
                       n < 0 ? absl::StrCat(": ", std::strerror(errno)) : std::string()));
    }
    done += static_cast<size_t>(n);
  }
  return key;
}

// Written to a temp file (O_CREAT|O_EXCL, 0600) and hard-linked into place: link() fails if the
// name exists, so of two replicas starting at once on a shared cache exactly one key wins, and
// nobody ever reads a key file that is only partly written.
absl::Status CreateKeyFile(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid(), ".", counter++);
  ::unlink(temp.c_str());  // a crashed start's leftover under the same name
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create cache key file '", temp, "': ", std::strerror(errno)));
  }
  std::array<uint8_t, CacheKey::kSize> key{};
  absl::Status status;
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    status = absl::InternalError("cannot make a cache key: RAND_bytes failed");
  } else if (::write(fd, key.data(), key.size()) != static_cast<ssize_t>(key.size()) ||
             ::fsync(fd) != 0) {
    status = absl::FailedPreconditionError(
        absl::StrCat("cannot write cache key file '", temp, "': ", std::strerror(errno)));
  }
  OPENSSL_cleanse(key.data(), key.size());
  ::close(fd);
  if (status.ok() && ::link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    status = absl::FailedPreconditionError(
        absl::StrCat("cannot create cache key file '", path, "': ", std::strerror(errno)));
  }
  ::unlink(temp.c_str());
  return status;
}

}  // namespace

absl::StatusOr<CacheKey> CacheKey::LoadOrCreate(const std::string& path) {
  auto key = ReadKeyFile(path);
  if (key.status().code() == absl::StatusCode::kNotFound) {
    KILN_RETURN_IF_ERROR(CreateKeyFile(path));
    key = ReadKeyFile(path);  // whichever key won the race to create it
  }
  if (!key.ok()) return key.status();
  return CacheKey(*key);
}

absl::StatusOr<CacheKey::Mac> CacheKey::EntryMac(std::string_view digest,
                                                 std::span<const uint8_t> bytes) const {
  // Fetched once: looking the algorithm up in the provider is the expensive part.
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> context(
      hmac != nullptr ? EVP_MAC_CTX_new(hmac) : nullptr, &EVP_MAC_CTX_free);
  char sha256[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256, 0),
                               OSSL_PARAM_construct_end()};
  Mac mac{};
  size_t length = 0;
  auto update = [&](const void* data, size_t size) {
    return EVP_MAC_update(context.get(), static_cast<const unsigned char*>(data), size) == 1;
  };
  if (context == nullptr || EVP_MAC_init(context.get(), key_.data(), key_.size(), params) != 1 ||
      !update(kEntryDomain.data(), kEntryDomain.size()) || !update(digest.data(), digest.size()) ||
      !update("", 1) || !update(bytes.data(), bytes.size()) ||
      EVP_MAC_final(context.get(), mac.data(), &length, mac.size()) != 1 || length != mac.size()) {
    return absl::InternalError("HMAC-SHA256 failed in libcrypto");
  }
  return mac;
}

bool MacsEqual(const CacheKey::Mac& a, const CacheKey::Mac& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace kiln
