// The artifact cache: module files on disk keyed by their "sha256:<hex>" artifact digest.
//
// - Writes are atomic (temp file + fsync + rename), so a crash never leaves a partial module
//   under a digest.
// - Entries are authenticated: a sidecar file (<hex>.sum) holds an HMAC-SHA256, made with a key
//   only kilnd holds (cache_key.h), over the digest and the whole module file, and its size. An
//   entry without a valid MAC (changed, truncated, planted by someone without the key, or an
//   authentic one moved to another digest) is corrupt: dropped, counted and logged, so it gets
//   rebuilt. The MAC is checked over the bytes read into memory before they are parsed, and
//   those same bytes are what runs (module_file.h), so later changes to the file cannot reach a
//   loaded module.
// - Only regular files are opened (O_NOFOLLOW, O_NONBLOCK, fstat): a symlink, FIFO or directory
//   at an entry's path is corrupt at once, never followed or waited on, and is removed.
// - The total size is bounded: after a write, least recently used entries are evicted until
//   the cache fits, except pinned ones (the artifacts of loaded modules are never evicted).
// - The index is rebuilt by scanning the directory on Open, with file mtimes as last access
//   (a read touches the mtime), so the LRU order survives restarts.
//
// ArtifactStore is a cheap handle: copies share one index, and its methods are thread-safe.
#ifndef KILN_ARTIFACT_CACHE_ARTIFACT_STORE_H_
#define KILN_ARTIFACT_CACHE_ARTIFACT_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime_service/module/module_file.h"

namespace kiln {

struct ArtifactStoreOptions {
  uint64_t max_bytes = 4ull << 30;  // total module bytes kept (--cache-max-bytes)
  // The key entries are authenticated with (--cache-key-file); empty: <root>/.kiln-cache-key.
  // Created (0600) when missing.
  std::string key_file;
};

// A regular file as lstat sees it: device, inode, size and change time (nanoseconds).
struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

struct ArtifactInfo {
  std::string digest;
  uint64_t size_bytes = 0;
  int64_t last_access_unix_ms = 0;
  bool pinned = false;
};

struct ArtifactStoreStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t max_bytes = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t corrupt_dropped = 0;
  uint64_t pinned_entries = 0;
};

struct EvictionResult {
  std::vector<std::string> evicted;
  uint64_t bytes_freed = 0;
  std::vector<std::pair<std::string, std::string>> skipped;  // digest, reason
};

class ArtifactStore {
 public:
  // Creates `root` (and parents) if needed, loads or creates the key (FAILED_PRECONDITION for
  // an unusable key file) and indexes what is already there (evicting down to the size bound).
  static absl::StatusOr<ArtifactStore> Open(std::string root,
                                            const ArtifactStoreOptions& options = {});

  const std::string& root() const;
  // INVALID_ARGUMENT for a malformed digest.
  absl::StatusOr<std::string> PathFor(std::string_view digest) const;
  // Whether a regular file is stored under the digest (not verified).
  bool Contains(std::string_view digest) const;
  // Stores a module (atomically), then evicts down to the size bound. The entry just written is
  // never evicted by its own Put.
  absl::Status Put(std::string_view digest, std::string_view bytes) const;
  // Reads, authenticates and verifies the module (a cache hit, which refreshes its LRU
  // position). NOT_FOUND (a miss) when absent; a corrupt entry is dropped, logged, counted, and
  // its error returned (DATA_LOSS, or INVALID_ARGUMENT for a path that is not a regular file).
  absl::StatusOr<std::unique_ptr<module::ModuleFile>> OpenModule(std::string_view digest) const;
  // A hit without reading the module: OK when this process wrote or authenticated the entry
  // (Put, OpenModule) and its file is the same file, unchanged since (device, inode, size and
  // change time, which only the kernel sets). Refreshes the LRU position like OpenModule.
  // NOT_FOUND otherwise: the caller opens the module instead. For answers about an artifact
  // (the Compile RPC's cache hit), not for running it: OpenModule authenticates what runs.
  // (File times tick coarsely, a few ms: a change within the tick of the recorded one goes
  // unseen here, and is caught when the module is opened.)
  absl::Status Probe(std::string_view digest) const;
  // Drops an entry (e.g. one that failed validation) so it is rebuilt.
  void Remove(std::string_view digest) const;

  // While the returned handle (or a copy) lives, the digest's artifact is never evicted. Pins
  // count: two loaded modules with the same artifact hold two.
  using Pin = std::shared_ptr<const void>;
  Pin PinArtifact(std::string_view digest) const;

  // Most recently used first.
  std::vector<ArtifactInfo> List() const;
  ArtifactStoreStats Stats() const;
  // Evicts the given digests, or every unpinned entry when `digests` is empty and `all` is set.
  // Pinned entries and unknown digests are reported as skipped.
  EvictionResult Evict(const std::vector<std::string>& digests, bool all = false) const;

  struct State;

 private:
  explicit ArtifactStore(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// "sha256:<hex>" of a whole module file, as sent by GetArtifact.
std::string FileDigest(std::span<const uint8_t> bytes);

}  // namespace kiln

#endif  // KILN_ARTIFACT_CACHE_ARTIFACT_STORE_H_
