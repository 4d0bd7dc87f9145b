#include "server/model_repository.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler_service/import/onnx/onnx_importer.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace kiln {

namespace fs = std::filesystem;
namespace mv1 = kiln::module::v1;

namespace {

// The largest max_batch_size a config may set: a bucket per power of two keeps this at 17
// modules, and batches beyond it buy nothing on a CPU.
constexpr int64_t kMaxServedBatch = 65536;

bool IsVersion(const std::string& name) {
  return !name.empty() && name.size() < 19 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The model files of a version directory, in the order of preference (see ModelSource::path).
std::vector<std::string> ModelFiles(const fs::path& version_dir) {
  std::vector<std::string> files;
  for (const char* file : {"model.mlir", "model.tosa.mlir", "model.onnx"}) {
    std::error_code ec;
    if (fs::is_regular_file(version_dir / file, ec)) files.push_back((version_dir / file).string());
  }
  return files;
}

// DIR/<name>: the highest version with a model file (path empty when there is none).
ModelSource ScanModel(const fs::path& model_dir) {
  ModelSource source;
  source.name = model_dir.filename().string();
  std::error_code ec;
  for (const fs::directory_entry& version : fs::directory_iterator(model_dir, ec)) {
    std::string v = version.path().filename().string();
    if (!version.is_directory() || !IsVersion(v)) continue;
    std::vector<std::string> files = ModelFiles(version.path());
    if (files.empty()) continue;
    if (source.version.empty() || std::stoll(v) > std::stoll(source.version)) {
      source.version = v;
      source.path = files[0];
      source.ignored.assign(files.begin() + 1, files.end());
    }
  }
  if (fs::is_regular_file(model_dir / "config.json", ec))
    source.config_path = (model_dir / "config.json").string();
  return source;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

absl::StatusOr<std::vector<ModelSource>> ScanModelDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return absl::NotFoundError(absl::StrCat("model directory '", dir, "' does not exist"));
  std::vector<ModelSource> models;
  for (const fs::directory_entry& model : fs::directory_iterator(dir, ec)) {
    if (!model.is_directory() || model.path().filename().string().starts_with(".")) continue;
    models.push_back(ScanModel(model.path()));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot read '", dir, "': ", ec.message()));
  std::sort(models.begin(), models.end(),
            [](const ModelSource& a, const ModelSource& b) { return a.name < b.name; });
  return models;
}

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view text, const std::string& model) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError("config.json is not valid JSON");
  if (!json.is_object()) return absl::InvalidArgumentError("config.json must be a JSON object");
  ModelConfig config;
  auto bad = [](const std::string& key, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: \"", key, "\" ", why));
  };
  // Integers in [0, max]; JSON numbers like 2.0 are not accepted.
  auto integer = [&](const std::string& key, const nlohmann::json& value,
                     int64_t max) -> absl::StatusOr<int64_t> {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > max)
      return bad(key, absl::StrCat("must be an integer from 0 to ", max));
    return value.get<int64_t>();
  };
  for (const auto& [key, value] : json.items()) {
    if (key == "name") {
      if (!value.is_string() || value.get<std::string>() != model)
        return bad(key, absl::StrCat("must be the model directory's name, \"", model, "\""));
    } else if (key == "execution_model") {
      std::string mode = value.is_string() ? value.get<std::string>() : "";
      if (mode == "auto") {
        config.execution_model = mv1::EXECUTION_MODEL_UNSPECIFIED;
      } else if (mode == "async") {
        config.execution_model = mv1::EXECUTION_MODEL_ASYNC;
      } else if (mode == "inline-dynamic") {
        config.execution_model = mv1::EXECUTION_MODEL_INLINE_DYNAMIC;
      } else {
        return bad(key, "must be \"auto\", \"async\" or \"inline-dynamic\"");
      }
    } else if (key == "max_queue_size") {
      auto n = integer(key, value, 1 << 20);
      if (!n.ok()) return n.status();
      config.max_queue_size = static_cast<size_t>(*n);
    } else if (key == "workers") {
      auto n = integer(key, value, 1024);
      if (!n.ok()) return n.status();
      config.workers = static_cast<int>(*n);
    } else if (key == "max_batch_size") {
      auto n = integer(key, value, kMaxServedBatch);
      if (!n.ok()) return n.status();
      config.max_batch_size = *n;
    } else if (key == "dynamic_batching") {
      if (!value.is_object())
        return bad(key,
                   "must be an object, e.g. {\"preferred_batch_size\": [4, 8], "
                   "\"max_queue_delay_microseconds\": 100}");
      config.dynamic_batching = true;
      for (const auto& [field, setting] : value.items()) {
        const std::string what = absl::StrCat("dynamic_batching\": \"", field);
        if (field == "max_queue_delay_microseconds") {
          auto n = integer(what, setting, 10'000'000);
          if (!n.ok()) return n.status();
          config.max_queue_delay_us = *n;
        } else if (field == "preferred_batch_size") {
          bool ok = setting.is_array();
          for (size_t i = 0; ok && i < setting.size(); ++i) {
            ok = setting[i].is_number_integer() && setting[i].get<int64_t>() >= 1 &&
                 setting[i].get<int64_t>() <= kMaxServedBatch;
            if (ok) config.preferred_batch_sizes.push_back(setting[i].get<int64_t>());
          }
          if (!ok) return bad(what, "must be an array of batch sizes (positive integers)");
        } else {
          return bad(what,
                     "is unknown; known keys: preferred_batch_size, max_queue_delay_microseconds");
        }
      }
      std::sort(config.preferred_batch_sizes.begin(), config.preferred_batch_sizes.end());
      config.preferred_batch_sizes.erase(
          std::unique(config.preferred_batch_sizes.begin(), config.preferred_batch_sizes.end()),
          config.preferred_batch_sizes.end());
    } else if (key == "input_shapes") {
      if (!value.is_object())
        return bad(key,
                   "must be an object of input names to dims, e.g. {\"input\": [1, 3, 224, 224]}");
      for (const auto& [input, dims] : value.items()) {
        std::vector<int64_t> shape;
        bool integers = dims.is_array();
        for (size_t i = 0; integers && i < dims.size(); ++i) {
          integers = dims[i].is_number_integer() &&
                     (!dims[i].is_number_unsigned() || dims[i].get<uint64_t>() <= INT64_MAX);
          if (integers) shape.push_back(dims[i].get<int64_t>());
        }
        if (!integers)
          return bad(
              key, absl::StrCat("input '", input,
                                "' must be an array of positive integers, e.g. [1, 3, 224, 224]"));
        if (auto status = CheckInputShape(input, shape); !status.ok())
          return absl::InvalidArgumentError(
              absl::StrCat("config.json: \"", key, "\": ", status.message()));
        config.input_shapes[input] = std::move(shape);
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("config.json: unknown key \"", key,
                       "\"; known keys: name, execution_model, max_queue_size, workers, "
                       "max_batch_size, dynamic_batching, input_shapes"));
    }
  }
  if (config.dynamic_batching && config.max_batch_size == 0)
    return bad("dynamic_batching", "needs a \"max_batch_size\" of at least 1");
  if (!config.preferred_batch_sizes.empty() &&
      config.preferred_batch_sizes.back() > config.max_batch_size)
    return bad("dynamic_batching",
               absl::StrCat("preferred_batch_size ", config.preferred_batch_sizes.back(),
                            " is over the max_batch_size of ", config.max_batch_size));
  return config;
}

