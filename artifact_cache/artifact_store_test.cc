#include "artifact_cache/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "artifact_cache/cache_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/base/sha256.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

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

ArtifactStoreOptions MaxBytes(uint64_t max_bytes) {
  ArtifactStoreOptions options;
  options.max_bytes = max_bytes;
  return options;
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

// Probe vouches for an entry this process wrote or authenticated while its file is unchanged,
// and for nothing else: an entry only indexed from the directory, a rewritten file (same size,
// same mtime), a removed one.
TEST(ArtifactStoreTest, ProbeOnlyVouchesForUnchangedVerifiedEntries) {
  std::string root = TempDir();
  std::string digest = Key(0), other = Key(1);
  std::string bytes = ModuleBytes(100);
  {
    auto store = ArtifactStore::Open(root);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(store->Probe(digest).code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(store->Probe("sha256:nope").code(), absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE(store->Put(digest, bytes).ok());
    EXPECT_TRUE(store->Probe(digest).ok());
    EXPECT_TRUE(store->Probe(digest).ok());  // its own LRU touch does not invalidate it
    EXPECT_EQ(store->Stats().hits, 2u);
  }
  auto store = ArtifactStore::Open(root);  // a restart: indexed from the directory only
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(store->Probe(digest).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->OpenModule(digest).ok());
  EXPECT_TRUE(store->Probe(digest).ok());

  // Rewritten in place with other bytes of the same size and its old mtime restored.
  std::string path = *store->PathFor(digest);
  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  std::string changed = ModuleBytes(100, 9);
  ASSERT_EQ(changed.size(), bytes.size());
  // File times come from a coarse clock (a few ms): a change within the same tick as the
  // recorded one keeps the change time (see ArtifactStore::Probe).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::ofstream out(path, std::ios::binary | std::ios::in | std::ios::out);
    out.write(changed.data(), static_cast<std::streamsize>(changed.size()));
  }
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  EXPECT_EQ(store->Probe(digest).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->OpenModule(digest).status().code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(store->Put(other, bytes).ok());
  ASSERT_TRUE(fs::remove(*store->PathFor(other)));
  EXPECT_EQ(store->Probe(other).code(), absl::StatusCode::kNotFound);
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
  auto store = ArtifactStore::Open(root, MaxBytes(3 * module.size() + 10));
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
  auto store = ArtifactStore::Open(root, MaxBytes(2 * module.size() + 10));
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
  auto store = ArtifactStore::Open(root, MaxBytes(2 * module.size() + 10));
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

std::string ModulePath(const std::string& root, const std::string& digest) {
  return root + "/modules/" + digest.substr(7) + ".kmod";
}
std::string SidecarPath(const std::string& root, const std::string& digest) {
  return root + "/modules/" + digest.substr(7) + ".sum";
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(ArtifactStoreTest, PlantedModulesAreRejectedAndRebuilt) {
  std::string root = TempDir();
  auto store = ArtifactStore::Open(root);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string module = ModuleBytes(1000);
  std::string planted = ModuleBytes(1000, 9);  // another valid module: other weights
  ASSERT_TRUE(store->Put(Key(0), module).ok());

  // A valid module with the checksum record an attacker without the key can compute (the
  // old, unkeyed record format).
  WriteFile(ModulePath(root, Key(1)), planted);
  WriteFile(SidecarPath(root, Key(1)),
            FileDigest(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(planted.data()),
                                                planted.size())) +
                " " + std::to_string(planted.size()) + "\n");
  auto opened = store->OpenModule(Key(1));
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Message(opened.status()),
            "cached artifact " + Key(1) +
                " fails its integrity check: its authentication record is malformed; it was "
                "dropped, compile the program again");
  EXPECT_FALSE(fs::exists(ModulePath(root, Key(1))));
  EXPECT_FALSE(fs::exists(SidecarPath(root, Key(1))));

  // A well-formed record made with some other key.
  std::array<uint8_t, CacheKey::kSize> guess{};
  auto forged = CacheKey::FromBytes(guess).EntryMac(
      Key(2),
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(planted.data()), planted.size()));
  ASSERT_TRUE(forged.ok());
  WriteFile(ModulePath(root, Key(2)), planted);
  WriteFile(SidecarPath(root, Key(2)),
            "hmac-sha256:" + HexEncode(*forged) + " " + std::to_string(planted.size()) + "\n");
  opened = store->OpenModule(Key(2));
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(opened.status()),
              HasSubstr("does not match its authentication record (changed, or not written by a "
                        "holder of this cache's key)"));
  EXPECT_FALSE(store->Contains(Key(2)));

  // An authentic entry copied, record and all, under another digest: the MAC covers the name.
  fs::copy_file(ModulePath(root, Key(0)), ModulePath(root, Key(3)));
  fs::copy_file(SidecarPath(root, Key(0)), SidecarPath(root, Key(3)));
  opened = store->OpenModule(Key(3));
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(store->Contains(Key(3)));
  EXPECT_TRUE(store->OpenModule(Key(0)).ok());  // the original still serves

  ArtifactStoreStats stats = store->Stats();
  EXPECT_EQ(stats.corrupt_dropped, 3u);
  EXPECT_EQ(stats.misses, 3u);
  EXPECT_EQ(stats.hits, 1u);
  // The miss path rebuilds them, and then they serve: with the compiler's bytes, not planted.
  ASSERT_TRUE(store->Put(Key(1), module).ok());
  opened = store->OpenModule(Key(1));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*opened)->bytes().data()),
                        (*opened)->bytes().size()),
            module);
  fs::remove_all(root);
}

