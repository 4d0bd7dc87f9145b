#include "runtime_service/module/module_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/executable_abi.h"

namespace kiln::module {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Pattern(size_t size, uint8_t seed) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>(seed + i * 7);
  return data;
}

// Room in the metadata that RewriteDef gives up so a rewritten ModuleDef fits in place.
constexpr size_t kSlack = 256;

struct TestModule {
  std::string weights = Pattern(1000, 1);
  std::string code = Pattern(100, 2);
  std::string file;
};

TestModule BuildTestModule() {
  TestModule module;
  ModuleBuilder builder;
  builder.def().set_name("test");
  builder.def().set_compiler_version(std::string(kSlack, 'v'));
  builder.AddSegment("weights", Bytes(module.weights));
  builder.AddSegment("code", Bytes(module.code), 4096);
  builder.AddSegment("empty", {});
  auto* constant = builder.def().add_constants();
  constant->set_name("w");
  constant->set_segment(0);
  auto* function = builder.def().add_functions();
  function->set_name("main");
  auto* input = function->add_inputs();
  input->set_name("x");
  input->mutable_type()->set_dtype(mv1::DATA_TYPE_F32);
  input->mutable_type()->add_shape(1);
  input->mutable_type()->add_shape(64);
  auto serialized = builder.Serialize();
  EXPECT_TRUE(serialized.ok()) << serialized.status();
  module.file = *serialized;
  return module;
}

ModuleFileHeader ReadHeader(const std::string& file) {
  ModuleFileHeader header;
  std::memcpy(&header, file.data(), sizeof(header));
  return header;
}

void WriteHeader(std::string& file, const ModuleFileHeader& header) {
  std::memcpy(file.data(), &header, sizeof(header));
}

// Parses the file's ModuleDef, lets `mutate` change it and writes it back in place (giving up
// the compiler_version padding), leaving every segment where it was.
std::string RewriteDef(std::string file, const std::function<void(mv1::ModuleDef&)>& mutate) {
  ModuleFileHeader header = ReadHeader(file);
  mv1::ModuleDef def;
  EXPECT_TRUE(def.ParseFromArray(file.data() + 64, static_cast<int>(header.metadata_length)));
  mutate(def);
  def.set_compiler_version("");
  std::string metadata = def.SerializeAsString();
  EXPECT_LE(metadata.size(), header.metadata_length);
  std::memset(file.data() + 64, 0, header.metadata_length);
  std::memcpy(file.data() + 64, metadata.data(), metadata.size());
  header.metadata_length = metadata.size();
  WriteHeader(file, header);
  return file;
}

absl::Status Check(const std::string& file) { return ModuleFile::FromBytes(Bytes(file)).status(); }

TEST(ModuleFileTest, RoundTrip) {
  TestModule module = BuildTestModule();
  auto file = ModuleFile::FromBytes(Bytes(module.file));
  ASSERT_TRUE(file.ok()) << file.status();
  const mv1::ModuleDef& def = (*file)->def();
  EXPECT_EQ(def.name(), "test");
  EXPECT_EQ(def.executable_abi_version(), KILN_EXECUTABLE_ABI_VERSION);
  ASSERT_EQ(def.segments_size(), 3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*file)->bytes().data()) % 64, 0u);
  const std::string expected[] = {module.weights, module.code, ""};
  for (int i = 0; i < 3; ++i) {
    const mv1::SegmentDef& segment = def.segments(i);
    EXPECT_EQ(segment.offset() % segment.alignment(), 0u) << segment.name();
    EXPECT_EQ(segment.length(), expected[i].size());
    Sha256Hash hash = Sha256(expected[i]);
    EXPECT_EQ(segment.sha256(), std::string(hash.begin(), hash.end()));
    auto data = (*file)->segment(i);
    EXPECT_EQ(std::string(data.begin(), data.end()), expected[i]);
    if (!data.empty()) {
      // In memory, segments are aligned up to the page size (the base of an mmap).
      const uint64_t alignment = std::min<uint64_t>(segment.alignment(), 4096);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(data.data()) % alignment, 0u);
    }
  }
  EXPECT_EQ(def.segments(1).alignment(), 4096u);
  EXPECT_TRUE((*file)->segment(3).empty());  // out of range
  ModuleFileHeader header = ReadHeader(module.file);
  EXPECT_EQ(header.file_length, module.file.size());
  EXPECT_EQ(header.metadata_offset, 64u);
}

