// The embedded-ELF executable loader: kiln's own loader for freestanding x86-64 ELF shared
// objects, mapped from memory without the system's dynamic linker (no dlopen, no files).
//
// Only what a freestanding dispatch library needs is supported: ET_DYN, PT_LOAD segments with
// their own protections (never writable and executable), RELA relocations of the types
// RELATIVE, 64, GLOB_DAT and JUMP_SLOT, and PT_GNU_RELRO. Every header, table, offset and
// relocation target is bounds-checked before it is used; anything else is an error that says
// what was found.
#ifndef KILN_RUNTIME_SERVICE_LOADER_ELF_LOADER_H_
#define KILN_RUNTIME_SERVICE_LOADER_ELF_LOADER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime_service/loader/executable_library.h"

namespace kiln {

class EmbeddedElfLibrary final : public ExecutableLibrary {
 public:
  // LoadEmbeddedElf, returning the concrete type so that tests can inspect the mapping.
  static absl::StatusOr<std::unique_ptr<EmbeddedElfLibrary>> Load(
      std::span<const uint8_t> image, const kiln::module::v1::ExecutableDef& def,
      uint64_t host_features);

  // Load without running any code of the image, for fuzzing, where the code is arbitrary bytes:
  // every step is the same except that instead of calling the query function, `stand_in` is
  // given the mapped image and returns the library struct pointer to check in its place.
  using QueryStandIn = std::function<const kiln_library_t*(std::span<const uint8_t> mapping)>;
  static absl::StatusOr<std::unique_ptr<EmbeddedElfLibrary>> LoadWithoutRunning(
      std::span<const uint8_t> image, const kiln::module::v1::ExecutableDef& def,
      uint64_t host_features, const QueryStandIn& stand_in);

  ~EmbeddedElfLibrary() override;
  EmbeddedElfLibrary(const EmbeddedElfLibrary&) = delete;
  EmbeddedElfLibrary& operator=(const EmbeddedElfLibrary&) = delete;

  // The whole reserved address range; gaps between segments stay inaccessible.
  std::span<const uint8_t> mapping() const { return {mapping_, mapping_size_}; }
  // The PT_GNU_RELRO pages, read-only after relocation; empty when the image has none.
  std::span<const uint8_t> relro() const { return {relro_, relro_size_}; }

 private:
  EmbeddedElfLibrary() = default;
  // `stand_in` replaces the query call when set (LoadWithoutRunning).
  absl::Status LoadImage(std::span<const uint8_t> image, const kiln::module::v1::ExecutableDef& def,
                         uint64_t host_features, const QueryStandIn* stand_in);

  uint8_t* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  const uint8_t* relro_ = nullptr;
  size_t relro_size_ = 0;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_LOADER_ELF_LOADER_H_
