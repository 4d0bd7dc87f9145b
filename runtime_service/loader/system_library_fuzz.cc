// Fuzzes what kiln checks of a system-library executable without dlopen'ing attacker bytes
// (which would run their initializers):
// - even first byte: CheckSystemLibraryImage on the rest, the gate before the dynamic linker. Its
//   promise, checked here: an accepted image has a whole ELF header and program header table,
//   and every segment's file bytes lie inside it.
// - odd first byte: ExecutableLibrary::Validate, the checks of the library struct the query
//   function returns, on a struct built from the rest (ABI version, name, CPU features, export
//   and import tables, all well-formed memory as a loaded library's would be) against an
//   ExecutableDef and host features from the rest too. The verdict is compared with the ABI's
//   rules stated independently below.
#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/executable_abi.h"
#include "runtime_service/loader/executable_library.h"
#include "runtime_service/testing/fuzzing.h"

namespace kiln {
namespace {

// Exposes the protected validation.
class FuzzLibrary : public ExecutableLibrary {
 public:
  absl::Status Check(const kiln_library_t* library, const kiln::module::v1::ExecutableDef& def,
                     uint64_t host_features) {
    return Validate(library, def, host_features);
  }
};

int Dispatch(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
             const kiln_workgroup_state_t*) {
  return 0;
}

void FuzzImageCheck(std::span<const uint8_t> image) {
  if (!CheckSystemLibraryImage(image, "executable 'fuzz'").ok()) return;
  KILN_FUZZ_CHECK(image.size() >= sizeof(Elf64_Ehdr));
  Elf64_Ehdr header;
  std::memcpy(&header, image.data(), sizeof(header));
  KILN_FUZZ_CHECK(header.e_type == ET_DYN && header.e_phentsize == sizeof(Elf64_Phdr));
  KILN_FUZZ_CHECK(header.e_phoff <= image.size() &&
                  uint64_t{header.e_phnum} * sizeof(Elf64_Phdr) <= image.size() - header.e_phoff);
  for (uint16_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr phdr;
    std::memcpy(&phdr, image.data() + header.e_phoff + i * sizeof(Elf64_Phdr), sizeof(phdr));
    if (phdr.p_type == PT_NULL) continue;
    KILN_FUZZ_CHECK(phdr.p_offset <= image.size() && phdr.p_filesz <= image.size() - phdr.p_offset);
  }
}

void FuzzStructCheck(fuzzing::FuzzInput& input) {
  // Storage that outlives the struct; deques keep element addresses stable.
  std::deque<std::string> strings;
  auto text = [&](size_t max_length) -> const char* {
    if (input.Bool()) return nullptr;
    return strings.emplace_back(input.String(max_length)).c_str();
  };

  kiln_library_t library{};
  library.abi_version = input.Bool() ? KILN_EXECUTABLE_ABI_VERSION : input.Integer<uint32_t>();
  library.flags = input.Integer<uint8_t>();
  library.name = text(16);
  library.required_cpu_features = input.Bool() ? 0 : input.Integer<uint64_t>();
  library.export_count = input.Integer<uint8_t>() % 8;
  std::vector<kiln_export_t> exports(library.export_count);
  std::deque<std::vector<kiln_binding_t>> bindings;
  for (kiln_export_t& entry : exports) {
    entry.name = text(16);
    entry.fn = input.Bool() ? nullptr : &Dispatch;
    entry.binding_count = input.Integer<uint8_t>();
    entry.constant_count = input.Integer<uint8_t>();
    if (!input.Bool()) {
      std::vector<kiln_binding_t>& table = bindings.emplace_back(entry.binding_count);
      for (kiln_binding_t& binding : table) binding.flags = input.Integer<uint8_t>() % 8;
      entry.bindings = table.data();
    }
  }
  library.exports = input.Bool() ? nullptr : exports.data();
  library.import_count = input.Bool() ? 0 : input.Integer<uint8_t>() % 4;
  std::vector<kiln_import_t> imports(library.import_count);
  for (kiln_import_t& entry : imports) entry.name = text(16);
  library.imports = input.Bool() ? nullptr : imports.data();

  kiln::module::v1::ExecutableDef def;
  def.set_name(input.String(16));
  const int def_exports = input.Integer<uint8_t>() % 8;
  for (int i = 0; i < def_exports; ++i) {
    // Mostly the struct's own names, so that the checks past the name comparison are reached.
    const bool same = input.Bool() && static_cast<uint32_t>(i) < library.export_count &&
                      exports[i].name != nullptr;
    def.add_exports(same ? std::string(exports[i].name) : input.String(16));
  }
  const uint64_t host_features = input.Bool() ? ~uint64_t{0} : input.Integer<uint64_t>();

  // The ABI's rules (executable_library.h, executable_abi.h).
  std::optional<absl::StatusCode> expected;
  auto fail = [&](absl::StatusCode code) {
    if (!expected) expected = code;
  };
  if (library.abi_version != KILN_EXECUTABLE_ABI_VERSION) {
    fail(absl::StatusCode::kFailedPrecondition);
  } else {
    if (library.name == nullptr) fail(absl::StatusCode::kInvalidArgument);
    if (library.exports == nullptr && library.export_count != 0)
      fail(absl::StatusCode::kInvalidArgument);
    if ((library.required_cpu_features & ~host_features) != 0)
      fail(absl::StatusCode::kFailedPrecondition);
    if (library.export_count != static_cast<uint32_t>(def.exports_size()))
      fail(absl::StatusCode::kInvalidArgument);
    for (uint32_t i = 0; !expected && i < library.export_count; ++i) {
      const kiln_export_t& entry = exports[i];
      if (entry.name == nullptr || def.exports(static_cast<int>(i)) != entry.name ||
          entry.fn == nullptr || (entry.bindings == nullptr && entry.binding_count != 0))
        fail(absl::StatusCode::kInvalidArgument);
      for (uint32_t b = 0; entry.bindings != nullptr && b < entry.binding_count; ++b)
        if (entry.bindings[b].flags & ~uint32_t{KILN_BINDING_FLAG_WRITTEN | KILN_BINDING_FLAG_READ})
          fail(absl::StatusCode::kInvalidArgument);
    }
    if (library.import_count != 0) fail(absl::StatusCode::kFailedPrecondition);
  }

  FuzzLibrary checked;
  const absl::Status status = checked.Check(&library, def, host_features);
  if (expected.has_value()) {
    KILN_FUZZ_CHECK(status.code() == *expected);
  } else {
    KILN_FUZZ_CHECK(status.ok());
    KILN_FUZZ_CHECK(&checked.library() == &library);
    KILN_FUZZ_CHECK(checked.export_count() == library.export_count);
  }
}

}  // namespace
}  // namespace kiln

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzzing::FuzzInput input(data, size);
  if (input.Integer<uint8_t>() % 2 == 0) {
    kiln::FuzzImageCheck(input.Rest());
  } else {
    kiln::FuzzStructCheck(input);
  }
  return 0;
}