TEST(ModuleFileTest, OwnedSegmentsLayOutLikeCopiedOnes) {
  std::string weights = Pattern(5000, 4), code = Pattern(300, 5);
  auto build = [&](bool owned) {
    ModuleBuilder builder;
    builder.def().set_name("owned");
    if (owned) {
      builder.AddOwnedSegment("weights", std::string(weights));
      builder.AddOwnedSegment("code", std::string(code), 4096);
    } else {
      builder.AddSegment("weights", Bytes(weights));
      builder.AddSegment("code", Bytes(code), 4096);
    }
    auto serialized = builder.Serialize();
    EXPECT_TRUE(serialized.ok()) << serialized.status();
    return serialized.ok() ? *serialized : std::string();
  };
  const std::string owned = build(true);
  EXPECT_EQ(owned, build(false));
  auto file = ModuleFile::FromBytes(Bytes(owned));
  ASSERT_TRUE(file.ok()) << file.status();
  auto data = (*file)->segment(1);
  EXPECT_EQ(std::string(data.begin(), data.end()), code);
  EXPECT_EQ((*file)->def().segments(1).offset() % 4096, 0u);
}

TEST(ModuleFileTest, LayoutConvergesWithManySegments) {
  // Enough segments and bytes that offsets cross varint size boundaries while laying out.
  ModuleBuilder builder;
  std::string data = Pattern(3000, 3);
  for (int i = 0; i < 300; ++i) builder.AddSegment("s" + std::to_string(i), Bytes(data));
  auto serialized = builder.Serialize();
  ASSERT_TRUE(serialized.ok()) << serialized.status();
  auto file = ModuleFile::FromBytes(Bytes(*serialized));
  ASSERT_TRUE(file.ok()) << file.status();
  auto last = (*file)->segment(299);
  EXPECT_EQ(std::string(last.begin(), last.end()), data);
}

TEST(ModuleFileTest, BadAlignmentIsRejectedBySerialize) {
  ModuleBuilder builder;
  builder.AddSegment("odd", Bytes("abc"), 96);
  EXPECT_EQ(builder.Serialize().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModuleFileTest, Truncated) {
  TestModule module = BuildTestModule();
  ModuleFileHeader header = ReadHeader(module.file);
  auto file = ModuleFile::FromBytes(Bytes(module.file));
  ASSERT_TRUE(file.ok());
  const uint64_t weights_offset = (*file)->def().segments(0).offset();
  const size_t cuts[] = {
      4,                                // inside the magic
      32,                               // inside the header
      64 + header.metadata_length / 2,  // inside the metadata
      weights_offset + 10,              // inside a segment
      module.file.size() - 1,           // the last byte
  };
  for (size_t cut : cuts) {
    absl::Status status = Check(module.file.substr(0, cut));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << cut << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("truncated")) << cut;
  }
  absl::Status status = Check(module.file.substr(0, module.file.size() - 1));
  EXPECT_EQ(status.message(),
            absl::StrCat("module file is truncated: header says ", module.file.size(),
                         " bytes, file has ", module.file.size() - 1));
  EXPECT_EQ(Check("").code(), absl::StatusCode::kInvalidArgument);
  // Bytes after the end the header states are corruption too.
  EXPECT_EQ(Check(module.file + "x").code(), absl::StatusCode::kDataLoss);
}

TEST(ModuleFileTest, BadMagic) {
  std::string file = BuildTestModule().file;
  file[0] = 'X';
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "not a kiln module file (bad magic)");
  EXPECT_EQ(Check("hello").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModuleFileTest, BadVersion) {
  std::string file = BuildTestModule().file;
  ModuleFileHeader header = ReadHeader(file);
  header.format_version = 2;
  WriteHeader(file, header);
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "unsupported module format version 2 (this runtime reads 1)");
}

TEST(ModuleFileTest, BadHeaderLength) {
  std::string file = BuildTestModule().file;
  ModuleFileHeader header = ReadHeader(file);
  header.header_length = 128;
  WriteHeader(file, header);
  EXPECT_EQ(Check(file).code(), absl::StatusCode::kDataLoss);
}

TEST(ModuleFileTest, MetadataLengthHuge) {
  std::string file = BuildTestModule().file;
  ModuleFileHeader header = ReadHeader(file);
  header.metadata_length = uint64_t{1} << 62;
  WriteHeader(file, header);
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("metadata_length"));

  header.metadata_length = ~uint64_t{0} - 10;  // would overflow 64 + length
  WriteHeader(file, header);
  EXPECT_EQ(Check(file).code(), absl::StatusCode::kDataLoss);

  header.metadata_length = file.size();  // under the limit, past the end
  WriteHeader(file, header);
  status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("past the end"));
}

TEST(ModuleFileTest, MetadataDoesNotParse) {
  std::string file = BuildTestModule().file;
  ModuleFileHeader header = ReadHeader(file);
  std::memset(file.data() + 64, 0xff, header.metadata_length);
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("does not parse"));
}

TEST(ModuleFileTest, AbiVersionMismatch) {
  std::string file = RewriteDef(BuildTestModule().file,
                                [](mv1::ModuleDef& def) { def.set_executable_abi_version(3); });
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("executable ABI version 3"));
}

TEST(ModuleFileTest, RewriteDefAloneKeepsTheFileValid) {
  EXPECT_TRUE(Check(RewriteDef(BuildTestModule().file, [](mv1::ModuleDef&) {})).ok());
}

TEST(ModuleFileTest, SegmentOutsideFile) {
  std::string original = BuildTestModule().file;
  std::string file = RewriteDef(original, [&](mv1::ModuleDef& def) {
    def.mutable_segments(0)->set_offset((original.size() + 64) & ~uint64_t{63});
  });
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("segment 'weights'"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("outside the file"));

  // offset + length wraps around 2^64.
  file = RewriteDef(original, [](mv1::ModuleDef& def) {
    def.mutable_segments(0)->set_length(~uint64_t{0} - 100);
  });
  EXPECT_EQ(Check(file).code(), absl::StatusCode::kDataLoss);
}

TEST(ModuleFileTest, SegmentInsideMetadata) {
  std::string file = RewriteDef(
      BuildTestModule().file, [](mv1::ModuleDef& def) { def.mutable_segments(0)->set_offset(64); });
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("header or metadata"));
}

TEST(ModuleFileTest, OverlappingSegments) {
  std::string file = RewriteDef(BuildTestModule().file, [](mv1::ModuleDef& def) {
    // 'code' (100 bytes) moves into the middle of 'weights' (1000 bytes).
    def.mutable_segments(1)->set_alignment(64);
    def.mutable_segments(1)->set_offset(def.segments(0).offset() + 512);
  });
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("overlap"));
}

TEST(ModuleFileTest, MisalignedSegment) {
  std::string file = RewriteDef(BuildTestModule().file, [](mv1::ModuleDef& def) {
    def.mutable_segments(0)->set_offset(def.segments(0).offset() + 8);
  });
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("not aligned"));

  file = RewriteDef(BuildTestModule().file,
                    [](mv1::ModuleDef& def) { def.mutable_segments(0)->set_alignment(32); });
  EXPECT_EQ(Check(file).code(), absl::StatusCode::kDataLoss);
}

TEST(ModuleFileTest, ShaMismatch) {
  TestModule module = BuildTestModule();
  auto file = ModuleFile::FromBytes(Bytes(module.file));
  ASSERT_TRUE(file.ok());
  std::string corrupted = module.file;
  corrupted[(*file)->def().segments(0).offset() + 500] ^= 0x01;
  absl::Status status = Check(corrupted);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(), "segment 'weights' fails its SHA-256 check");

  corrupted = RewriteDef(module.file,
                         [](mv1::ModuleDef& def) { def.mutable_segments(1)->set_sha256("abc"); });
  EXPECT_EQ(Check(corrupted).code(), absl::StatusCode::kDataLoss);
}

TEST(ModuleFileTest, BadReferences) {
  std::string file = RewriteDef(BuildTestModule().file, [](mv1::ModuleDef& def) {
    def.mutable_constants(0)->set_segment(7);
  });
  EXPECT_EQ(Check(file).code(), absl::StatusCode::kDataLoss);

  file = RewriteDef(BuildTestModule().file, [](mv1::ModuleDef& def) {
    auto* executable = def.add_executables();
    executable->set_name("e");
    executable->set_segment(1);  // format left unspecified
  });
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("unsupported format"));
}

TEST(ModuleFileTest, BadSignatures) {
  std::string file = RewriteDef(BuildTestModule().file, [](mv1::ModuleDef& def) {
    def.mutable_functions(0)->mutable_inputs(0)->mutable_type()->set_dtype(
        static_cast<mv1::DataType>(99));
  });
  absl::Status status = Check(file);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("input 'x'"));

  file = RewriteDef(BuildTestModule().file, [](mv1::ModuleDef& def) {
    def.mutable_functions(0)->mutable_inputs(0)->mutable_type()->set_shape(0, -1);
  });
  EXPECT_EQ(Check(file).code(), absl::StatusCode::kInvalidArgument);

  file = RewriteDef(BuildTestModule().file,
                    [](mv1::ModuleDef& def) { *def.add_functions() = def.functions(0); });
  EXPECT_EQ(Check(file).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModuleFileTest, OpenMissingFile) {
  auto file = ModuleFile::Open(testing::TempDir() + "/no_such_module.kiln");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
}

