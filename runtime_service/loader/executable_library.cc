#include "runtime_service/loader/executable_library.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime_service/loader/cpu_features.h"

namespace kiln {

constexpr uint32_t kKnownBindingFlags = KILN_BINDING_FLAG_WRITTEN | KILN_BINDING_FLAG_READ;

absl::Status ExecutableLibrary::Validate(const kiln_library_t* library,
                                         const kiln::module::v1::ExecutableDef& def,
                                         uint64_t host_features) {
  const std::string prefix = absl::StrCat("executable '", def.name(), "'");
  if (library == nullptr)
    return absl::InvalidArgumentError(absl::StrCat(prefix, " returned no library struct"));
  // The version comes first: under another version the rest of the struct may be laid out
  // differently, so nothing else may be read.
  if (library->abi_version != KILN_EXECUTABLE_ABI_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, " was built for executable ABI version ", library->abi_version,
                     "; this runtime supports version ", KILN_EXECUTABLE_ABI_VERSION));
  }
  if (library->name == nullptr)
    return absl::InvalidArgumentError(absl::StrCat(prefix, " has a library struct with no name"));
  if (library->exports == nullptr && library->export_count != 0)
    return absl::InvalidArgumentError(absl::StrCat(prefix, " has no export table"));

  // Checked before the exports are compared so that a module built for a newer CPU gets the
  // message that explains it.
  const uint64_t missing = library->required_cpu_features & ~host_features;
  if (missing != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        prefix, " requires CPU features ", CpuFeatureNames(missing), " that this CPU lacks"));
  }

  if (library->export_count != static_cast<uint32_t>(def.exports_size())) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, " has ", library->export_count,
                                                   " exports but the module lists ",
                                                   def.exports_size()));
  }
  for (uint32_t i = 0; i < library->export_count; ++i) {
    const kiln_export_t& entry = library->exports[i];
    if (entry.name == nullptr || def.exports(i) != entry.name) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, " export ", i, " is '", entry.name ? entry.name : "<null>",
                       "' but the module expects '", def.exports(i), "'"));
    }
    if (entry.fn == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, " export '", entry.name, "' has no function"));
    }
    // The declarations the program checker holds every dispatch to (ABI v2).
    if (entry.bindings == nullptr && entry.binding_count != 0) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, " export '", entry.name,
                                                     "' declares none of its ", entry.binding_count,
                                                     " bindings"));
    }
    for (uint32_t b = 0; b < entry.binding_count; ++b) {
      if ((entry.bindings[b].flags & ~kKnownBindingFlags) != 0) {
        return absl::InvalidArgumentError(absl::StrCat(prefix, " export '", entry.name,
                                                       "' binding ", b, " has unknown flags 0x",
                                                       absl::Hex(entry.bindings[b].flags)));
      }
    }
  }

  // No import thunks exist yet; a library that needs one cannot run here.
  if (library->import_count != 0) {
    std::string name = "<unnamed>";
    if (library->imports != nullptr && library->imports[0].name != nullptr)
      name = library->imports[0].name;
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, " imports '", name, "' (", library->import_count,
                     " imports in all) but this runtime provides no imports"));
  }

  library_ = library;
  return absl::OkStatus();
}

}  // namespace kiln
