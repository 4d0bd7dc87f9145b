#include "artifact_cache/cache_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/base/sha256.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TempDir() {
  std::string dir =
      fs::temp_directory_path() / ("kiln-cache-key-test-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

CacheKey::Mac MacOf(const CacheKey& key, std::string_view digest, std::string_view bytes) {
  auto mac = key.EntryMac(digest, Bytes(bytes));
  EXPECT_TRUE(mac.ok()) << mac.status();
  return mac.ok() ? *mac : CacheKey::Mac{};
}

TEST(CacheKeyTest, CreatedOnceWithMode0600AndReused) {
  std::string dir = TempDir();
  std::string path = dir + "/key";
  auto first = CacheKey::LoadOrCreate(path);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat st;
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  std::string bytes = ReadFile(path);
  // No temp file is left next to it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);

  // Loaded again (a restart, or a replica sharing the file): the same key, the file untouched.
  auto second = CacheKey::LoadOrCreate(path);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(ReadFile(path), bytes);
  EXPECT_EQ(MacOf(*first, "sha256:ab", "module"), MacOf(*second, "sha256:ab", "module"));
  fs::remove_all(dir);
}

TEST(CacheKeyTest, ReplicasStartingAtOnceAgreeOnOneKey) {
  std::string dir = TempDir();
  std::string path = dir + "/key";
  std::vector<CacheKey::Mac> macs(8);
  std::vector<std::thread> threads;
  threads.reserve(macs.size());
  for (size_t i = 0; i < macs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto key = CacheKey::LoadOrCreate(path);
      ASSERT_TRUE(key.ok()) << key.status();
      macs[i] = MacOf(*key, "sha256:ab", "module");
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const CacheKey::Mac& mac : macs) EXPECT_EQ(mac, macs[0]);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(CacheKeyTest, MacCoversTheDigestAndEveryByte) {
  std::array<uint8_t, CacheKey::kSize> bytes{};
  CacheKey key = CacheKey::FromBytes(bytes);
  bytes[0] = 1;
  CacheKey other = CacheKey::FromBytes(bytes);
  CacheKey::Mac mac = MacOf(key, "sha256:aa", "module bytes");
  EXPECT_EQ(MacOf(key, "sha256:aa", "module bytes"), mac);
  EXPECT_NE(MacOf(key, "sha256:ab", "module bytes"), mac);  // moved to another digest
  EXPECT_NE(MacOf(key, "sha256:aa", "module byteS"), mac);
  EXPECT_NE(MacOf(key, "sha256:aa", "module byte"), mac);
  EXPECT_NE(MacOf(other, "sha256:aa", "module bytes"), mac);  // another key
  EXPECT_TRUE(MacsEqual(mac, mac));
  CacheKey::Mac changed = mac;
  changed[31] ^= 1;
  EXPECT_FALSE(MacsEqual(mac, changed));
}

TEST(CacheKeyTest, MacIsHmacSha256) {
  // Computed independently with `openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f`
  // (and Python's hmac): the key 0x00..0x1f over "kiln-cache-entry-v1\0sha256:aa\0abc".
  std::array<uint8_t, CacheKey::kSize> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  CacheKey::Mac mac = MacOf(CacheKey::FromBytes(bytes), "sha256:aa", "abc");
  EXPECT_EQ(HexEncode(mac), "5c3b45f17e27d12b4b8443f63c7673725000f1249e5259c7979757ec0b7ed6de");
}

absl::Status LoadStatus(const std::string& path) { return CacheKey::LoadOrCreate(path).status(); }

TEST(CacheKeyTest, UnsafeKeyFilesAreRefused) {
  std::string dir = TempDir();
  std::string path = dir + "/key";
  ASSERT_TRUE(CacheKey::LoadOrCreate(path).ok());

  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  absl::Status status = LoadStatus(path);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "cache key file '" + path +
                                  "' has mode 0640, which gives group or others access to it; "
                                  "it must be 0600 (chmod 600 it)");
  ASSERT_EQ(::chmod(path.c_str(), 0604), 0);
  EXPECT_EQ(LoadStatus(path).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_TRUE(LoadStatus(path).ok());

  std::string link = dir + "/link";
  fs::create_symlink(path, link);
  status = LoadStatus(link);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "cache key file '" + link + "' is a symbolic link; it must be a regular file");

  std::string fifo = dir + "/fifo";  // opened O_NONBLOCK: refused, not waited on
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  status = LoadStatus(fifo);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "cache key file '" + fifo + "' is not a regular file");
  std::string directory = dir + "/directory";
  fs::create_directory(directory);
  EXPECT_EQ(LoadStatus(directory).code(), absl::StatusCode::kFailedPrecondition);

  std::string short_key = dir + "/short";
  int fd = ::open(short_key.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "0123456789", 10), 10);
  ::close(fd);
  status = LoadStatus(short_key);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("holds 10 bytes; a key is 32 (remove the file to have a new key made)"));

  // A directory that cannot be written: no key can be created.
  status = LoadStatus("/proc/kiln-no-such-dir/key");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot create cache key file"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln
