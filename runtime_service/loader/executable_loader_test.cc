// The loader conformance suite: one set of checks, instantiated for every loader the registry
// holds, each with its build of the same test library (loader/testdata/test_library.c: the
// exports add_f32, scale_f32, probe, fail, copy64). A registered loader without a test image
// fails the suite, so a new format cannot skip it.
#include "runtime_service/loader/executable_loader.h"

#include <elf.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime_service/loader/cpu_features.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The test library built for each format.
std::string ImagePath(mv1::ExecutableFormat format) {
  switch (format) {
    case mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY:
      return KILN_TEST_LIBRARY_PATH;
    case mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF:
      return KILN_TEST_ELF_PATH;
    default:
      return "";
  }
}

class LoaderConformanceTest : public testing::TestWithParam<const ExecutableLoader*> {
 protected:
  const ExecutableLoader& loader() const { return *GetParam(); }
  std::vector<uint8_t> Image() const {
    const std::string path = ImagePath(loader().format());
    EXPECT_FALSE(path.empty()) << "loader '" << loader().name()
                               << "' has no conformance test image: add one to ImagePath";
    return path.empty() ? std::vector<uint8_t>{} : ReadFile(path);
  }
  mv1::ExecutableDef Def() const {
    mv1::ExecutableDef def;
    def.set_name("lib");
    def.set_format(loader().format());
    for (const char* name : {"add_f32", "scale_f32", "probe", "fail", "copy64"})
      def.add_exports(name);
    return def;
  }
};

// add_f32 over three floats in one workgroup, through the export table.
void ExpectAddsAndFails(const ExecutableLibrary& lib) {
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
  // `fail` reports its own error code, which the loader passes through.
  EXPECT_EQ(lib.export_at(3).fn(&lib.env(), &state, &workgroup), 7);
}

TEST_P(LoaderConformanceTest, LoadsValidatesAndRuns) {
  auto library = loader().Load(Image(), Def(), HostCpuFeatures());
  ASSERT_TRUE(library.ok()) << library.status();
  const ExecutableLibrary& lib = **library;
  EXPECT_EQ(lib.library().abi_version, KILN_EXECUTABLE_ABI_VERSION);
  ASSERT_EQ(lib.export_count(), 5u);
  EXPECT_STREQ(lib.export_at(1).name, "scale_f32");
  EXPECT_EQ(lib.export_at(0).binding_count, 3u);
  ExpectAddsAndFails(lib);
}

TEST_P(LoaderConformanceTest, LoadsOfOneImageStayIndependent) {
  const std::vector<uint8_t> image = Image();
  auto first = loader().Load(image, Def(), HostCpuFeatures());
  auto second = loader().Load(image, Def(), HostCpuFeatures());
  ASSERT_TRUE(first.ok() && second.ok());
  first->reset();  // unloading one leaves the other runnable
  ExpectAddsAndFails(**second);
}

TEST_P(LoaderConformanceTest, RefusesExportsTheModuleDoesNotList) {
  mv1::ExecutableDef def = Def();
  def.set_exports(1, "scale_f16");
  auto library = loader().Load(Image(), def, HostCpuFeatures());
  EXPECT_EQ(library.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(library.status().message(),
            "executable 'lib' export 1 is 'scale_f32' but the module expects 'scale_f16'");
}

TEST_P(LoaderConformanceTest, RefusesWhatIsNotItsImage) {
  const std::string text = "#!/bin/sh\necho this is not a library\n";
  auto library = loader().Load(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), Def(),
      HostCpuFeatures());
  EXPECT_EQ(library.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loader().Load({}, Def(), HostCpuFeatures()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(LoaderConformanceTest, RefusesEveryTruncationCleanly) {
  const std::vector<uint8_t> image = Image();
  ASSERT_GT(image.size(), sizeof(Elf64_Ehdr));
  // Cuts through the header, the program headers and the first pages: an error, never a crash.
  for (size_t size : {size_t{0}, size_t{16}, sizeof(Elf64_Ehdr), sizeof(Elf64_Ehdr) + 100,
                      size_t{4096}, image.size() / 2}) {
    auto library = loader().Load(std::span(image.data(), size), Def(), HostCpuFeatures());
    EXPECT_FALSE(library.ok()) << loader().name() << " loaded " << size << " of " << image.size()
                               << " bytes";
  }
}

std::string LoaderName(const testing::TestParamInfo<const ExecutableLoader*>& info) {
  std::string name(info.param->name());
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(EveryLoader, LoaderConformanceTest,
                         testing::ValuesIn(ExecutableLoaderRegistry::Default().loaders()),
                         LoaderName);

TEST(ExecutableLoaderRegistryTest, FindsEachFormatOnceAndNamesThem) {
  const ExecutableLoaderRegistry& registry = ExecutableLoaderRegistry::Default();
  EXPECT_EQ(registry.Names(), "system-library, embedded-elf");
  EXPECT_EQ(registry.Find(mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF)->name(), "embedded-elf");
  EXPECT_EQ(registry.Find(mv1::EXECUTABLE_FORMAT_UNSPECIFIED), nullptr);
  ExecutableLoaderRegistry mine;
  class Twice final : public ExecutableLoader {
   public:
    mv1::ExecutableFormat format() const override { return mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF; }
    std::string_view name() const override { return "twice"; }
    absl::StatusOr<std::unique_ptr<ExecutableLibrary>> Load(std::span<const uint8_t>,
                                                            const mv1::ExecutableDef&,
                                                            uint64_t) const override {
      return absl::UnimplementedError("not loaded in this test");
    }
  };
  EXPECT_TRUE(mine.Register(std::make_unique<Twice>()).ok());
  EXPECT_EQ(mine.Register(std::make_unique<Twice>()).code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace kiln