std::string_view ModelStateName(ModelState state) {
  switch (state) {
    case ModelState::kReady:
      return "READY";
    case ModelState::kLoading:
      return "LOADING";
    case ModelState::kUnavailable:
      break;
  }
  return "UNAVAILABLE";
}

ModelRepository::ModelRepository(std::string dir, CompileCache& compiles, ModelManager& runtime)
    : dir_(std::move(dir)), compiles_(compiles), runtime_(runtime) {}

int ModelRepository::LoadAll(int parallelism) {
  if (dir_.empty()) return 0;
  auto models = ScanModelDirectory(dir_);
  if (!models.ok()) {
    spdlog::error("{}", std::string(models.status().message()));
    return 0;
  }
  std::atomic<int> ready{0};
  std::atomic<size_t> next{0};
  std::lock_guard<std::mutex> load_lock(load_mutex_);
  // Distinct models only: LoadSource is safe side by side for different names.
  auto load_some = [&] {
    for (size_t i = next++; i < models->size(); i = next++)
      if (LoadSource((*models)[i]).ok()) ++ready;
  };
  const size_t threads = std::min(models->size(), static_cast<size_t>(std::max(1, parallelism)));
  std::vector<std::thread> loaders;
  for (size_t t = 1; t < threads; ++t) loaders.emplace_back(load_some);
  load_some();
  for (std::thread& loader : loaders) loader.join();
  return ready.load();
}

