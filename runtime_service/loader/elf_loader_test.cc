#include "runtime_service/loader/elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

using Image = std::vector<uint8_t>;

Image ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

mv1::ExecutableDef TestDef() {
  mv1::ExecutableDef def;
  def.set_name("lib");
  def.set_format(mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF);
  for (const char* name : {"add_f32", "scale_f32", "probe", "fail", "copy64"})
    def.add_exports(name);
  return def;
}

constexpr uint64_t kAllFeatures = ~uint64_t{0};

template <typename T>
T Get(const Image& image, uint64_t offset) {
  T value;
  std::memcpy(&value, image.data() + offset, sizeof(T));
  return value;
}

template <typename T>
void Put(Image& image, uint64_t offset, const T& value) {
  std::memcpy(image.data() + offset, &value, sizeof(T));
}

// Where the mutations aim in the good image, found by parsing it independently of the loader.
struct Layout {
  explicit Layout(const Image& image) {
    header = Get<Elf64_Ehdr>(image, 0);
    for (int i = 0; i < header.e_phnum; ++i) {
      Elf64_Phdr phdr = Get<Elf64_Phdr>(image, PhdrOffset(i));
      phdrs.push_back(phdr);
      if (phdr.p_type == PT_LOAD) loads.push_back(i);
      if (phdr.p_type == PT_DYNAMIC) dynamic = i;
    }
    for (uint64_t at = phdrs[dynamic].p_offset;; at += sizeof(Elf64_Dyn)) {
      const auto entry = Get<Elf64_Dyn>(image, at);
      if (entry.d_tag == DT_NULL) break;
      if (entry.d_tag == DT_RELA) rela_offset = FileOffset(entry.d_un.d_ptr);
      if (entry.d_tag == DT_RELASZ) rela_count = entry.d_un.d_val / sizeof(Elf64_Rela);
    }
  }
  uint64_t PhdrOffset(int index) const { return header.e_phoff + index * sizeof(Elf64_Phdr); }
  uint64_t FileOffset(uint64_t vaddr) const {
    for (int i : loads) {
      const Elf64_Phdr& p = phdrs[i];
      if (vaddr >= p.p_vaddr && vaddr < p.p_vaddr + p.p_filesz)
        return p.p_offset + vaddr - p.p_vaddr;
    }
    ADD_FAILURE() << "no file offset for " << vaddr;
    return 0;
  }
  // The first PT_LOAD with exactly these flags.
  int LoadWithFlags(uint32_t flags) const {
    for (int i : loads)
      if (phdrs[i].p_flags == flags) return i;
    ADD_FAILURE() << "no segment with flags " << flags;
    return loads.front();
  }

  Elf64_Ehdr header;
  std::vector<Elf64_Phdr> phdrs;
  std::vector<int> loads;
  int dynamic = -1;
  uint64_t rela_offset = 0;
  uint64_t rela_count = 0;
};

class ElfLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = ReadFile(KILN_TEST_ELF_PATH);
    ASSERT_GT(good_.size(), sizeof(Elf64_Ehdr));
  }

  absl::Status LoadStatus(const Image& image) {
    return EmbeddedElfLibrary::Load(image, TestDef(), kAllFeatures).status();
  }

  // Loads a mutated copy of the good image and checks the error.
  void ExpectError(const Image& image, absl::StatusCode code, const std::string& text) {
    absl::Status status = LoadStatus(image);
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(text));
  }

  Image good_;
};

// Runs one workgroup of `fn` over the given bindings and constants.
int Dispatch(const ExecutableLibrary& lib, uint32_t ordinal, std::vector<void*> ptrs,
             std::vector<size_t> lengths, std::vector<uint32_t> constants = {},
             uint32_t workgroup_id = 0, uint32_t workgroup_count = 1) {
  kiln_dispatch_state_t state{};
  state.workgroup_count[0] = workgroup_count;
  state.workgroup_count[1] = state.workgroup_count[2] = 1;
  state.binding_count = static_cast<uint32_t>(ptrs.size());
  state.binding_ptrs = ptrs.data();
  state.binding_lengths = lengths.data();
  state.constant_count = static_cast<uint32_t>(constants.size());
  state.constants = constants.data();
  kiln_workgroup_state_t workgroup{};
  workgroup.workgroup_id[0] = workgroup_id;
  return lib.export_at(ordinal).fn(&lib.env(), &state, &workgroup);
}

