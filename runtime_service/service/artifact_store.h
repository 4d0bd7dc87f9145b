// The on-disk artifact store: module files keyed by their "sha256:<hex>" artifact digest.
// Writes are atomic (temp file + rename), so a crash never leaves a partial module under a
// digest; readers validate every module anyway (ModuleFile checks each segment's SHA-256).
#ifndef KILN_RUNTIME_SERVICE_SERVICE_ARTIFACT_STORE_H_
#define KILN_RUNTIME_SERVICE_SERVICE_ARTIFACT_STORE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln {

class ArtifactStore {
 public:
  // Creates `root` (and parents) if needed.
  static absl::StatusOr<ArtifactStore> Open(std::string root);

  const std::string& root() const { return root_; }
  // INVALID_ARGUMENT for a malformed digest.
  absl::StatusOr<std::string> PathFor(std::string_view digest) const;
  bool Contains(std::string_view digest) const;
  absl::Status Put(std::string_view digest, std::string_view bytes) const;
  // Drops an entry (e.g. one that failed validation) so it is rebuilt.
  void Remove(std::string_view digest) const;

 private:
  explicit ArtifactStore(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_SERVICE_ARTIFACT_STORE_H_