absl::StatusOr<ModelSource> ModelRepository::FindSource(const std::string& name) const {
  std::error_code ec;
  // A name is one directory level: no separators, no "." or "..".
  if (dir_.empty() || name.empty() || name == "." || name == ".." ||
      name.find('/') != std::string::npos || !fs::is_directory(fs::path(dir_) / name, ec)) {
    return absl::NotFoundError(
        dir_.empty() ? absl::StrCat("no model '", name, "': kilnd runs without --model-dir")
                     : absl::StrCat("no model '", name, "' in the repository ", dir_));
  }
  return ScanModel(fs::path(dir_) / name);
}

void ModelRepository::SetRecord(const std::string& name, Record record) {
  std::lock_guard<std::mutex> lock(mutex_);
  records_[name] = std::move(record);
}

absl::Status ModelRepository::LoadSource(const ModelSource& source) {
  const std::string& name = source.name;
  Record previous;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = records_.find(name); it != records_.end()) previous = it->second;
  }
  auto current = runtime_.FindModule(name);
  // A reload that fails leaves the version already serving in place.
  const bool serving =
      current.ok() && previous.state == ModelState::kReady && current->digest == previous.digest;
  // While it loads, a reloaded model still answers with the version that serves.
  SetRecord(name, {serving ? previous.version : source.version, ModelState::kLoading, "",
                   previous.digest, previous.batched});

  auto fail = [&](const absl::Status& status, const std::string& what) {
    std::string message(status.message());
    spdlog::error("model '{}' (version {}) {}: {}", name, source.version, what, message);
    if (serving) {
      SetRecord(name, previous);
    } else {
      SetRecord(name, {source.version, ModelState::kUnavailable, absl::StrCat(what, ": ", message),
                       "", nullptr});
    }
    return absl::Status(status.code(), absl::StrCat("model '", name, "' ", what, ": ", message));
  };

  if (source.path.empty()) {
    return fail(absl::FailedPreconditionError(
                    absl::StrCat("no <version>/model.mlir, <version>/model.tosa.mlir or "
                                 "<version>/model.onnx under ",
                                 dir_, "/", name)),
                "has no version to load");
  }
  for (const std::string& ignored : source.ignored)
    spdlog::warn("model '{}' version {}: serving {}, ignoring {}", name, source.version,
                 source.path, ignored);
  ModelConfig config;
  if (!source.config_path.empty()) {
    auto text = ReadFile(source.config_path);
    if (!text.ok()) return fail(text.status(), "has an unreadable config.json");
    auto parsed = ParseModelConfig(*text, name);
    if (!parsed.ok()) return fail(parsed.status(), "has an invalid config.json");
    config = *parsed;
  }
  auto text = ReadFile(source.path);
  if (!text.ok()) return fail(text.status(), "cannot be read");

  namespace cv1 = kiln::compiler::v1;
  cv1::CompileRequest request;
  if (EndsWith(source.path, ".onnx")) {
    // The artifact digest covers the bytes alone, so external-data files (weights next to the
    // model) are read into the model first: a changed weight file means a new artifact.
    auto inlined = kiln::compiler::onnx_import::InlineExternalData(
        *text, fs::path(source.path).parent_path().string());
    if (!inlined.ok()) return fail(inlined.status(), "failed to compile");
    *text = std::move(*inlined);
    request.set_source_format(cv1::SOURCE_FORMAT_ONNX);
  } else {
    request.set_source_format(EndsWith(source.path, ".tosa.mlir") ? cv1::SOURCE_FORMAT_MLIR_TOSA
                                                                  : cv1::SOURCE_FORMAT_AUTO);
  }
  request.set_source(std::move(*text));
  // Relative to the repository: diagnostics should not show where the server keeps it.
  request.set_source_name(fs::relative(source.path, dir_).string());
  request.mutable_options()->set_execution_model(config.execution_model);
  // For MLIR sources the compiler refuses input shapes (INVALID_ARGUMENT, "failed to compile").
  for (const auto& [input, dims] : config.input_shapes) {
    cv1::InputShape& shape = *request.mutable_options()->add_input_shapes();
    shape.set_name(input);
    shape.mutable_dims()->Add(dims.begin(), dims.end());
  }
  BatchingConfig batching;
  if (config.max_batch_size > 0) {
    batching.max_batch_size = config.max_batch_size;
    batching.preferred_batch_sizes = config.preferred_batch_sizes;
    batching.dynamic = config.dynamic_batching;
    batching.max_queue_delay = std::chrono::microseconds(config.max_queue_delay_us);
    if (config.max_queue_size > 0) batching.max_queued = config.max_queue_size;
    // Loading compiles the smallest batch; the others are compiled when first asked for.
    request.mutable_options()->set_batch_size(BatchBuckets(batching).front());
  }
  auto compiled = compiles_.Compile(request);
  if (!compiled.ok()) return fail(compiled.status(), "failed to compile");

  ModuleServingOptions serving_options;
  serving_options.max_pending = config.max_queue_size;
  serving_options.workers = config.workers;
  serving_options.replace = true;  // a reload swaps in place: no window without the model
  auto info = runtime_.LoadFromStore(compiled->digest(), name, serving_options);
  if (!info.ok()) return fail(info.status(), "failed to load");

  std::shared_ptr<BatchedModel> batched;
  if (batching.max_batch_size > 0) {
    auto base = runtime_.FindModule(name);
    if (!base.ok() || base->digest != compiled->digest())
      return fail(absl::AbortedError("it was replaced while it loaded"), "failed to load");
    // Each other batch compiles the same bytes (kept for the model's life: the file may change
    // on disk, and a batch must never come from another version) through the artifact cache.
    auto bucket_request = std::make_shared<const cv1::CompileRequest>(request);
    ModuleHandle base_handle = *base;
    auto loader = [this, bucket_request,
                   base_handle](int64_t batch) -> absl::StatusOr<ModuleHandle> {
      cv1::CompileRequest bucket = *bucket_request;
      bucket.mutable_options()->set_batch_size(batch);
      auto compiled = compiles_.Compile(bucket);
      if (!compiled.ok()) return compiled.status();
      return runtime_.LoadVariant(compiled->digest(), base_handle);
    };
    auto created = BatchedModel::Create(runtime_, *std::move(base), batching, std::move(loader));
    if (!created.ok()) {
      (void)runtime_.Unload(name);
      return fail(created.status(), "cannot be batched");
    }
    batched = *std::move(created);
  }

  SetRecord(name, {source.version, ModelState::kReady, "", compiled->digest(), batched});
  spdlog::info("serving model '{}' version {} ({}, {})", name, source.version, compiled->digest(),
               compiled->cache_hit() ? "cache hit" : "compiled");
  return absl::OkStatus();
}