TEST_F(ElfLoaderTest, LoadsAndDispatches) {
  auto loaded = LoadEmbeddedElf(good_, TestDef(), kAllFeatures);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const ExecutableLibrary& lib = **loaded;
  EXPECT_EQ(lib.library().abi_version, KILN_EXECUTABLE_ABI_VERSION);
  EXPECT_STREQ(lib.library().name, "kiln_test_elf");
  ASSERT_EQ(lib.export_count(), 5u);
  EXPECT_STREQ(lib.export_at(0).name, "add_f32");
  EXPECT_EQ(lib.export_at(0).binding_count, 3u);
  EXPECT_EQ(lib.export_at(0).workgroup_size[0], 64u);
  EXPECT_STREQ(lib.export_at(1).name, "scale_f32");
  EXPECT_EQ(lib.export_at(1).constant_count, 1u);
  EXPECT_STREQ(lib.export_at(3).name, "fail");

  // add_f32 over two workgroups, each writing its half.
  float a[5] = {1, 2, 3, 4, 5}, b[5] = {10, 20, 30, 40, 50}, c[5] = {};
  for (uint32_t id = 0; id < 2; ++id)
    EXPECT_EQ(Dispatch(lib, 0, {a, b, c}, {sizeof(a), sizeof(b), sizeof(c)}, {}, id, 2), 0);
  EXPECT_THAT(c, ::testing::ElementsAre(11, 22, 33, 44, 55));

  float in[3] = {1, -2, 3}, out[3] = {};
  const float scale = 2.5f;
  uint32_t scale_bits;
  std::memcpy(&scale_bits, &scale, sizeof(scale));
  EXPECT_EQ(Dispatch(lib, 1, {in, out}, {sizeof(in), sizeof(out)}, {scale_bits}), 0);
  EXPECT_THAT(out, ::testing::ElementsAre(2.5f, -5.0f, 7.5f));

  // fail's 7 comes through a JUMP_SLOT call and GLOB_DAT and 64 relocated pointers.
  EXPECT_EQ(Dispatch(lib, 3, {}, {}), 7);
}

TEST_F(ElfLoaderTest, LoadsAreIndependent) {
  auto first = EmbeddedElfLibrary::Load(good_, TestDef(), kAllFeatures);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = EmbeddedElfLibrary::Load(good_, TestDef(), kAllFeatures);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE((*first)->mapping().data(), (*second)->mapping().data());
  EXPECT_NE((*first)->export_at(0).fn, (*second)->export_at(0).fn);
  first->reset();
  float a[1] = {1}, b[1] = {2}, c[1] = {};
  EXPECT_EQ(Dispatch(**second, 0, {a, b, c}, {4, 4, 4}), 0);
  EXPECT_EQ(c[0], 3);
}

struct MapsEntry {
  uintptr_t start, end;
  std::string perms;
};

std::vector<MapsEntry> ReadMaps() {
  std::vector<MapsEntry> entries;
  FILE* maps = std::fopen("/proc/self/maps", "r");
  EXPECT_NE(maps, nullptr);
  if (maps == nullptr) return entries;
  char line[512];
  while (std::fgets(line, sizeof(line), maps) != nullptr) {
    unsigned long start, end;
    char perms[8];
    // NOLINTNEXTLINE(bugprone-unchecked-string-to-number-conversion): the kernel's own lines
    if (std::sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3)
      entries.push_back({start, end, perms});
  }
  std::fclose(maps);
  return entries;
}

// The mappings that overlap [data, data + size).
std::vector<MapsEntry> MapsOver(std::span<const uint8_t> range) {
  const auto start = reinterpret_cast<uintptr_t>(range.data());
  std::vector<MapsEntry> entries;
  for (const MapsEntry& entry : ReadMaps())
    if (entry.start < start + range.size() && entry.end > start) entries.push_back(entry);
  return entries;
}

TEST_F(ElfLoaderTest, WriteXorExecuteAndReadOnlyRelro) {
  auto loaded = EmbeddedElfLibrary::Load(good_, TestDef(), kAllFeatures);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const EmbeddedElfLibrary& lib = **loaded;

  std::vector<MapsEntry> entries = MapsOver(lib.mapping());
  ASSERT_FALSE(entries.empty());
  bool executable = false, writable = false;
  for (const MapsEntry& entry : entries) {
    const bool w = entry.perms[1] == 'w', x = entry.perms[2] == 'x';
    EXPECT_FALSE(w && x) << std::hex << entry.start << "-" << entry.end << " " << entry.perms;
    executable |= x;
    writable |= w;
  }
  EXPECT_TRUE(executable);
  EXPECT_TRUE(writable);  // .data

  ASSERT_FALSE(lib.relro().empty());
  for (const MapsEntry& entry : MapsOver(lib.relro()))
    EXPECT_EQ(entry.perms.substr(0, 3), "r--") << std::hex << entry.start << "-" << entry.end;
  // The export table is relocated data inside RELRO.
  const auto* exports = reinterpret_cast<const uint8_t*>(lib.library().exports);
  EXPECT_GE(exports, lib.relro().data());
  EXPECT_LT(exports, lib.relro().data() + lib.relro().size());
}

