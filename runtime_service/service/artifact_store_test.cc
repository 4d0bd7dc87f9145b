#include "runtime_service/service/artifact_store.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "runtime_service/base/sha256.h"

namespace kiln {
namespace {

std::string TempDir() {
  std::string dir = std::filesystem::temp_directory_path() /
                    ("kiln-store-test-" + std::to_string(::getpid()) + "-" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(ArtifactStoreTest, PutThenReadBackAndRemove) {
  std::string root = TempDir();
  auto store = ArtifactStore::Open(root);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string digest = DigestString(Sha256("key"));
  EXPECT_FALSE(store->Contains(digest));
  ASSERT_TRUE(store->Put(digest, "module bytes").ok());
  EXPECT_TRUE(store->Contains(digest));
  std::ifstream in(*store->PathFor(digest));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "module bytes");
  // Overwriting is atomic and leaves no temp files behind.
  ASSERT_TRUE(store->Put(digest, "newer").ok());
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/modules")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
  store->Remove(digest);
  EXPECT_FALSE(store->Contains(digest));
  std::filesystem::remove_all(root);
}

TEST(ArtifactStoreTest, MalformedDigestIsInvalidArgument) {
  auto store = ArtifactStore::Open(TempDir());
  ASSERT_TRUE(store.ok());
  for (std::string bad : {"", "sha256:xyz", "md5:0123", "sha256:../../etc/passwd"}) {
    auto path = store->PathFor(bad);
    ASSERT_FALSE(path.ok()) << bad;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(store->Contains(bad));
  }
  std::filesystem::remove_all(store->root());
}

TEST(ArtifactStoreTest, UncreatableRootIsAnError) {
  auto store = ArtifactStore::Open("/proc/kiln-cannot-exist/cache");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kiln