// Runs OpenModule with a time limit, so that a FIFO that blocks fails the test instead of
// hanging it (the FIFO is then opened for writing to release the reader).
absl::Status OpenWithin(const ArtifactStore& store, const std::string& digest,
                        const std::string& fifo) {
  auto result = std::async(std::launch::async, [&] { return store.OpenModule(digest).status(); });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "OpenModule blocked on " << digest;
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  return result.get();
}

TEST(ArtifactStoreTest, OnlyRegularFilesAreOpened) {
  std::string root = TempDir();
  auto store = ArtifactStore::Open(root);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string module = ModuleBytes(1000);

  // A FIFO in place of a module, its record intact: refused at once, not waited on.
  ASSERT_TRUE(store->Put(Key(0), module).ok());
  std::string path = ModulePath(root, Key(0));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  absl::Status status = OpenWithin(*store, Key(0), path);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(Message(status), "'" + path + "' is not a regular file");
  EXPECT_FALSE(fs::exists(fs::symlink_status(path)));  // dropped
  EXPECT_FALSE(store->Contains(Key(0)));

  // A FIFO in place of the record.
  ASSERT_TRUE(store->Put(Key(1), module).ok());
  std::string sidecar = SidecarPath(root, Key(1));
  ASSERT_EQ(::unlink(sidecar.c_str()), 0);
  ASSERT_EQ(::mkfifo(sidecar.c_str(), 0644), 0);
  status = OpenWithin(*store, Key(1), sidecar);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(Message(status), HasSubstr("its authentication record is not a record"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(sidecar)));

  // A directory (with something in it) in place of a module: reported, removed, and the entry
  // can be written again (rename() cannot replace a directory).
  std::string directory = ModulePath(root, Key(2));
  fs::create_directories(directory + "/inner");
  EXPECT_FALSE(store->Contains(Key(2)));
  status = store->OpenModule(Key(2)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(Message(status), HasSubstr("its authentication record is missing"));
  EXPECT_FALSE(fs::exists(directory));
  fs::create_directories(directory + "/inner");  // and a Put over one that was never read
  ASSERT_TRUE(store->Put(Key(2), module).ok());
  EXPECT_TRUE(store->OpenModule(Key(2)).ok());

  // A symlink to an authentic module file (the entry moved elsewhere): never followed.
  ASSERT_TRUE(store->Put(Key(3), module).ok());
  std::string elsewhere = root + "/elsewhere.kmod";
  fs::rename(ModulePath(root, Key(3)), elsewhere);
  fs::create_symlink(elsewhere, ModulePath(root, Key(3)));
  status = store->OpenModule(Key(3)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(Message(status),
            "'" + ModulePath(root, Key(3)) + "' is a symbolic link, which is not followed");
  EXPECT_FALSE(fs::exists(fs::symlink_status(ModulePath(root, Key(3)))));
  EXPECT_TRUE(fs::exists(elsewhere));  // the link went, not its target

  EXPECT_EQ(store->Stats().corrupt_dropped, 4u);
  // Nothing that is not a regular file is indexed on a restart either.
  fs::create_directories(ModulePath(root, Key(4)));
  fs::create_symlink(elsewhere, ModulePath(root, Key(5)));
  auto reopened = ArtifactStore::Open(root);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened->Stats().entries, 1u);  // Key(2)
  fs::remove_all(root);
}

TEST(ArtifactStoreTest, KeyFileIsCreatedPrivateAndShared) {
  std::string root = TempDir();
  std::string module = ModuleBytes(1000);
  {
    auto store = ArtifactStore::Open(root);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE(store->Put(Key(0), module).ok());
  }
  struct stat st;
  ASSERT_EQ(::lstat((root + "/.kiln-cache-key").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);

  // A restart, or a second replica on the same directory, uses the same key: a hit.
  auto second = ArtifactStore::Open(root);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->OpenModule(Key(0)).ok());

  // A replica with its own cache directory and a copy of the key file (--cache-key-file) can
  // use entries copied over from the first.
  std::string other_root = root + "-replica";
  fs::remove_all(other_root);
  fs::create_directories(other_root + "/modules");
  fs::copy_file(root + "/.kiln-cache-key", other_root + "/shared-key");
  fs::permissions(other_root + "/shared-key", fs::perms::owner_read | fs::perms::owner_write);
  fs::copy_file(ModulePath(root, Key(0)), ModulePath(other_root, Key(0)));
  fs::copy_file(SidecarPath(root, Key(0)), SidecarPath(other_root, Key(0)));
  ArtifactStoreOptions options;
  options.key_file = other_root + "/shared-key";
  auto replica = ArtifactStore::Open(other_root, options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  EXPECT_TRUE(replica->OpenModule(Key(0)).ok());
  EXPECT_FALSE(fs::exists(other_root + "/.kiln-cache-key"));  // the named key file was used

  // A key file others may read is refused: kilnd does not start on it.
  ASSERT_EQ(::chmod((root + "/.kiln-cache-key").c_str(), 0644), 0);
  auto refused = ArtifactStore::Open(root);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(refused.status()), HasSubstr("has mode 0644"));
  fs::remove_all(root);
  fs::remove_all(other_root);
}

TEST(ArtifactStoreTest, AnotherKeyRejectsEveryEntry) {
  std::string root = TempDir();
  std::string module = ModuleBytes(1000);
  {
    auto store = ArtifactStore::Open(root);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->Put(Key(i), module).ok());
  }
  ArtifactStoreOptions options;
  options.key_file = root + "/another-key";  // created: a new random key
  auto store = ArtifactStore::Open(root, options);
  ASSERT_TRUE(store.ok()) << store.status();
  for (int i = 0; i < 3; ++i) {
    auto opened = store->OpenModule(Key(i));
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << i;
    EXPECT_THAT(Message(opened.status()), HasSubstr("does not match its authentication record"));
  }
  ArtifactStoreStats stats = store->Stats();
  EXPECT_EQ(stats.corrupt_dropped, 3u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.hits, 0u);
  fs::remove_all(root);
}

}  // namespace
}  // namespace kiln