TEST_F(ElfLoaderTest, StillValidatesTheAbi) {
  mv1::ExecutableDef def = TestDef();
  def.set_exports(1, "mul_f32");
  auto loaded = EmbeddedElfLibrary::Load(good_, def, kAllFeatures);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("export 1 is 'scale_f32'"));
}

// A stand-in for the query function that "returns" the struct `where` bytes into the mapping.
EmbeddedElfLibrary::QueryStandIn StandInAt(uint64_t where) {
  return [where](std::span<const uint8_t> mapping) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): may point past the mapping on purpose
    return reinterpret_cast<const kiln_library_t*>(reinterpret_cast<uintptr_t>(mapping.data()) +
                                                   where);
  };
}

// Where the fixture's query function puts its struct, as an offset into the mapping.
uint64_t StructOffset(const EmbeddedElfLibrary& library) {
  return reinterpret_cast<const uint8_t*>(&library.library()) - library.mapping().data();
}

// LoadWithoutRunning (for fuzzing) takes the library struct from its stand-in instead of the
// query function, and checks it as it would the query's.
TEST_F(ElfLoaderTest, LoadWithoutRunningChecksTheStandInsStruct) {
  auto real = EmbeddedElfLibrary::Load(good_, TestDef(), kAllFeatures);
  ASSERT_TRUE(real.ok()) << real.status();
  const uint64_t offset = StructOffset(**real);

  auto loaded =
      EmbeddedElfLibrary::LoadWithoutRunning(good_, TestDef(), kAllFeatures, StandInAt(offset));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(&(*loaded)->library()),
            (*loaded)->mapping().data() + offset);
  EXPECT_STREQ((*loaded)->export_at(3).name, "fail");

  // The ELF header is no library struct: its first word is not the ABI version.
  auto header =
      EmbeddedElfLibrary::LoadWithoutRunning(good_, TestDef(), kAllFeatures, StandInAt(0));
  EXPECT_EQ(header.status().code(), absl::StatusCode::kFailedPrecondition) << header.status();

  auto outside = EmbeddedElfLibrary::LoadWithoutRunning(good_, TestDef(), kAllFeatures,
                                                        StandInAt((*real)->mapping().size() + 64));
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(outside.status().message()), HasSubstr("points outside"));

  auto null = EmbeddedElfLibrary::LoadWithoutRunning(
      good_, TestDef(), kAllFeatures, [](std::span<const uint8_t>) { return nullptr; });
  EXPECT_EQ(null.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(null.status().message()), HasSubstr("returned no library"));
}

// Found by elf_loader_fuzz: a readable but misaligned struct or table was read through (undefined
// behaviour; UBSan aborts). The loader now rejects it.
TEST_F(ElfLoaderTest, MisalignedLibraryStructOrTable) {
  auto real = EmbeddedElfLibrary::Load(good_, TestDef(), kAllFeatures);
  ASSERT_TRUE(real.ok()) << real.status();
  const uint64_t offset = StructOffset(**real);

  auto shifted =
      EmbeddedElfLibrary::LoadWithoutRunning(good_, TestDef(), kAllFeatures, StandInAt(offset + 1));
  EXPECT_EQ(shifted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(shifted.status().message()),
              HasSubstr("field (the struct) is not 8-byte aligned"));

  // The export table pointer one byte off: the addend of the RELATIVE relocation that fills the
  // struct's exports field, plus one. The mapping starts at the first segment's page.
  Layout layout(good_);
  const uint64_t base = layout.phdrs[layout.loads[0]].p_vaddr & ~uint64_t{0xfff};
  const uint64_t exports_field = base + offset + offsetof(kiln_library_t, exports);
  Image image = good_;
  bool patched = false;
  for (uint64_t i = 0; i < layout.rela_count; ++i) {
    const uint64_t at = layout.rela_offset + i * sizeof(Elf64_Rela);
    auto rela = Get<Elf64_Rela>(image, at);
    if (rela.r_offset != exports_field) continue;
    ASSERT_EQ(ELF64_R_TYPE(rela.r_info), static_cast<uint32_t>(R_X86_64_RELATIVE));
    rela.r_addend += 1;
    Put(image, at, rela);
    patched = true;
  }
  ASSERT_TRUE(patched);
  ExpectError(image, absl::StatusCode::kInvalidArgument, "field exports is not 8-byte aligned");
}

