#include "server/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace fs = std::filesystem;

namespace {

bool IsVersion(const std::string& name) {
  return !name.empty() && name.size() < 19 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

absl::StatusOr<std::vector<ModelSource>> ScanModelDirectory(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return absl::NotFoundError(absl::StrCat("model directory '", dir, "' does not exist"));
  std::vector<ModelSource> models;
  for (const fs::directory_entry& model : fs::directory_iterator(dir, ec)) {
    if (!model.is_directory()) continue;
    std::string best;
    for (const fs::directory_entry& version : fs::directory_iterator(model.path(), ec)) {
      std::string v = version.path().filename().string();
      if (!version.is_directory() || !IsVersion(v)) continue;
      if (!fs::exists(version.path() / "model.mlir")) continue;
      if (best.empty() || std::stoll(v) > std::stoll(best)) best = v;
    }
    std::string name = model.path().filename().string();
    if (best.empty()) {
      spdlog::warn("model '{}': no <version>/model.mlir under {}", name, model.path().string());
      continue;
    }
    models.push_back({name, best, (model.path() / best / "model.mlir").string()});
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot read '", dir, "': ", ec.message()));
  std::sort(models.begin(), models.end(),
            [](const ModelSource& a, const ModelSource& b) { return a.name < b.name; });
  return models;
}

int LoadModelDirectory(const std::string& dir, CompilerServiceImpl& compiler,
                       RuntimeServiceImpl& runtime) {
  auto models = ScanModelDirectory(dir);
  if (!models.ok()) {
    spdlog::error("{}", std::string(models.status().message()));
    return 0;
  }
  int loaded = 0;
  for (const ModelSource& model : *models) {
    std::ifstream in(model.path, std::ios::binary);
    std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    kiln::compiler::v1::CompileRequest request;
    request.set_source(std::move(source));
    request.set_source_name(model.path);
    auto compiled = compiler.CompileToStore(request);
    if (!compiled.ok()) {
      spdlog::error("model '{}' (version {}) failed to compile: {}", model.name, model.version,
                    std::string(compiled.status().message()));
      continue;
    }
    auto info = runtime.LoadFromStore(compiled->digest(), model.name);
    if (!info.ok()) {
      spdlog::error("model '{}' (version {}) failed to load: {}", model.name, model.version,
                    std::string(info.status().message()));
      continue;
    }
    spdlog::info("serving model '{}' version {} ({}, {})", model.name, model.version,
                 compiled->digest(), compiled->cache_hit() ? "cache hit" : "compiled");
    ++loaded;
  }
  return loaded;
}

}  // namespace kiln
