#include "runtime_service/loader/executable_library.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/loader/cpu_features.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

std::vector<uint8_t> ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

mv1::ExecutableDef TestDef() {
  mv1::ExecutableDef def;
  def.set_name("lib");
  def.set_format(mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY);
  for (const char* name : {"add_f32", "scale_f32", "probe", "fail", "copy64"})
    def.add_exports(name);
  return def;
}

constexpr uint64_t kAllFeatures = ~uint64_t{0};

TEST(ExecutableLibraryTest, LoadsTheTestLibrary) {
  std::vector<uint8_t> image = ReadFile(KILN_TEST_LIBRARY_PATH);
  auto library = LoadSystemLibrary(image, TestDef(), HostCpuFeatures());
  ASSERT_TRUE(library.ok()) << library.status();
  const ExecutableLibrary& lib = **library;
  EXPECT_EQ(lib.library().abi_version, KILN_EXECUTABLE_ABI_VERSION);
  EXPECT_STREQ(lib.library().name, "kiln_test_library");
  ASSERT_EQ(lib.export_count(), 5u);
  EXPECT_STREQ(lib.export_at(0).name, "add_f32");
  EXPECT_EQ(lib.export_at(0).binding_count, 3u);
  EXPECT_EQ(lib.export_at(0).workgroup_size[0], 64u);
  EXPECT_STREQ(lib.export_at(1).name, "scale_f32");
  EXPECT_EQ(lib.export_at(1).constant_count, 1u);
  EXPECT_STREQ(lib.export_at(3).name, "fail");

  // Call add_f32 directly through the export table: one workgroup.
  float a[3] = {1, 2, 3}, b[3] = {10, 20, 30}, c[3] = {};
  void* ptrs[3] = {a, b, c};
  size_t lengths[3] = {sizeof(a), sizeof(b), sizeof(c)};
  kiln_dispatch_state_t state{};
  state.workgroup_count[0] = state.workgroup_count[1] = state.workgroup_count[2] = 1;
  state.binding_count = 3;
  state.binding_ptrs = ptrs;
  state.binding_lengths = lengths;
  kiln_workgroup_state_t workgroup{};
  EXPECT_EQ(lib.export_at(0).fn(&lib.env(), &state, &workgroup), 0);
  EXPECT_EQ(c[0], 11);
  EXPECT_EQ(c[2], 33);
  EXPECT_EQ(lib.export_at(3).fn(&lib.env(), &state, &workgroup), 7);
}

