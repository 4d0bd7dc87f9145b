#include "runtime_service/loader/executable_loader.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;

// A loader that is one of the loading functions of executable_library.h.
class FunctionLoader final : public ExecutableLoader {
 public:
  using LoadFunction = absl::StatusOr<std::unique_ptr<ExecutableLibrary>> (*)(
      std::span<const uint8_t>, const mv1::ExecutableDef&, uint64_t);

  FunctionLoader(mv1::ExecutableFormat format, std::string_view name, LoadFunction load)
      : format_(format), name_(name), load_(load) {}
  mv1::ExecutableFormat format() const override { return format_; }
  std::string_view name() const override { return name_; }
  absl::StatusOr<std::unique_ptr<ExecutableLibrary>> Load(std::span<const uint8_t> image,
                                                          const mv1::ExecutableDef& def,
                                                          uint64_t host_features) const override {
    return load_(image, def, host_features);
  }

 private:
  const mv1::ExecutableFormat format_;
  const std::string_view name_;
  const LoadFunction load_;
};

}  // namespace

const ExecutableLoaderRegistry& ExecutableLoaderRegistry::Default() {
  static const ExecutableLoaderRegistry* registry = [] {
    auto* made = new ExecutableLoaderRegistry();  // never destroyed: used until exit
    (void)made->Register(std::make_unique<FunctionLoader>(mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY,
                                                          "system-library", &LoadSystemLibrary));
    (void)made->Register(std::make_unique<FunctionLoader>(mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF,
                                                          "embedded-elf", &LoadEmbeddedElf));
    return made;
  }();
  return *registry;
}

absl::Status ExecutableLoaderRegistry::Register(std::unique_ptr<ExecutableLoader> loader) {
  if (Find(loader->format()) != nullptr)
    return absl::AlreadyExistsError(absl::StrCat("a loader of executable format ",
                                                 static_cast<int>(loader->format()),
                                                 " is registered already"));
  loaders_.push_back(std::move(loader));
  return absl::OkStatus();
}

const ExecutableLoader* ExecutableLoaderRegistry::Find(mv1::ExecutableFormat format) const {
  for (const auto& loader : loaders_)
    if (loader->format() == format) return loader.get();
  return nullptr;
}

std::vector<const ExecutableLoader*> ExecutableLoaderRegistry::loaders() const {
  std::vector<const ExecutableLoader*> all;
  all.reserve(loaders_.size());
  for (const auto& loader : loaders_) all.push_back(loader.get());
  return all;
}

std::string ExecutableLoaderRegistry::Names() const {
  std::string names;
  for (const auto& loader : loaders_) {
    if (!names.empty()) names += ", ";
    names += loader->name();
  }
  return names;
}

}  // namespace kiln
