// The model repository: DIR/<model>/<version>/model.mlir (or model.tosa.mlir, or model.onnx)
// with an optional DIR/<model>/config.json. The highest numeric version of a model is compiled
// through the artifact cache and loaded under <model>, at start-up or on request (KServe
// RepositoryModelLoad); each model has a state (READY / LOADING / UNAVAILABLE with a reason),
// and one that fails never keeps the others from serving.
#ifndef KILN_SERVER_MODEL_REPOSITORY_H_
#define KILN_SERVER_MODEL_REPOSITORY_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler_service/service/compile_cache.h"
#include "runtime_service/service/model_manager.h"
#include "runtime_service/tensor/input_shape.h"
#include "server/batched_model.h"

namespace kiln {

struct ModelSource {
  std::string name;     // <model>
  std::string version;  // <version>
  // .../model.mlir, .../model.tosa.mlir or .../model.onnx. A version directory holding more
  // than one is served from the first of that order (an existing model.mlir keeps serving
  // when an ONNX original is dropped next to it); the others are listed in `ignored`.
  std::string path;
  std::vector<std::string> ignored;
  std::string config_path;  // DIR/<model>/config.json, empty when absent
};

// The models under `dir`, sorted by name. A model directory without a usable version is listed
// with empty `version` and `path` (the repository reports it UNAVAILABLE).
absl::StatusOr<std::vector<ModelSource>> ScanModelDirectory(const std::string& dir);

// DIR/<model>/config.json. Every key is optional; unknown keys are errors (typos must not be
// silently ignored):
//   "name":             must equal the directory name
//   "execution_model":  "auto" (default) | "async" | "inline-dynamic"
//   "max_queue_size":   requests queued or running for this model at once (0: server default)
//   "workers":          worker threads of the model's own (0: the shared pool)
//   "max_batch_size":   0 (default): the model's shapes are served as they are; N > 0: the
//                       program's dynamic leading (batch) dim is served for every batch 1..N
//                       (BatchedModel: one module per batch bucket, compiled on first use)
//   "dynamic_batching": {"preferred_batch_size": [4, 8], "max_queue_delay_microseconds": 100}
//                       (both optional; needs max_batch_size): concurrent requests are merged
//   "input_shapes":     model.onnx only: {"input": [1, 3, 224, 224], ...}, the full static shape
//                       of each graph input declared with dynamic dims (positive integers)
struct ModelConfig {
  kiln::module::v1::ExecutionModel execution_model = kiln::module::v1::EXECUTION_MODEL_UNSPECIFIED;
  size_t max_queue_size = 0;
  int workers = 0;
  InputShapes input_shapes;
  int64_t max_batch_size = 0;
  bool dynamic_batching = false;
  std::vector<int64_t> preferred_batch_sizes;  // sorted, unique
  int64_t max_queue_delay_us = 0;
};
// INVALID_ARGUMENT naming the key for malformed or invalid configs.
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view text, const std::string& model);

enum class ModelState { kUnavailable, kLoading, kReady };
std::string_view ModelStateName(ModelState state);  // "UNAVAILABLE", "LOADING", "READY"

struct ModelStatus {
  std::string name;
  std::string version;  // the served (or last tried) version; empty for modules loaded by digest
  ModelState state = ModelState::kUnavailable;
  std::string reason;          // why it is not READY
  bool in_repository = false;  // false: loaded through the RuntimeService by digest
};

class ModelRepository {
 public:
  // `dir` may be empty: no repository, only modules loaded by digest are listed.
  ModelRepository(std::string dir, CompileCache& compiles, ModelManager& runtime);

  const std::string& dir() const { return dir_; }

  // Loads every model of the directory, `parallelism` at a time (each model is READY as soon as
  // its own load finishes); returns how many are READY.
  int LoadAll(int parallelism = 1);
  // Compiles and loads (or reloads, swapping in place) the model's highest version. NOT_FOUND
  // when the repository has no such model; the compile or config error otherwise (the model is
  // then UNAVAILABLE with that reason, unless an earlier load still serves).
  absl::Status Load(const std::string& name);
  // Unloads a repository model (idempotent) or a module loaded by digest; NOT_FOUND when
  // neither exists.
  absl::Status Unload(const std::string& name);

  // Every model in the directory plus every module loaded by digest, sorted by name. READY
  // means loaded right now (a module unloaded through the RuntimeService is not).
  std::vector<ModelStatus> Index() const;
  // One model's status; nullopt when neither the directory nor the runtime knows it.
  std::optional<ModelStatus> Find(const std::string& name) const;
  // The repository version of the module loaded as `name` with `digest`; empty for a module
  // the repository did not load. Cheap (no disk access): for the inference path.
  std::string ServedVersion(const std::string& name, const std::string& digest) const;
  // The batched model (config.json max_batch_size) serving `name` as the module `digest`; null
  // for every other model.
  std::shared_ptr<BatchedModel> Batched(const std::string& name, const std::string& digest) const;

 private:
  struct Record {
    std::string version;
    ModelState state = ModelState::kUnavailable;
    std::string reason;
    std::string digest;  // of the loaded module, for telling ours from a replacement
    std::shared_ptr<BatchedModel> batched;  // when the model has a max_batch_size
  };
  absl::StatusOr<ModelSource> FindSource(const std::string& name) const;
  absl::Status LoadSource(const ModelSource& source);
  ModelStatus StatusOf(const std::string& name, const Record* record, bool is_loaded,
                       bool in_repository) const;
  void SetRecord(const std::string& name, Record record);

  const std::string dir_;
  CompileCache& compiles_;
  ModelManager& runtime_;
  std::mutex load_mutex_;  // one load or unload at a time: a reload must not race an unload
  mutable std::mutex mutex_;
  std::map<std::string, Record> records_;
};

}  // namespace kiln

#endif  // KILN_SERVER_MODEL_REPOSITORY_H_