TEST_F(ElfLoaderTest, Truncated) {
  const Layout layout(good_);
  const Elf64_Phdr& last = layout.phdrs[layout.loads.back()];
  const uint64_t last_end = last.p_offset + last.p_filesz;
  struct Cut {
    uint64_t size;
    const char* text;
  };
  for (const Cut& cut : std::vector<Cut>{
           {0, "not an ELF image"},
           {3, "not an ELF image"},
           {20, "truncated ELF image"},
           {sizeof(Elf64_Ehdr) - 1, "truncated ELF image"},
           {layout.header.e_phoff + sizeof(Elf64_Phdr) + 3, "program header table"},
           {last.p_offset + last.p_filesz / 2, "outside the"},
           {last_end - 1, "outside the"},
       }) {
    SCOPED_TRACE(cut.size);
    ExpectError(Image(good_.begin(), good_.begin() + cut.size), absl::StatusCode::kInvalidArgument,
                cut.text);
  }
}

TEST_F(ElfLoaderTest, BadMagic) {
  Image image = good_;
  image[1] = 'X';
  ExpectError(image, absl::StatusCode::kInvalidArgument, "not an ELF image (bad magic)");
}

TEST_F(ElfLoaderTest, Elf32) {
  Image image = good_;
  image[EI_CLASS] = ELFCLASS32;
  ExpectError(image, absl::StatusCode::kInvalidArgument, "not a 64-bit ELF (class 1)");
}

TEST_F(ElfLoaderTest, BigEndian) {
  Image image = good_;
  image[EI_DATA] = ELFDATA2MSB;
  ExpectError(image, absl::StatusCode::kInvalidArgument, "not a little-endian ELF");
}