absl::Status ModelRepository::Load(const std::string& name) {
  std::lock_guard<std::mutex> load_lock(load_mutex_);
  auto source = FindSource(name);
  if (!source.ok()) return source.status();
  return LoadSource(*source);
}

absl::Status ModelRepository::Unload(const std::string& name) {
  std::lock_guard<std::mutex> load_lock(load_mutex_);
  bool known = FindSource(name).ok();
  std::string version;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = records_.find(name); it != records_.end()) {
      known = true;
      version = it->second.version;
    }
  }
  absl::Status unloaded = runtime_.Unload(name);
  if (!known) return unloaded;  // a module loaded by digest, or NOT_FOUND
  SetRecord(name, {version, ModelState::kUnavailable, "unloaded", "", nullptr});
  return absl::OkStatus();  // unloading a repository model that is not loaded is a no-op
}

ModelStatus ModelRepository::StatusOf(const std::string& name, const Record* record, bool is_loaded,
                                      bool in_repository) const {
  ModelStatus status;
  status.name = name;
  status.in_repository = in_repository;
  if (record != nullptr) status.version = record->version;
  if (is_loaded) {
    status.state = ModelState::kReady;
  } else if (record != nullptr && record->state == ModelState::kLoading) {
    status.state = ModelState::kLoading;
  } else {
    status.state = ModelState::kUnavailable;
    status.reason = record == nullptr        ? "not loaded"
                    : record->reason.empty() ? "unloaded"
                                             : record->reason;
  }
  return status;
}

