#include "runtime_service/service/artifact_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "runtime_service/base/sha256.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

std::string TempDir() {
  std::string dir =
      fs::temp_directory_path() / ("kiln-store-test-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  return dir;
}

// A valid module file with one segment of `payload` bytes.
std::string ModuleBytes(size_t payload, uint8_t fill = 7) {
  module::ModuleBuilder builder;
  builder.def().set_name("test");
  std::vector<uint8_t> data(payload, fill);
  builder.AddSegment("weights", data);
  auto bytes = builder.Serialize();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

std::string Key(int i) { return DigestString(Sha256("key" + std::to_string(i))); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int CountFiles(const std::string& dir, std::string_view suffix) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().string().ends_with(suffix)) ++files;
  return files;
}

// Distinct last-access times (the store orders by wall-clock nanoseconds).
void Tick() { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }

TEST(ArtifactStoreTest, PutThenReadBackAndRemove) {
  std::string root = TempDir();
  auto store = ArtifactStore::Open(root);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string digest = Key(0);
  EXPECT_FALSE(store->Contains(digest));
  std::string bytes = ModuleBytes(100);
  ASSERT_TRUE(store->Put(digest, bytes).ok());
  EXPECT_TRUE(store->Contains(digest));
  EXPECT_EQ(ReadFile(*store->PathFor(digest)), bytes);
  auto opened = store->OpenModule(digest);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->def().name(), "test");
  // Overwriting is atomic and leaves no temp files behind: one module and its checksum record.
  ASSERT_TRUE(store->Put(digest, ModuleBytes(100, 9)).ok());
  EXPECT_EQ(CountFiles(root + "/modules", ""), 2);
  EXPECT_EQ(CountFiles(root + "/modules", ".kmod"), 1);
  store->Remove(digest);
  EXPECT_FALSE(store->Contains(digest));
  EXPECT_EQ(CountFiles(root + "/modules", ""), 0);
  EXPECT_EQ(store->OpenModule(digest).status().code(), absl::StatusCode::kNotFound);
  ArtifactStoreStats stats = store->Stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  fs::remove_all(root);
}

TEST(ArtifactStoreTest, MalformedDigestIsInvalidArgument) {
  auto store = ArtifactStore::Open(TempDir());
  ASSERT_TRUE(store.ok());
  for (std::string bad : {"", "sha256:xyz", "md5:0123", "sha256:../../etc/passwd"}) {
    auto path = store->PathFor(bad);
    ASSERT_FALSE(path.ok()) << bad;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(store->Contains(bad));
    EXPECT_EQ(store->OpenModule(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
  fs::remove_all(store->root());
}

TEST(ArtifactStoreTest, UncreatableRootIsAnError) {
  auto store = ArtifactStore::Open("/proc/kiln-cannot-exist/cache");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ArtifactStoreTest, SizeBoundEvictsLeastRecentlyUsed) {
  std::string root = TempDir();
  std::string module = ModuleBytes(1000);
  // Room for three modules, not four.
  auto store = ArtifactStore::Open(root, {.max_bytes = 3 * module.size() + 10});
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->Put(Key(i), module).ok());
    Tick();
  }
  // Using 0 makes 1 the least recently used.
  ASSERT_TRUE(store->OpenModule(Key(0)).ok());
  Tick();
  ASSERT_TRUE(store->Put(Key(3), module).ok());
  EXPECT_TRUE(store->Contains(Key(0)));
  EXPECT_FALSE(store->Contains(Key(1)));
  EXPECT_TRUE(store->Contains(Key(2)));
  EXPECT_TRUE(store->Contains(Key(3)));
  Tick();
  ASSERT_TRUE(store->Put(Key(4), module).ok());
  EXPECT_FALSE(store->Contains(Key(2)));
  ArtifactStoreStats stats = store->Stats();
  EXPECT_EQ(stats.evictions, 2u);
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.bytes, 3 * module.size());
  // The listing is most recently used first.
  std::vector<ArtifactInfo> list = store->List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].digest, Key(4));
  EXPECT_EQ(list[1].digest, Key(3));
  EXPECT_EQ(list[2].digest, Key(0));
  fs::remove_all(root);
}