// The memfd a system library is dlopen'ed from is sealed: no one (another process through
// /proc/<kilnd>/fd/N included) can change or truncate the code under the loaded library.
TEST(ExecutableLibraryTest, SystemLibraryMemfdIsSealed) {
  std::vector<uint8_t> image = ReadFile(KILN_TEST_LIBRARY_PATH);
  mv1::ExecutableDef def = TestDef();
  def.set_name("sealed-test-lib");
  auto library = LoadSystemLibrary(image, def, HostCpuFeatures());
  ASSERT_TRUE(library.ok()) << library.status();
  int found = -1;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (target.starts_with("/memfd:sealed-test-lib")) found = std::stoi(entry.path().filename());
  }
  ASSERT_GE(found, 0) << "no memfd named sealed-test-lib";
  EXPECT_EQ(fcntl(found, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  // What another process would do: open it by path for writing.
  const std::string path = "/proc/self/fd/" + std::to_string(found);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_EQ(::pwrite(fd, "\xcc", 1, 0x1000), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(fd, 0), -1);
  EXPECT_EQ(errno, EPERM);
  ::close(fd);
}

TEST(ExecutableLibraryTest, SeveralLibrariesLoadedAtOnceStayDistinct) {
  // Each load must get its own object even though every one is dlopened from a
  // /proc/self/fd path, and unloading one must not disturb the others.
  std::vector<uint8_t> plain = ReadFile(KILN_TEST_LIBRARY_PATH);
  std::vector<uint8_t> avx512 = ReadFile(KILN_TEST_LIBRARY_AVX512_PATH);
  for (int round = 0; round < 3; ++round) {
    auto first = LoadSystemLibrary(plain, TestDef(), kAllFeatures);
    ASSERT_TRUE(first.ok()) << first.status();
    auto second = LoadSystemLibrary(avx512, TestDef(), kAllFeatures);
    ASSERT_TRUE(second.ok()) << second.status();
    auto third = LoadSystemLibrary(plain, TestDef(), kAllFeatures);
    ASSERT_TRUE(third.ok()) << third.status();
    EXPECT_STREQ((*first)->library().name, "kiln_test_library");
    EXPECT_STREQ((*second)->library().name, "kiln_test_library_avx512");
    EXPECT_STREQ((*third)->library().name, "kiln_test_library");
    EXPECT_NE(&(*first)->library(), &(*third)->library());  // separate copies of the code
    first->reset();
    auto fourth = LoadSystemLibrary(avx512, TestDef(), kAllFeatures);
    ASSERT_TRUE(fourth.ok()) << fourth.status();
    EXPECT_STREQ((*fourth)->library().name, "kiln_test_library_avx512");
  }
}

TEST(ExecutableLibraryTest, ExportNameMismatch) {
  std::vector<uint8_t> image = ReadFile(KILN_TEST_LIBRARY_PATH);
  mv1::ExecutableDef def = TestDef();
  def.set_exports(1, "scale_f16");
  auto library = LoadSystemLibrary(image, def, HostCpuFeatures());
  EXPECT_EQ(library.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(library.status().message(),
            "executable 'lib' export 1 is 'scale_f32' but the module expects 'scale_f16'");

  def = TestDef();
  def.add_exports("extra");
  library = LoadSystemLibrary(image, def, HostCpuFeatures());
  EXPECT_EQ(library.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(library.status().message()),
              HasSubstr("has 5 exports but the module lists 6"));
}

TEST(ExecutableLibraryTest, AbiVersionMismatch) {
  auto library =
      LoadSystemLibrary(ReadFile(KILN_TEST_LIBRARY_ABI99_PATH), TestDef(), HostCpuFeatures());
  EXPECT_EQ(library.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(library.status().message(),
            "executable 'lib' was built for executable ABI version 99; this runtime supports "
            "version 2");
}

TEST(ExecutableLibraryTest, QueryRefusesOurAbiVersion) {
  auto library =
      LoadSystemLibrary(ReadFile(KILN_TEST_LIBRARY_ABI3_NULL_PATH), TestDef(), HostCpuFeatures());
  EXPECT_EQ(library.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(library.status().message()),
              HasSubstr("cannot serve executable ABI version 2"));
}

TEST(ExecutableLibraryTest, MissingCpuFeatures) {
  std::vector<uint8_t> image = ReadFile(KILN_TEST_LIBRARY_AVX512_PATH);
  const uint64_t host =
      kAllFeatures & ~uint64_t{KILN_CPU_FEATURE_AVX512F | KILN_CPU_FEATURE_AVX512BW};
  auto library = LoadSystemLibrary(image, TestDef(), host);
  EXPECT_EQ(library.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(library.status().message(),
            "executable 'lib' requires CPU features avx512f, avx512bw that this CPU lacks");

  library =
      LoadSystemLibrary(image, TestDef(), kAllFeatures & ~uint64_t{KILN_CPU_FEATURE_AVX512BW});
  EXPECT_EQ(library.status().message(),
            "executable 'lib' requires CPU features avx512bw that this CPU lacks");

  EXPECT_TRUE(LoadSystemLibrary(image, TestDef(), kAllFeatures).ok());
}

TEST(ExecutableLibraryTest, NotElf) {
  std::string text = "#!/bin/sh\necho this is not a library\n";
  auto library = LoadSystemLibrary(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
      TestDef(), HostCpuFeatures());
  EXPECT_EQ(library.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(library.status().message(), "executable 'lib' is not an ELF image");
  EXPECT_EQ(LoadSystemLibrary({}, TestDef(), HostCpuFeatures()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ExecutableLibraryTest, NotASharedObject) {
  std::vector<uint8_t> image = ReadFile(KILN_TEST_LIBRARY_PATH);
  Elf64_Ehdr header;
  std::memcpy(&header, image.data(), sizeof(header));
  header.e_type = ET_EXEC;
  std::memcpy(image.data(), &header, sizeof(header));
  EXPECT_EQ(LoadSystemLibrary(image, TestDef(), HostCpuFeatures()).status().code(),
            absl::StatusCode::kInvalidArgument);

  header.e_type = ET_DYN;
  header.e_machine = EM_RISCV;
  std::memcpy(image.data(), &header, sizeof(header));
  auto library = LoadSystemLibrary(image, TestDef(), HostCpuFeatures());
  EXPECT_EQ(library.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(library.status().message()), HasSubstr("ELF machine"));
}

TEST(ExecutableLibraryTest, TruncatedElf) {
  std::vector<uint8_t> image = ReadFile(KILN_TEST_LIBRARY_PATH);
  // The end of the last byte any program header covers: a cut before it must fail cleanly.
  Elf64_Ehdr header;
  std::memcpy(&header, image.data(), sizeof(header));
  uint64_t covered = header.e_phoff + uint64_t{header.e_phnum} * sizeof(Elf64_Phdr);
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr phdr;
    std::memcpy(&phdr, image.data() + header.e_phoff + i * sizeof(Elf64_Phdr), sizeof(phdr));
    covered = std::max<uint64_t>(covered, phdr.p_offset + phdr.p_filesz);
  }
  ASSERT_LE(covered, image.size());
  std::vector<size_t> cuts = {3, 40, 64, 100, covered - 1};
  for (size_t step = 1; step < 16; ++step) cuts.push_back(image.size() * step / 16);
  for (size_t cut : cuts) {
    std::span<const uint8_t> truncated(image.data(), cut);
    auto library = LoadSystemLibrary(truncated, TestDef(), HostCpuFeatures());
    if (cut < covered) {
      EXPECT_FALSE(library.ok()) << "cut at " << cut;
      EXPECT_EQ(library.status().code(), absl::StatusCode::kInvalidArgument) << library.status();
    }
    // Past the loaded segments only section headers and symbols are missing; the dynamic
    // linker needs neither, so the load may succeed. Either way: no crash.
  }
}

}  // namespace
}  // namespace kiln
