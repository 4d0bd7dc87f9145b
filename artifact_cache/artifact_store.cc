#include "artifact_cache/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "artifact_cache/cache_key.h"
#include "runtime_service/base/sha256.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kModuleSuffix = ".kmod";
constexpr std::string_view kSidecarSuffix = ".sum";
constexpr std::string_view kKeyFileName = ".kiln-cache-key";
constexpr std::string_view kMacPrefix = "hmac-sha256:";
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
  bool renamed = ::fsync(fd) == 0 && ::close(fd) == 0 && ::rename(temp.c_str(), path.c_str()) == 0;
  if (!renamed && (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST)) {
    // A directory put where the entry goes would fail every later write of it: remove it.
    std::error_code ec;
    fs::remove_all(path, ec);
    renamed = ::rename(temp.c_str(), path.c_str()) == 0;
  }
  if (!renamed) {
    int err = errno;
    ::unlink(temp.c_str());
    return absl::InternalError(absl::StrCat("cannot store '", path, "': ", std::strerror(err)));
  }
  return absl::OkStatus();
}

std::string SidecarText(const CacheKey::Mac& mac, uint64_t size) {
  return absl::StrCat(std::string(kMacPrefix), HexEncode(mac), " ", size, "\n");
}

// An entry's authentication record: its MAC and size.
struct Sidecar {
  CacheKey::Mac mac{};
  uint64_t size = 0;
};

// "hmac-sha256:<64 hex> <size>\n", exactly as SidecarText writes it.
std::optional<Sidecar> ParseSidecar(std::string_view text) {
  if (!text.starts_with(kMacPrefix) || !text.ends_with('\n')) return std::nullopt;
  text.remove_prefix(kMacPrefix.size());
  text.remove_suffix(1);
  size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view hex = text.substr(0, space);
  std::string size_text(text.substr(space + 1));
  Sidecar sidecar;
  if (!IsHex64(hex) || !absl::SimpleAtoi(size_text, &sidecar.size)) return std::nullopt;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < sidecar.mac.size(); ++i)
    sidecar.mac[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return sidecar;
}

// A sidecar's text, read like a module file: only a regular file, never following a link or
// waiting on a FIFO. NOT_FOUND when there is none, DATA_LOSS for anything else unusable.
absl::StatusOr<std::string> ReadSidecar(const std::string& path) {
  constexpr size_t kMaxBytes = 256;  // a record is ~100 bytes
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError("its authentication record is missing");
    return absl::DataLossError(
        absl::StrCat("its authentication record cannot be opened: ", std::strerror(errno)));
  }
  struct stat st;
  std::string text(kMaxBytes, '\0');
  ssize_t n = -1;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    do {
      n = ::read(fd, text.data(), text.size());
    } while (n < 0 && errno == EINTR);
  }
  ::close(fd);
  if (n < 0 || static_cast<size_t>(n) == kMaxBytes)
    return absl::DataLossError("its authentication record is not a record");
  text.resize(static_cast<size_t>(n));
  return text;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Unlinks whatever is at `path`; a directory (planted there: the cache never makes one) with
// everything in it.
void RemovePath(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return;
  if (IsDirectory(path)) {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
}

// The identity of a regular file at `path` (not followed if a symlink), or nullopt. The
// change time is set by the kernel on every write, rename onto the path, or utimensat, and
// cannot be set back by a user, so an equal identity means the file was not touched since.
std::optional<FileIdentity> IdentityOf(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FileIdentity{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<uint64_t>(st.st_size),
                      static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec};
}

}  // namespace

std::string FileDigest(std::span<const uint8_t> bytes) { return DigestString(Sha256(bytes)); }

struct ArtifactStore::State {
  struct Entry {
    uint64_t size = 0;
    int64_t last_access_ns = 0;  // wall clock, persisted as the module file's mtime
    // The module file as this process last wrote or authenticated it (Probe); unset for
    // entries only indexed from the directory.
    std::optional<FileIdentity> verified;
  };

  std::string root;
  std::string modules_dir;
  uint64_t max_bytes = 0;
  std::optional<CacheKey> key;  // set by Open

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

  void SetEntryLocked(const std::string& digest, uint64_t size, int64_t last_access_ns,
                      std::optional<FileIdentity> verified = std::nullopt) {
    auto [it, inserted] = index.try_emplace(digest);
    if (!inserted) bytes -= it->second.size;
    it->second = {size, last_access_ns, verified};
    bytes += size;
  }

