// Start-up loading of a model directory: DIR/<model>/<version>/model.mlir, the highest numeric
// version of each model is compiled through the artifact cache and loaded under <model>.
#ifndef KILN_SERVER_MODEL_REPOSITORY_H_
#define KILN_SERVER_MODEL_REPOSITORY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler_service/service/compiler_service.h"
#include "runtime_service/service/runtime_service.h"

namespace kiln {

struct ModelSource {
  std::string name;     // <model>
  std::string version;  // <version>
  std::string path;     // .../model.mlir
};

// The models under `dir`, sorted by name. A model directory without a usable version is
// skipped with a warning.
absl::StatusOr<std::vector<ModelSource>> ScanModelDirectory(const std::string& dir);

// Compiles and loads every model; one that fails is logged and the others still load.
// Returns the number loaded.
int LoadModelDirectory(const std::string& dir, CompilerServiceImpl& compiler,
                       RuntimeServiceImpl& runtime);

}  // namespace kiln

#endif  // KILN_SERVER_MODEL_REPOSITORY_H_
