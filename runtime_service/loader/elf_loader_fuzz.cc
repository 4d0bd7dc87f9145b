// Fuzzes the embedded-ELF loader (LoadEmbeddedElf's checks, mapping and relocation) without
// ever running the image's code: EmbeddedElfLibrary::LoadWithoutRunning stands in for the query
// function, returning a library struct pointer chosen by the input, which then goes through the
// loader's pointer checks and the ABI validation as a real one would.
//
// Input: [u32 LE: struct offset in the mapping, modulo its size + 4096 so that most offsets land
//         inside and some just past it; 0xffffffff: the query returns NULL]
//        [u8: export count % 9][that many names: u8 length, bytes] (the module's export list)
//        [the rest: the ELF image]
// Invariants of a successful load: the struct, its export table, export names and functions
// all lie in the mapping, and the exports are the ones the module lists.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/executable_abi.h"
#include "runtime_service/loader/elf_loader.h"
#include "runtime_service/testing/fuzzing.h"

namespace {

bool Inside(std::span<const uint8_t> mapping, const void* pointer, size_t size) {
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  const auto base = reinterpret_cast<uintptr_t>(mapping.data());
  return address >= base && address - base <= mapping.size() &&
         size <= mapping.size() - (address - base);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  fuzzing::FuzzInput input(data, size);
  const uint32_t struct_offset = input.Integer<uint32_t>();
  kiln::module::v1::ExecutableDef def;
  def.set_name("fuzz");
  def.set_format(kiln::module::v1::EXECUTABLE_FORMAT_EMBEDDED_ELF);
  const int export_count = input.Integer<uint8_t>() % 9;
  for (int i = 0; i < export_count; ++i) def.add_exports(input.String(32));
  const std::span<const uint8_t> image = input.Rest();

  auto stand_in = [struct_offset](std::span<const uint8_t> mapping) -> const kiln_library_t* {
    if (struct_offset == UINT32_MAX) return nullptr;
    // Integer arithmetic: the offset may point past the mapping, which the loader must catch.
    const uint64_t offset = struct_offset % (mapping.size() + 4096);
    // NOLINTNEXTLINE(performance-no-int-to-ptr): an arbitrary address on purpose
    return reinterpret_cast<const kiln_library_t*>(reinterpret_cast<uintptr_t>(mapping.data()) +
                                                   offset);
  };
  auto library = EmbeddedElfLibrary::LoadWithoutRunning(image, def, ~uint64_t{0}, stand_in);
  if (!library.ok()) return 0;

  const std::span<const uint8_t> mapping = (*library)->mapping();
  const kiln_library_t& lib = (*library)->library();
  KILN_FUZZ_CHECK(Inside(mapping, &lib, sizeof(lib)));
  KILN_FUZZ_CHECK(lib.abi_version == KILN_EXECUTABLE_ABI_VERSION);
  KILN_FUZZ_CHECK(lib.name != nullptr && Inside(mapping, lib.name, 1));
  KILN_FUZZ_CHECK(lib.export_count == static_cast<uint32_t>(def.exports_size()));
  KILN_FUZZ_CHECK(lib.import_count == 0);
  if (lib.export_count > 0)
    KILN_FUZZ_CHECK(Inside(mapping, lib.exports, lib.export_count * sizeof(kiln_export_t)));
  for (uint32_t i = 0; i < lib.export_count; ++i) {
    const kiln_export_t& entry = (*library)->export_at(i);
    KILN_FUZZ_CHECK(Inside(mapping, entry.name, std::strlen(entry.name) + 1));
    KILN_FUZZ_CHECK(entry.name == def.exports(static_cast<int>(i)));
    KILN_FUZZ_CHECK(Inside(mapping, reinterpret_cast<const void*>(entry.fn), 1));
    if (entry.binding_count > 0) {
      KILN_FUZZ_CHECK(
          Inside(mapping, entry.bindings, uint64_t{entry.binding_count} * sizeof(kiln_binding_t)));
    }
  }
  const std::span<const uint8_t> relro = (*library)->relro();
  KILN_FUZZ_CHECK(relro.empty() || Inside(mapping, relro.data(), relro.size()));
  return 0;
}