std::vector<ModelStatus> ModelRepository::Index() const {
  std::set<std::string> loaded;
  for (const ModuleHandle& module : runtime_.Modules()) loaded.insert(module.name);
  std::map<std::string, ModelSource> on_disk;
  if (!dir_.empty()) {
    auto models = ScanModelDirectory(dir_);
    if (models.ok())
      for (ModelSource& model : *models) on_disk.emplace(model.name, std::move(model));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::set<std::string> names;
  for (const auto& [name, unused] : on_disk) names.insert(name);
  for (const auto& [name, unused] : records_) names.insert(name);
  names.insert(loaded.begin(), loaded.end());
  std::vector<ModelStatus> index;
  for (const std::string& name : names) {
    auto record = records_.find(name);
    auto disk = on_disk.find(name);
    const bool in_repository = record != records_.end() || disk != on_disk.end();
    ModelStatus status = StatusOf(name, record == records_.end() ? nullptr : &record->second,
                                  loaded.count(name) > 0, in_repository);
    if (status.version.empty() && disk != on_disk.end()) status.version = disk->second.version;
    index.push_back(std::move(status));
  }
  return index;
}

std::optional<ModelStatus> ModelRepository::Find(const std::string& name) const {
  const bool is_loaded = runtime_.FindModule(name).ok();
  auto source = FindSource(name);
  std::lock_guard<std::mutex> lock(mutex_);
  auto record = records_.find(name);
  const bool in_repository = record != records_.end() || source.ok();
  if (!in_repository && !is_loaded) return std::nullopt;
  ModelStatus status = StatusOf(name, record == records_.end() ? nullptr : &record->second,
                                is_loaded, in_repository);
  if (status.version.empty() && source.ok()) status.version = source->version;
  return status;
}

std::shared_ptr<BatchedModel> ModelRepository::Batched(const std::string& name,
                                                       const std::string& digest) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = records_.find(name);
  if (it == records_.end() || it->second.digest != digest) return nullptr;
  return it->second.batched;
}

std::string ModelRepository::ServedVersion(const std::string& name,
                                           const std::string& digest) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = records_.find(name);
  if (it == records_.end() || it->second.digest != digest) return "";
  return it->second.version;
}

}  // namespace kiln
