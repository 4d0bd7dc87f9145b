// SHA-256 through OpenSSL's libcrypto, and the "sha256:<hex>" digest spelling kiln uses.
#ifndef KILN_RUNTIME_SERVICE_BASE_SHA256_H_
#define KILN_RUNTIME_SERVICE_BASE_SHA256_H_

#include <array>
#include <cstdint>
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

std::string HexEncode(std::span<const uint8_t> bytes);
// "sha256:" + 64 lowercase hex digits.
std::string DigestString(const Sha256Hash& hash);
// True for a well-formed "sha256:<64 lowercase hex>" string.
bool IsValidDigestString(std::string_view digest);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_BASE_SHA256_H_
