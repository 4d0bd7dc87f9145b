#include "runtime_service/base/sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln {
namespace {

// The tree digest recomputed from its definition with one-shot SHA-256 calls.
Sha256Hash Reference(const std::string& data) {
  std::string message;
  const uint64_t length = data.size();
  message.append(reinterpret_cast<const char*>(&length), sizeof(length));
  for (size_t offset = 0; offset < data.size(); offset += kTreeChunkBytes) {
    Sha256Hash chunk = Sha256(std::string_view(data).substr(offset, kTreeChunkBytes));
    message.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  }
  return Sha256(message);
}

std::string Pattern(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return data;
}

TEST(Sha256Test, KnownVector) {
  EXPECT_EQ(DigestString(Sha256(std::string_view("abc"))),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, TreeMatchesItsDefinitionForEveryThreadCount) {
  for (size_t size : {size_t{0}, size_t{1}, kTreeChunkBytes - 1, kTreeChunkBytes,
                      kTreeChunkBytes + 1, 3 * kTreeChunkBytes + 12345}) {
    const std::string data = Pattern(size);
    const Sha256Hash expected = Reference(data);
    for (unsigned threads : {0u, 1u, 2u, 3u, 16u})
      EXPECT_EQ(Sha256Tree(data, threads), expected) << size << " bytes, " << threads << " threads";
  }
}

TEST(Sha256Test, TreeSeesEveryByte) {
  std::string data = Pattern(2 * kTreeChunkBytes + 5);
  const Sha256Hash before = Sha256Tree(data, 2);
  data[kTreeChunkBytes + 17] ^= 1;
  EXPECT_NE(Sha256Tree(data, 2), before);
  data[kTreeChunkBytes + 17] ^= 1;
  data.back() ^= 1;
  EXPECT_NE(Sha256Tree(data, 2), before);
}

TEST(Sha256Test, ParseDigestStringRoundTripsAndRejectsOtherSpellings) {
  const Sha256Hash hash = Sha256(std::string_view("abc"));
  EXPECT_EQ(ParseDigestString(DigestString(hash)), hash);
  const std::string good = DigestString(hash);
  for (const std::string& bad : std::initializer_list<std::string>{
           std::string(""), good.substr(0, good.size() - 1), good + "0", "sha512" + good.substr(6),
           std::string("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
           good.substr(0, 20) + "g" + good.substr(21)})
    EXPECT_EQ(ParseDigestString(bad), std::nullopt) << bad;
}

}  // namespace
}  // namespace kiln