  void UnlinkLocked(const std::string& digest) {
    RemovePath(ModulePath(digest));
    RemovePath(SidecarPath(digest));
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
      struct stat st;  // lstat: a symlink is no entry, and its target's size is not ours
      if (!IsHex64(hex) || ::lstat(file.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
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

absl::StatusOr<ArtifactStore> ArtifactStore::Open(std::string root,
                                                  const ArtifactStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(root) / "modules", ec);
  if (ec)
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create artifact cache directory '", root, "': ", ec.message()));
  auto state = std::make_shared<State>();
  state->root = std::move(root);
  state->modules_dir = state->root + "/modules";
  state->max_bytes = options.max_bytes;
  auto key = CacheKey::LoadOrCreate(options.key_file.empty()
                                        ? absl::StrCat(state->root, "/", std::string(kKeyFileName))
                                        : options.key_file);
  if (!key.ok()) return key.status();
  state->key = *key;
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
  struct stat st;
  return path.ok() && ::lstat(path->c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::Status ArtifactStore::Put(std::string_view digest, std::string_view bytes) const {
  auto path = PathFor(digest);
  if (!path.ok()) return path.status();
  std::string key(digest);
  auto mac = state_->key->EntryMac(
      key, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  if (!mac.ok()) return mac.status();
  // The sidecar first: a module file never appears without the MAC it is checked against.
  if (auto status = WriteAtomically(state_->SidecarPath(key), SidecarText(*mac, bytes.size()));
      !status.ok())
    return status;
  if (auto status = WriteAtomically(*path, bytes); !status.ok()) return status;
  std::optional<FileIdentity> identity = IdentityOf(*path);
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->SetEntryLocked(key, bytes.size(), NowUnixNs(), identity);
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

  auto not_found = [&] {
    miss();
    return absl::NotFoundError(absl::StrCat("no artifact ", key, " in the cache at ", state_->root,
                                            "; compile the program first"));
  };
  auto corrupt = [&](const std::string& why) {
    absl::Status status = absl::DataLossError(
        absl::StrCat("cached artifact ", key, " fails its integrity check: ", why,
                     "; it was dropped, compile the program again"));
    drop(status);
    return status;
  };

  // The record first: its size is checked before the module file is read.
  auto text = ReadSidecar(state_->SidecarPath(key));
  if (!text.ok()) {
    struct stat st;
    if (::lstat(path->c_str(), &st) != 0 && errno == ENOENT) return not_found();
    return corrupt(std::string(text.status().message()));
  }
  std::optional<Sidecar> sidecar = ParseSidecar(*text);
  if (!sidecar.has_value()) return corrupt("its authentication record is malformed");

  module::ModuleOpenOptions options;
  options.follow_symlinks = false;
  options.expected_size = sidecar->size;
  options.authenticate = [&](std::span<const uint8_t> bytes) -> absl::Status {
    auto mac = state_->key->EntryMac(key, bytes);
    if (!mac.ok()) return mac.status();
    if (!MacsEqual(*mac, sidecar->mac)) {
      return absl::DataLossError(
          "the module file does not match its authentication record (changed, or not written "
          "by a holder of this cache's key)");
    }
    return absl::OkStatus();
  };
  auto file = module::ModuleFile::Open(*path, options);
  if (!file.ok()) {
    absl::StatusCode code = file.status().code();
    if (code == absl::StatusCode::kNotFound) return not_found();
    if (code == absl::StatusCode::kDataLoss) return corrupt(std::string(file.status().message()));
    if (code == absl::StatusCode::kInvalidArgument ||
        code == absl::StatusCode::kFailedPrecondition) {
      drop(file.status());
    } else {
      miss();  // e.g. out of memory: the entry may be fine
    }
    return file.status();
  }
  std::span<const uint8_t> bytes = (*file)->bytes();

  // A hit: refresh its LRU position, on disk too so the order survives a restart.
  int64_t now = NowUnixNs();
  struct timespec times[2] = {{0, UTIME_OMIT}, {now / 1000000000, now % 1000000000}};
  ::utimensat(AT_FDCWD, path->c_str(), times, AT_SYMLINK_NOFOLLOW);
  // The identity after the touch (which changes the change time). A file swapped in between
  // the read and here would be recorded as verified: Probe's answer is a summary, never what
  // runs, and loading authenticates the bytes it reads again.
  std::optional<FileIdentity> identity = IdentityOf(*path);
  if (identity && identity->size != bytes.size()) identity.reset();
  std::lock_guard<std::mutex> lock(state_->mutex);
  ++state_->hits;
  state_->SetEntryLocked(key, bytes.size(), now, identity);
  return file;
}

absl::Status ArtifactStore::Probe(std::string_view digest) const {
  auto path = PathFor(digest);
  if (!path.ok()) return path.status();
  std::string key(digest);
  std::optional<FileIdentity> expected;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->index.find(key);
    if (it != state_->index.end()) expected = it->second.verified;
  }
  std::optional<FileIdentity> actual = IdentityOf(*path);
  if (!expected || !actual || !(*expected == *actual))
    return absl::NotFoundError(absl::StrCat("artifact ", key, " is not known unchanged"));
  // A hit: the same LRU refresh as OpenModule's, and the identity after it.
  int64_t now = NowUnixNs();
  struct timespec times[2] = {{0, UTIME_OMIT}, {now / 1000000000, now % 1000000000}};
  ::utimensat(AT_FDCWD, path->c_str(), times, AT_SYMLINK_NOFOLLOW);
  std::optional<FileIdentity> touched = IdentityOf(*path);
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->index.find(key);
  if (it == state_->index.end())  // evicted meanwhile
    return absl::NotFoundError(absl::StrCat("artifact ", key, " was evicted"));
  ++state_->hits;
  it->second.last_access_ns = now;
  it->second.verified = touched && touched->ino == actual->ino && touched->dev == actual->dev &&
                                touched->size == actual->size
                            ? touched
                            : std::nullopt;
  return absl::OkStatus();
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
