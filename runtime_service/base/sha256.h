// SHA-256 through OpenSSL's libcrypto, and the "sha256:<hex>" digest spelling kiln uses.
#ifndef KILN_RUNTIME_SERVICE_BASE_SHA256_H_
#define KILN_RUNTIME_SERVICE_BASE_SHA256_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kiln {

using Sha256Hash = std::array<uint8_t, 32>;

Sha256Hash Sha256(std::span<const uint8_t> data);
Sha256Hash Sha256(std::string_view data);

// Incremental hashing for keys built from several parts.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(std::string_view data);
  // Hashes the length first so that ("ab","c") and ("a","bc") differ.
  void UpdateField(std::string_view data);
  Sha256Hash Finish();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

// A tree hash for large inputs: SHA-256 over the input's length (8 bytes, little-endian) and
// then the SHA-256 of each kTreeChunkBytes chunk in order. The chunks are hashed on up to
// `threads` threads (the calling thread one of them); the result does not depend on `threads`.
// A 46 MB model is hashed in half the time on two cores.
inline constexpr size_t kTreeChunkBytes = size_t{1} << 22;  // 4 MiB
Sha256Hash Sha256Tree(std::string_view data, unsigned threads);

std::string HexEncode(std::span<const uint8_t> bytes);
// "sha256:" + 64 lowercase hex digits.
std::string DigestString(const Sha256Hash& hash);
// True for a well-formed "sha256:<64 lowercase hex>" string.
bool IsValidDigestString(std::string_view digest);
// The hash a well-formed digest string spells; nullopt for any other string.
std::optional<Sha256Hash> ParseDigestString(std::string_view digest);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_BASE_SHA256_H_
