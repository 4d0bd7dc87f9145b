// Loaders of executable formats behind one interface, found by format in a registry: the
// runtime asks the registry, never switches on the format itself, and the loader conformance
// suite (executable_loader_test.cc) runs against every registered loader.
#ifndef KILN_RUNTIME_SERVICE_LOADER_EXECUTABLE_LOADER_H_
#define KILN_RUNTIME_SERVICE_LOADER_EXECUTABLE_LOADER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/loader/executable_library.h"

namespace kiln {

class ExecutableLoader {
 public:
  virtual ~ExecutableLoader() = default;
  virtual kiln::module::v1::ExecutableFormat format() const = 0;
  // "system-library", "embedded-elf": the format's name in errors and listings.
  virtual std::string_view name() const = 0;
  // Loads one executable's image (a module segment) for `def`; INVALID_ARGUMENT or
  // FAILED_PRECONDITION for an image or host it cannot load, never a crash.
  virtual absl::StatusOr<std::unique_ptr<ExecutableLibrary>> Load(
      std::span<const uint8_t> image, const kiln::module::v1::ExecutableDef& def,
      uint64_t host_features) const = 0;
};

class ExecutableLoaderRegistry {
 public:
  // The loaders this build has: system libraries (dlopen) and embedded ELF (kiln's own loader).
  static const ExecutableLoaderRegistry& Default();

  // ALREADY_EXISTS when a loader of that format is registered already.
  absl::Status Register(std::unique_ptr<ExecutableLoader> loader);
  // Null when no loader takes `format`.
  const ExecutableLoader* Find(kiln::module::v1::ExecutableFormat format) const;
  std::vector<const ExecutableLoader*> loaders() const;
  // "system-library, embedded-elf": for errors that say what this build can load.
  std::string Names() const;

 private:
  std::vector<std::unique_ptr<ExecutableLoader>> loaders_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_LOADER_EXECUTABLE_LOADER_H_
