#include "runtime_service/base/sha256.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <system_error>
#include <thread>
#include <vector>

namespace kiln {

Sha256Hash Sha256(std::span<const uint8_t> data) {
  Sha256Hash hash;
  unsigned int length = 0;
  // EVP_Digest only fails on allocation failure; treat that as fatal like operator new.
  if (EVP_Digest(data.data(), data.size(), hash.data(), &length, EVP_sha256(), nullptr) != 1)
    std::abort();
  return hash;
}

Sha256Hash Sha256(std::string_view data) {
  return Sha256(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1)
    std::abort();
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Hasher::Update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

void Sha256Hasher::UpdateField(std::string_view data) {
  uint64_t length = data.size();
  Update(std::string_view(reinterpret_cast<const char*>(&length), sizeof(length)));
  Update(data);
}

Sha256Hash Sha256Hasher::Finish() {
  Sha256Hash hash;
  unsigned int length = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), hash.data(), &length);
  return hash;
}

Sha256Hash Sha256Tree(std::string_view data, unsigned threads) {
  const size_t chunks = (data.size() + kTreeChunkBytes - 1) / kTreeChunkBytes;
  std::vector<Sha256Hash> digests(chunks);
  auto hash_every = [&](size_t first, size_t step) {
    for (size_t i = first; i < chunks; i += step)
      digests[i] = Sha256(data.substr(i * kTreeChunkBytes, kTreeChunkBytes));
  };
  const size_t workers = std::clamp<size_t>(threads, 1, std::max<size_t>(chunks, 1));
  std::vector<std::thread> helpers;
  helpers.reserve(workers - 1);
  size_t started = 1;
  try {
    for (; started < workers; ++started) helpers.emplace_back(hash_every, started, workers);
  } catch (const std::system_error&) {
    // No more threads to be had: this thread hashes the chunks of the helpers never started.
    for (size_t k = started; k < workers; ++k) hash_every(k, workers);
  }
  hash_every(0, workers);
  for (std::thread& helper : helpers) helper.join();

  Sha256Hasher hasher;
  const uint64_t length = data.size();
  hasher.Update(std::string_view(reinterpret_cast<const char*>(&length), sizeof(length)));
  for (const Sha256Hash& digest : digests)
    hasher.Update(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  return hasher.Finish();
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string DigestString(const Sha256Hash& hash) { return "sha256:" + HexEncode(hash); }

bool IsValidDigestString(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.size() != kPrefix.size() + 64 || digest.substr(0, kPrefix.size()) != kPrefix)
    return false;
  for (char c : digest.substr(kPrefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::optional<Sha256Hash> ParseDigestString(std::string_view digest) {
  if (!IsValidDigestString(digest)) return std::nullopt;
  const std::string_view hex = digest.substr(digest.size() - 64);
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  Sha256Hash hash;
  for (size_t i = 0; i < hash.size(); ++i)
    hash[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return hash;
}

}  // namespace kiln
