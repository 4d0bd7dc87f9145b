// Fuzzes the module reader (ModuleFile::FromBytes: header, ModuleDef, segment bounds, hashes
// and tables) and, for modules that pass, the load-time checks of LoadedModule::Load: host
// programs against the module and its executables, and their recording for the async HAL.
//
// Loading runs each executable's query function, and a module's executables are code, so Load
// is only reached for modules whose executables all are, byte for byte, executables of the
// checked-in seed modules (trusted code); mutated executables are elf_loader_fuzz's business.
// Modules without executables (host programs of copies and fills) are always loaded.
//
// Invariants: every segment of an accepted module lies in it and matches its hash, and the
// writer can rewrite what the reader accepts: ModuleBuilder gives a file that reads back to the
// same metadata and segments.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/loaded_module.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/testing/fuzzing.h"
#include "runtime_service/testing/fuzzing_protobuf.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using module::ModuleFile;

std::set<std::string>& TrustedExecutables() {
  static std::set<std::string> hashes;  // SHA-256 of the seed modules' executable segments
  return hashes;
}

std::shared_ptr<hal::Device> Device() {
  static const std::shared_ptr<hal::Device> device = [] {
    auto created = hal::Device::Create({.worker_count = 1});
    KILN_FUZZ_CHECK(created.ok());
    return *created;
  }();
  return device;
}

bool ExecutablesTrusted(const ModuleFile& file) {
  for (const mv1::ExecutableDef& executable : file.def().executables())
    if (!TrustedExecutables().contains(file.def().segments(executable.segment()).sha256()))
      return false;
  return true;
}

// The def without what the writer makes anew: segment offsets, and the unknown fields of
// segment definitions (the builder writes fresh ones).
std::string LayoutFree(mv1::ModuleDef def) {
  for (mv1::SegmentDef& segment : *def.mutable_segments()) {
    segment.clear_offset();
    segment.DiscardUnknownFields();
  }
  return def.SerializeAsString();
}

void CheckAccepted(const ModuleFile& file) {
  const mv1::ModuleDef& def = file.def();
  const std::span<const uint8_t> bytes = file.bytes();
  for (int i = 0; i < def.segments_size(); ++i) {
    const std::span<const uint8_t> segment = file.segment(static_cast<uint32_t>(i));
    KILN_FUZZ_CHECK(segment.size() == def.segments(i).length());
    KILN_FUZZ_CHECK(segment.empty() ||
                    (segment.data() >= bytes.data() &&
                     segment.data() + segment.size() <= bytes.data() + bytes.size()));
    const Sha256Hash hash = Sha256(segment);
    KILN_FUZZ_CHECK(def.segments(i).sha256() ==
                    std::string(reinterpret_cast<const char*>(hash.data()), hash.size()));
  }

  module::ModuleBuilder builder;
  builder.def() = def;
  builder.def().clear_segments();
  for (int i = 0; i < def.segments_size(); ++i) {
    builder.AddSegment(def.segments(i).name(), file.segment(static_cast<uint32_t>(i)),
                       def.segments(i).alignment());
  }
  absl::StatusOr<std::string> rewritten = builder.Serialize();
  KILN_FUZZ_CHECK(rewritten.ok());
  absl::StatusOr<std::unique_ptr<ModuleFile>> reread = ModuleFile::FromBytes(
      {reinterpret_cast<const uint8_t*>(rewritten->data()), rewritten->size()});
  KILN_FUZZ_CHECK(reread.ok());
  KILN_FUZZ_CHECK(LayoutFree((*reread)->def()) == LayoutFree(def));
  for (int i = 0; i < def.segments_size(); ++i) {
    const std::span<const uint8_t> a = file.segment(static_cast<uint32_t>(i));
    const std::span<const uint8_t> b = (*reread)->segment(static_cast<uint32_t>(i));
    KILN_FUZZ_CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  }
}

}  // namespace
}  // namespace kiln

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace kiln;
  fuzzing::QuietProtobufErrors();
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(KILN_FUZZ_SEED_CORPUS, error)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto file = module::ModuleFile::FromBytes(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    if (!file.ok()) continue;
    for (const auto& executable : (*file)->def().executables())
      TrustedExecutables().insert((*file)->def().segments(executable.segment()).sha256());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  absl::StatusOr<std::unique_ptr<module::ModuleFile>> file =
      module::ModuleFile::FromBytes({data, size});
  if (!file.ok()) return 0;
  CheckAccepted(**file);
  if (!ExecutablesTrusted(**file)) return 0;

  auto loaded = LoadedModule::Load(*std::move(file), Device());
  if (!loaded.ok()) return 0;
  for (const auto& function : (*loaded)->def().functions()) {
    // Names are unique (the reader checks); an empty one means "the only function or main".
    if (!function.name().empty())
      KILN_FUZZ_CHECK((*loaded)->FindFunction(function.name()) == &function);
    KILN_FUZZ_CHECK((*loaded)->command_buffer(function) != nullptr);
  }
  return 0;
}
