// A loaded executable library: the code of one ExecutableDef, with its validated ABI struct.
#ifndef KILN_RUNTIME_SERVICE_LOADER_EXECUTABLE_LIBRARY_H_
#define KILN_RUNTIME_SERVICE_LOADER_EXECUTABLE_LIBRARY_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/executable_abi.h"

namespace kiln {

class ExecutableLibrary {
 public:
  virtual ~ExecutableLibrary() = default;
  const kiln_library_t& library() const { return *library_; }
  const kiln_executable_env_t& env() const { return env_; }
  const kiln_export_t& export_at(uint32_t ordinal) const { return library_->exports[ordinal]; }
  uint32_t export_count() const { return library_->export_count; }

 protected:
  ExecutableLibrary() = default;
  // Checks the query result against the ABI version, the host CPU's features and the
  // module's ExecutableDef (export names in order). Sets library_ on success.
  absl::Status Validate(const kiln_library_t* library, const kiln::module::v1::ExecutableDef& def,
                        uint64_t host_features);

  const kiln_library_t* library_ = nullptr;
  kiln_executable_env_t env_{KILN_EXECUTABLE_ABI_VERSION, 0, nullptr};
};

// Loads a system-library (.so) executable from memory: memfd_create + dlopen of
// /proc/self/fd/N, no temp files. `host_features` is normally HostCpuFeatures(); tests pass
// less to exercise the missing-feature error.
absl::StatusOr<std::unique_ptr<ExecutableLibrary>> LoadSystemLibrary(
    std::span<const uint8_t> image, const kiln::module::v1::ExecutableDef& def,
    uint64_t host_features);

// What LoadSystemLibrary checks before the dynamic linker sees an image: the ELF header (64-bit,
// little-endian, shared object, this host's machine) and that every program header's file
// range lies in the image. `prefix` starts the error messages ("executable 'name'").
absl::Status CheckSystemLibraryImage(std::span<const uint8_t> image, const std::string& prefix);

// Loads an embedded-ELF executable (a freestanding x86-64 shared object) with kiln's own
// loader (elf_loader.cc): no dlopen, no files; every undefined symbol is an error.
absl::StatusOr<std::unique_ptr<ExecutableLibrary>> LoadEmbeddedElf(
    std::span<const uint8_t> image, const kiln::module::v1::ExecutableDef& def,
    uint64_t host_features);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_LOADER_EXECUTABLE_LIBRARY_H_