TEST_F(ElfLoaderTest, WrongMachine) {
  Image image = good_;
  Put<uint16_t>(image, offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
  ExpectError(image, absl::StatusCode::kFailedPrecondition, "for ELF machine 183");
}

TEST_F(ElfLoaderTest, NotASharedObject) {
  Image image = good_;
  Put<uint16_t>(image, offsetof(Elf64_Ehdr, e_type), ET_EXEC);
  ExpectError(image, absl::StatusCode::kInvalidArgument, "is ELF type 2, not a shared object");
}

TEST_F(ElfLoaderTest, ProgramHeadersOutsideTheFile) {
  const Layout layout(good_);
  Image image = good_;
  Put<uint64_t>(image, offsetof(Elf64_Ehdr, e_phoff), good_.size() - 8);
  ExpectError(image, absl::StatusCode::kInvalidArgument,
              absl::StrCat("program header table (", layout.phdrs.size() * sizeof(Elf64_Phdr),
                           " bytes at offset ", good_.size() - 8, ") outside the"));
  Put<uint64_t>(image, offsetof(Elf64_Ehdr, e_phoff), ~uint64_t{0} - 8);  // overflows
  ExpectError(image, absl::StatusCode::kInvalidArgument, "outside the");
}

TEST_F(ElfLoaderTest, SegmentOutsideTheFile) {
  const Layout layout(good_);
  const int index = layout.loads[1];
  Image image = good_;
  Elf64_Phdr phdr = layout.phdrs[index];
  phdr.p_filesz = phdr.p_memsz = good_.size();
  Put(image, layout.PhdrOffset(index), phdr);
  ExpectError(image, absl::StatusCode::kInvalidArgument,
              absl::StrCat("segment ", index, " (", good_.size(), " file bytes at offset ",
                           phdr.p_offset, ") lies outside the"));
}

TEST_F(ElfLoaderTest, OverlappingSegments) {
  const Layout layout(good_);
  Image image = good_;
  Elf64_Phdr phdr = layout.phdrs[layout.loads[1]];
  phdr.p_memsz += 0x10000;  // now reaches over the next segment
  Put(image, layout.PhdrOffset(layout.loads[1]), phdr);
  ExpectError(image, absl::StatusCode::kInvalidArgument,
              absl::StrCat("segment ", layout.loads[2], " overlaps segment ", layout.loads[1],
                           " in memory"));
}

TEST_F(ElfLoaderTest, WritableAndExecutableSegment) {
  const Layout layout(good_);
  const int index = layout.LoadWithFlags(PF_R | PF_W);
  Image image = good_;
  Put<uint32_t>(image, layout.PhdrOffset(index) + offsetof(Elf64_Phdr, p_flags),
                PF_R | PF_W | PF_X);
  ExpectError(image, absl::StatusCode::kInvalidArgument,
              absl::StrCat("segment ", index, " is writable and executable"));
}

TEST_F(ElfLoaderTest, UnsupportedRelocationType) {
  const Layout layout(good_);
  ASSERT_GT(layout.rela_count, 0u);
  Image image = good_;
  auto rela = Get<Elf64_Rela>(image, layout.rela_offset);
  rela.r_info = ELF64_R_INFO(ELF64_R_SYM(rela.r_info), R_X86_64_PC32);
  Put(image, layout.rela_offset, rela);
  ExpectError(image, absl::StatusCode::kInvalidArgument,
              "relocation 0 in DT_RELA: unsupported relocation type R_X86_64_PC32 (2)");
  rela.r_info = ELF64_R_INFO(0, 200);
  Put(image, layout.rela_offset, rela);
  ExpectError(image, absl::StatusCode::kInvalidArgument, "unsupported relocation type 200");
}

TEST_F(ElfLoaderTest, RelocationTargetOutsideTheImage) {
  const Layout layout(good_);
  const uint64_t offset = layout.rela_offset + sizeof(Elf64_Rela);  // entry 1
  for (uint64_t target : {uint64_t{0x40000000}, ~uint64_t{0} - 3,
                          layout.phdrs[layout.LoadWithFlags(PF_R | PF_X)].p_vaddr}) {
    SCOPED_TRACE(target);
    Image image = good_;
    Put<uint64_t>(image, offset + offsetof(Elf64_Rela, r_offset), target);
    ExpectError(image, absl::StatusCode::kInvalidArgument,
                "relocation 1 in DT_RELA (R_X86_64_RELATIVE (8)) writes 8 bytes at");
    ExpectError(image, absl::StatusCode::kInvalidArgument, "outside the image's writable segments");
  }
}

TEST_F(ElfLoaderTest, UndefinedSymbol) {
  Image image = ReadFile(KILN_TEST_ELF_MISSING_IMPORT_PATH);
  ExpectError(image, absl::StatusCode::kInvalidArgument,
              "undefined symbol 'kiln_test_missing': embedded executables may only import "
              "through the kiln import table");
}

TEST_F(ElfLoaderTest, MissingQueryFunction) {
  // Rename the symbol in every string table that holds it.
  Image image = good_;
  const std::string name = KILN_LIBRARY_QUERY_SYMBOL;
  int renamed = 0;
  for (auto it = image.begin();
       (it = std::search(it, image.end(), name.begin(), name.end())) != image.end(); ++renamed)
    it[name.size() - 1] = 'z';
  ASSERT_GT(renamed, 0);
  ExpectError(image, absl::StatusCode::kInvalidArgument, "does not export kiln_library_query");
}

// Random byte flips in the ELF header, program headers and dynamic section: every load must
// come back, as a library or an error, and never crash.
TEST_F(ElfLoaderTest, RandomCorruptionNeverCrashes) {
  const Layout layout(good_);
  const Elf64_Phdr& dynamic = layout.phdrs[layout.dynamic];
  std::vector<uint64_t> positions;
  positions.reserve(layout.PhdrOffset(layout.header.e_phnum) + dynamic.p_filesz);
  for (uint64_t i = 0; i < layout.PhdrOffset(layout.header.e_phnum); ++i) positions.push_back(i);
  for (uint64_t i = 0; i < dynamic.p_filesz; ++i) positions.push_back(dynamic.p_offset + i);

  std::mt19937 random(20240611);
  std::uniform_int_distribution<size_t> position(0, positions.size() - 1);
  std::uniform_int_distribution<int> flip(1, 255), flips(1, 3);
  int loaded = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    Image image = good_;
    for (int n = flips(random); n > 0; --n)
      image[positions[position(random)]] ^= static_cast<uint8_t>(flip(random));
    auto library = EmbeddedElfLibrary::Load(image, TestDef(), kAllFeatures);
    if (library.ok()) {
      ++loaded;
      EXPECT_EQ((*library)->export_count(), 5u);
    }
  }
  // Many flips hit fields the loader does not need (e_shoff, notes, ...): some loads succeed.
  EXPECT_GT(loaded, 0);
  EXPECT_LT(loaded, 2000);
}

}  // namespace
}  // namespace kiln