TEST(ArtifactStoreTest, PinnedArtifactsAreNeverEvicted) {
  std::string root = TempDir();
  std::string module = ModuleBytes(1000);
  auto store = ArtifactStore::Open(root, {.max_bytes = 2 * module.size() + 10});
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(store->Put(Key(0), module).ok());
  ArtifactStore::Pin pin = store->PinArtifact(Key(0));
  ArtifactStore::Pin second = store->PinArtifact(Key(0));  // pins count
  for (int i = 1; i < 5; ++i) {
    Tick();
    ASSERT_TRUE(store->Put(Key(i), module).ok());
  }
  EXPECT_TRUE(store->Contains(Key(0)));  // the oldest, but loaded
  EXPECT_TRUE(store->Contains(Key(4)));
  EXPECT_EQ(store->Stats().entries, 2u);
  EXPECT_EQ(store->Stats().pinned_entries, 1u);
  // Explicit eviction skips it too.
  EvictionResult result = store->Evict({Key(0), Key(4), Key(9)});
  EXPECT_EQ(result.evicted, std::vector<std::string>{Key(4)});
  EXPECT_EQ(result.bytes_freed, module.size());
  ASSERT_EQ(result.skipped.size(), 2u);
  EXPECT_EQ(result.skipped[0], std::make_pair(Key(0), std::string("loaded")));
  EXPECT_EQ(result.skipped[1], std::make_pair(Key(9), std::string("not found")));
  // Still pinned by the second handle; evictable once both are gone.
  pin.reset();
  EXPECT_EQ(store->Evict({}, /*all=*/true).skipped.size(), 1u);
  second.reset();
  EXPECT_EQ(store->Evict({}, /*all=*/true).evicted, std::vector<std::string>{Key(0)});
  EXPECT_EQ(store->Stats().entries, 0u);
  fs::remove_all(root);
}

TEST(ArtifactStoreTest, RestartRebuildsTheIndexInLruOrder) {
  std::string root = TempDir();
  std::string module = ModuleBytes(1000);
  {
    auto store = ArtifactStore::Open(root);
    ASSERT_TRUE(store.ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(store->Put(Key(i), module).ok());
      Tick();
    }
    ASSERT_TRUE(store->OpenModule(Key(0)).ok());  // 1 is now the least recently used
  }
  // A crashed writer's temp file is not an entry.
  std::ofstream(root + "/modules/" + Key(7).substr(7) + ".kmod.tmp.1.0") << "partial";
  auto store = ArtifactStore::Open(root, {.max_bytes = 2 * module.size() + 10});
  ASSERT_TRUE(store.ok());
  ArtifactStoreStats stats = store->Stats();
  EXPECT_EQ(stats.entries, 2u);
  EXPECT_EQ(stats.bytes, 2 * module.size());
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_FALSE(store->Contains(Key(1)));
  auto reopened = store->OpenModule(Key(2));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*reopened)->bytes().data()),
                        (*reopened)->bytes().size()),
            module);
  fs::remove_all(root);
}

TEST(ArtifactStoreTest, CorruptEntriesAreDetectedAndDropped) {
  std::string root = TempDir();
  auto store = ArtifactStore::Open(root);
  ASSERT_TRUE(store.ok());
  std::string module = ModuleBytes(1000);
  auto replace = [&](const std::string& digest, const std::string& content) {
    std::string path = *store->PathFor(digest);
    std::ofstream(path + ".new", std::ios::binary) << content;
    fs::rename(path + ".new", path);
  };

  // A flipped byte in a segment: the module reader's per-segment SHA-256 catches it.
  ASSERT_TRUE(store->Put(Key(0), module).ok());
  std::string flipped = module;
  flipped.back() ^= 0x1;
  replace(Key(0), flipped);
  auto opened = store->OpenModule(Key(0));
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << opened.status();
  EXPECT_FALSE(store->Contains(Key(0)));  // dropped

  // A change outside every segment (header reserved bytes): only the whole-file checksum
  // record notices.
  ASSERT_TRUE(store->Put(Key(1), module).ok());
  std::string padded = module;
  padded[40] ^= 0x1;  // ModuleFileHeader::reserved
  replace(Key(1), padded);
  opened = store->OpenModule(Key(1));
  ASSERT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << opened.status();
  EXPECT_NE(std::string(opened.status().message()).find("fails its integrity check"),
            std::string::npos)
      << opened.status();
  EXPECT_FALSE(store->Contains(Key(1)));

  // A module without its checksum record is not trusted either.
  ASSERT_TRUE(store->Put(Key(2), module).ok());
  fs::remove(root + "/modules/" + Key(2).substr(7) + ".sum");
  EXPECT_EQ(store->OpenModule(Key(2)).status().code(), absl::StatusCode::kDataLoss);

  ArtifactStoreStats stats = store->Stats();
  EXPECT_EQ(stats.corrupt_dropped, 3u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.hits, 0u);
  // Rewritten, it serves again.
  ASSERT_TRUE(store->Put(Key(1), module).ok());
  EXPECT_TRUE(store->OpenModule(Key(1)).ok());
  fs::remove_all(root);
}

}  // namespace
}  // namespace kiln
