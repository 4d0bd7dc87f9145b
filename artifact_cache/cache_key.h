// The artifact cache's secret key: every entry carries an HMAC-SHA256 made with it, so a module
// file put into the cache directory by anyone who does not hold the key (another valid module
// and a matching checksum included) is rejected instead of served.
//
// The key lives in a file (by default <cache-dir>/.kiln-cache-key): 32 bytes from OpenSSL's
// RAND_bytes, created mode 0600 on first start. Replicas sharing a cache directory share the
// key by sharing the file (or one copied to each of them with --cache-key-file).
#ifndef KILN_ARTIFACT_CACHE_CACHE_KEY_H_
#define KILN_ARTIFACT_CACHE_CACHE_KEY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln {

class CacheKey {
 public:
  static constexpr size_t kSize = 32;
  using Mac = std::array<uint8_t, 32>;

  // Reads the key file at `path`, creating it first when there is none. FAILED_PRECONDITION
  // for a key file that is a symlink or not a regular file, that grants group or others any
  // access, or that does not hold exactly kSize bytes; the error names the file.
  static absl::StatusOr<CacheKey> LoadOrCreate(const std::string& path);
  // A key from its bytes (tests).
  static CacheKey FromBytes(const std::array<uint8_t, kSize>& bytes) { return CacheKey(bytes); }

  // The MAC of a cache entry: its digest (the name it is stored under, so an authentic entry
  // copied to another digest fails) and the whole module file.
  // INTERNAL only if libcrypto fails (out of memory).
  absl::StatusOr<Mac> EntryMac(std::string_view digest, std::span<const uint8_t> bytes) const;

 private:
  explicit CacheKey(const std::array<uint8_t, kSize>& bytes) : key_(bytes) {}
  std::array<uint8_t, kSize> key_;
};

// Constant-time, so a forger learns nothing from how long a comparison took.
bool MacsEqual(const CacheKey::Mac& a, const CacheKey::Mac& b);

}  // namespace kiln

#endif  // KILN_ARTIFACT_CACHE_CACHE_KEY_H_
