#include "runtime_service/service/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "runtime_service/base/sha256.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kModuleSuffix = ".kmod";
constexpr std::string_view kSidecarSuffix = ".sum";
// Temp files and orphaned sidecars older than this are leftovers of a crashed writer.
constexpr auto kStaleAge = std::chrono::hours(1);

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

bool IsHex64(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::Status WriteAtomically(const std::string& path, std::string_view bytes) {
  static std::atomic<uint64_t> counter{0};
  std::string temp = absl::StrCat(path, ".tmp.", ::getpid(), ".", counter++);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot write '", temp, "': ", std::strerror(errno)));
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return absl::InternalError(absl::StrCat("cannot write '", temp, "': ", std::strerror(err)));
    }
    written += static_cast<size_t>(n);
  }
  // fsync before rename: after a power loss the name holds either nothing or the full file.
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return absl::InternalError(absl::StrCat("cannot store '", path, "': ", std::strerror(err)));
  }
  return absl::OkStatus();
}

std::string SidecarText(std::string_view file_digest, uint64_t size) {
  return absl::StrCat(std::string(file_digest), " ", size, "\n");
}

}  // namespace

std::string FileDigest(std::span<const uint8_t> bytes) { return DigestString(Sha256(bytes)); }

struct ArtifactStore::State {
  struct Entry {
    uint64_t size = 0;
    int64_t last_access_ns = 0;  // wall clock, persisted as the module file's mtime
  };

  std::string root;
  std::string modules_dir;
  uint64_t max_bytes = 0;

  std::mutex mutex;
  std::map<std::string, Entry> index;  // by digest
  std::map<std::string, int> pins;     // digest → pin count (outlives a dropped entry)
  uint64_t bytes = 0;
  uint64_t hits = 0, misses = 0, evictions = 0, corrupt = 0;

  std::string ModulePath(const std::string& digest) const {
    return absl::StrCat(modules_dir, "/", digest.substr(7), std::string(kModuleSuffix));
  }
  std::string SidecarPath(const std::string& digest) const {
    return absl::StrCat(modules_dir, "/", digest.substr(7), std::string(kSidecarSuffix));
  }

  void SetEntryLocked(const std::string& digest, uint64_t size, int64_t last_access_ns) {
    auto [it, inserted] = index.try_emplace(digest);
    if (!inserted) bytes -= it->second.size;
    it->second = {size, last_access_ns};
    bytes += size;
  }

  void UnlinkLocked(const std::string& digest) {
    ::unlink(ModulePath(digest).c_str());
    ::unlink(SidecarPath(digest).c_str());
    auto it = index.find(digest);
    if (it == index.end()) return;
    bytes -= it->second.size;
    index.erase(it);
  }

  bool PinnedLocked(const std::string& digest) const {
    auto it = pins.find(digest);
    return it != pins.end() && it->second > 0;
  }

  // Least recently used first, skipping pinned entries and `keep`.
  void EvictToFitLocked(const std::string& keep) {
    while (bytes > max_bytes) {
      auto victim = index.end();
      for (auto it = index.begin(); it != index.end(); ++it) {
        if (it->first == keep || PinnedLocked(it->first)) continue;
        if (victim == index.end() || it->second.last_access_ns < victim->second.last_access_ns)
          victim = it;
      }
      if (victim == index.end()) {
        spdlog::warn(
            "artifact cache holds {} bytes, over its bound of {}, but everything left "
            "is in use",
            bytes, max_bytes);
        return;
      }
      std::string digest = victim->first;
      spdlog::info("evicting artifact {} ({} bytes) from the cache", digest, victim->second.size);
      UnlinkLocked(digest);
      ++evictions;
    }
  }