TEST(ModuleFileTest, OpenRealFile) {
  TestModule module = BuildTestModule();
  const std::string path =
      testing::TempDir() + "/module_file_test_" + std::to_string(getpid()) + ".kiln";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(module.file.data(), static_cast<std::streamsize>(module.file.size()));
  }
  {
    auto file = ModuleFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ((*file)->bytes().size(), module.file.size());
    auto weights = (*file)->segment(0);
    EXPECT_EQ(std::string(weights.begin(), weights.end()), module.weights);
  }
  {
    // Errors from Open name the file.
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(module.file.data(), 100);
  }
  auto file = ModuleFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(path));
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);  // empty file
  }
  EXPECT_EQ(ModuleFile::Open(path).status().code(), absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
  EXPECT_EQ(ModuleFile::Open(testing::TempDir()).status().code(),
            absl::StatusCode::kInvalidArgument);  // a directory
}

std::string WriteTempModule(const std::string& name, const std::string& content) {
  const std::string path =
      testing::TempDir() + "/module_file_test_" + std::to_string(getpid()) + "_" + name;
  std::remove(path.c_str());
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// The bytes are read into the module's own memory: changing the file afterwards (in place, so
// a mapping would see it) changes nothing, and truncating it cannot fault.
TEST(ModuleFileTest, OpenedFileIsImmuneToChangesOfTheFile) {
  TestModule module = BuildTestModule();
  const std::string path = WriteTempModule("immune.kiln", module.file);
  auto file = ModuleFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  {
    std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
    out.write(std::string(module.file.size(), '\0').data(),
              static_cast<std::streamsize>(module.file.size()));
  }
  auto weights = (*file)->segment(0);
  EXPECT_EQ(std::string(weights.begin(), weights.end()), module.weights);
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  weights = (*file)->segment(0);
  EXPECT_EQ(std::string(weights.begin(), weights.end()), module.weights);
  auto all = (*file)->bytes();
  EXPECT_EQ(std::string(all.begin(), all.end()), module.file);
  std::remove(path.c_str());
}

TEST(ModuleFileTest, OpenReadsOnlyRegularFiles) {
  TestModule module = BuildTestModule();
  const std::string target = WriteTempModule("target.kiln", module.file);
  const std::string link =
      testing::TempDir() + "/module_file_test_" + std::to_string(getpid()) + "_link.kiln";
  std::remove(link.c_str());
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  // Followed by default (a path given to kiln-run), refused when asked (the artifact cache).
  EXPECT_TRUE(ModuleFile::Open(link).ok());
  ModuleOpenOptions no_links;
  no_links.follow_symlinks = false;
  auto refused = ModuleFile::Open(link, no_links);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(), "'" + link + "' is a symbolic link, which is not followed");

  // A FIFO with no writer: opened O_NONBLOCK and refused at once instead of waiting forever
  // (the test would hang here otherwise).
  const std::string fifo =
      testing::TempDir() + "/module_file_test_" + std::to_string(getpid()) + "_fifo.kiln";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto not_regular = ModuleFile::Open(fifo);
  EXPECT_EQ(not_regular.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(not_regular.status().message(), "'" + fifo + "' is not a regular file");
  std::remove(fifo.c_str());
  std::remove(link.c_str());
  std::remove(target.c_str());
}

TEST(ModuleFileTest, OpenChecksSizeAndAuthenticatesBeforeParsing) {
  TestModule module = BuildTestModule();
  const std::string path = WriteTempModule("checked.kiln", module.file);

  ModuleOpenOptions sized;
  sized.expected_size = module.file.size() + 1;
  auto wrong_size = ModuleFile::Open(path, sized);
  EXPECT_EQ(wrong_size.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(wrong_size.status().message(),
            absl::StrCat("module file '", path, "' has ", module.file.size(),
                         " bytes; its record says ", module.file.size() + 1, " (truncated)"));

  // The callback sees exactly the file's bytes, and its verdict stands.
  std::string seen;
  ModuleOpenOptions options;
  options.expected_size = module.file.size();
  options.authenticate = [&](std::span<const uint8_t> bytes) {
    seen.assign(bytes.begin(), bytes.end());
    return absl::OkStatus();
  };
  ASSERT_TRUE(ModuleFile::Open(path, options).ok());
  EXPECT_EQ(seen, module.file);
  options.authenticate = [](std::span<const uint8_t>) {
    return absl::DataLossError("not authentic");
  };
  auto rejected = ModuleFile::Open(path, options);
  EXPECT_EQ(rejected.status(), absl::DataLossError("not authentic"));

  // Run before the module is parsed: a file that is not a module at all gets the callback's
  // error, not the parser's.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a module";
  options.expected_size.reset();
  EXPECT_EQ(ModuleFile::Open(path, options).status(), absl::DataLossError("not authentic"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kiln::module