  void Scan() {
    std::error_code ec;
    const auto stale_before = fs::file_time_type::clock::now() - kStaleAge;
    std::vector<fs::path> sidecars;
    for (const fs::directory_entry& file : fs::directory_iterator(modules_dir, ec)) {
      std::string name = file.path().filename().string();
      std::error_code file_ec;
      if (name.find(".tmp.") != std::string::npos) {
        if (file.last_write_time(file_ec) < stale_before) fs::remove(file.path(), file_ec);
        continue;
      }
      if (name.ends_with(kSidecarSuffix)) {
        sidecars.push_back(file.path());
        continue;
      }
      if (!name.ends_with(kModuleSuffix)) continue;
      std::string hex = name.substr(0, name.size() - kModuleSuffix.size());
      struct stat st;
      if (!IsHex64(hex) || ::stat(file.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      SetEntryLocked("sha256:" + hex, static_cast<uint64_t>(st.st_size), MtimeNs(st));
    }
    for (const fs::path& sidecar : sidecars) {
      std::string name = sidecar.filename().string();
      std::string digest = "sha256:" + name.substr(0, name.size() - kSidecarSuffix.size());
      std::error_code file_ec;
      if (!index.count(digest) && fs::last_write_time(sidecar, file_ec) < stale_before)
        fs::remove(sidecar, file_ec);
    }
  }
};

namespace {

// Unpins when the last copy of the handle goes away.
struct PinToken {
  std::shared_ptr<ArtifactStore::State> state;
  std::string digest;
  ~PinToken() {
    std::lock_guard<std::mutex> lock(state->mutex);
    auto it = state->pins.find(digest);
    if (it != state->pins.end() && --it->second <= 0) state->pins.erase(it);
  }
};

}  // namespace

absl::StatusOr<ArtifactStore> ArtifactStore::Open(std::string root, ArtifactStoreOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(root) / "modules", ec);
  if (ec)
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create artifact cache directory '", root, "': ", ec.message()));
  auto state = std::make_shared<State>();
  state->root = std::move(root);
  state->modules_dir = state->root + "/modules";
  state->max_bytes = options.max_bytes;
  std::lock_guard<std::mutex> lock(state->mutex);
  state->Scan();
  state->EvictToFitLocked("");
  return ArtifactStore(std::move(state));
}

const std::string& ArtifactStore::root() const { return state_->root; }

absl::StatusOr<std::string> ArtifactStore::PathFor(std::string_view digest) const {
  // (absl::string_view is not std::string_view in Debian's absl build: StrCat takes strings.)
  std::string text(digest);
  if (!IsValidDigestString(text))
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not an artifact digest (expected sha256: and 64 hex digits)"));
  return state_->ModulePath(text);
}

bool ArtifactStore::Contains(std::string_view digest) const {
  auto path = PathFor(digest);
  return path.ok() && ::access(path->c_str(), R_OK) == 0;
}

absl::Status ArtifactStore::Put(std::string_view digest, std::string_view bytes) const {
  auto path = PathFor(digest);
  if (!path.ok()) return path.status();
  std::string key(digest);
  std::string sum = FileDigest(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  // The sidecar first: a module file never appears without the hash it is checked against.
  if (auto status = WriteAtomically(state_->SidecarPath(key), SidecarText(sum, bytes.size()));
      !status.ok())
    return status;
  if (auto status = WriteAtomically(*path, bytes); !status.ok()) return status;
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->SetEntryLocked(key, bytes.size(), NowUnixNs());
  state_->EvictToFitLocked(key);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<module::ModuleFile>> ArtifactStore::OpenModule(
    std::string_view digest) const {
  auto path = PathFor(digest);
  if (!path.ok()) return path.status();
  std::string key(digest);
  auto miss = [&] {
    std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->misses;
    // Gone from disk (evicted by another process, removed by hand): forget it.
    if (state_->index.count(key) && ::access(path->c_str(), F_OK) != 0) state_->UnlinkLocked(key);
  };
  auto drop = [&](const absl::Status& why) {
    spdlog::warn("cached artifact {} is corrupt and was dropped: {}", key, why.ToString());
    std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->misses;
    ++state_->corrupt;
    state_->UnlinkLocked(key);
  };

  auto file = module::ModuleFile::Open(*path);
  if (!file.ok()) {
    absl::StatusCode code = file.status().code();
    if (code == absl::StatusCode::kNotFound) {
      miss();
      return absl::NotFoundError(absl::StrCat("no artifact ", key, " in the cache at ",
                                              state_->root, "; compile the program first"));
    }
    if (code == absl::StatusCode::kDataLoss || code == absl::StatusCode::kInvalidArgument ||
        code == absl::StatusCode::kFailedPrecondition) {
      drop(file.status());
    } else {
      miss();
    }
    return file.status();
  }

  // The module reader checked every segment; the sidecar covers the rest (header, metadata,
  // padding), so any change to the file is caught.
  std::span<const uint8_t> bytes = (*file)->bytes();
  std::ifstream in(state_->SidecarPath(key));
  std::string expected_sum;
  uint64_t expected_size = 0;
  in >> expected_sum >> expected_size;
  std::string actual_sum = FileDigest(bytes);
  if (!in || expected_sum != actual_sum || expected_size != bytes.size()) {
    absl::Status status = absl::DataLossError(absl::StrCat(
        "cached artifact ", key, " fails its integrity check: ",
        in ? absl::StrCat("the file hashes to ", actual_sum, " (", bytes.size(),
                          " bytes), its record says ", expected_sum, " (", expected_size, " bytes)")
           : std::string("its checksum record is missing"),
        "; it was dropped, compile the program again"));
    drop(status);
    return status;
  }

  // A hit: refresh its LRU position, on disk too so the order survives a restart.
  int64_t now = NowUnixNs();
  struct timespec times[2] = {{0, UTIME_OMIT}, {now / 1000000000, now % 1000000000}};
  ::utimensat(AT_FDCWD, path->c_str(), times, 0);
  std::lock_guard<std::mutex> lock(state_->mutex);
  ++state_->hits;
  state_->SetEntryLocked(key, bytes.size(), now);
  return file;
}

void ArtifactStore::Remove(std::string_view digest) const {
  if (!PathFor(digest).ok()) return;
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->UnlinkLocked(std::string(digest));
}

ArtifactStore::Pin ArtifactStore::PinArtifact(std::string_view digest) const {
  auto token = std::make_shared<PinToken>();
  token->state = state_;
  token->digest = std::string(digest);
  std::lock_guard<std::mutex> lock(state_->mutex);
  ++state_->pins[token->digest];
  return token;
}

std::vector<ArtifactInfo> ArtifactStore::List() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::vector<ArtifactInfo> list;
  list.reserve(state_->index.size());
  for (const auto& [digest, entry] : state_->index)
    list.push_back(
        {digest, entry.size, entry.last_access_ns / 1000000, state_->PinnedLocked(digest)});
  std::sort(list.begin(), list.end(), [](const ArtifactInfo& a, const ArtifactInfo& b) {
    return a.last_access_unix_ms != b.last_access_unix_ms
               ? a.last_access_unix_ms > b.last_access_unix_ms
               : a.digest < b.digest;
  });
  return list;
}

ArtifactStoreStats ArtifactStore::Stats() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  ArtifactStoreStats stats;
  stats.entries = state_->index.size();
  stats.bytes = state_->bytes;
  stats.max_bytes = state_->max_bytes;
  stats.hits = state_->hits;
  stats.misses = state_->misses;
  stats.evictions = state_->evictions;
  stats.corrupt_dropped = state_->corrupt;
  for (const auto& [digest, entry] : state_->index)
    if (state_->PinnedLocked(digest)) ++stats.pinned_entries;
  return stats;
}

EvictionResult ArtifactStore::Evict(const std::vector<std::string>& digests, bool all) const {
  EvictionResult result;
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::vector<std::string> targets = digests;
  if (digests.empty() && all)
    for (const auto& [digest, entry] : state_->index) targets.push_back(digest);
  for (const std::string& digest : targets) {
    if (!IsValidDigestString(digest)) {
      result.skipped.emplace_back(digest, "not a digest");
      continue;
    }
    if (state_->PinnedLocked(digest)) {
      result.skipped.emplace_back(digest, "loaded");
      continue;
    }
    auto it = state_->index.find(digest);
    if (it == state_->index.end()) {
      result.skipped.emplace_back(digest, "not found");
      continue;
    }
    result.bytes_freed += it->second.size;
    state_->UnlinkLocked(digest);
    ++state_->evictions;
    result.evicted.push_back(digest);
  }
  if (!result.evicted.empty())
    spdlog::info("evicted {} artifact(s), {} bytes, on request", result.evicted.size(),
                 result.bytes_freed);
  return result;
}

}  // namespace kiln
