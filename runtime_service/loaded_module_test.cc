#include "runtime_service/loaded_module.h"

#include <unistd.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/input_matching.h"
#include "runtime_service/testing/sanitizers.h"
#include "runtime_service/testing/test_modules.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

using namespace kiln::test_modules;  // NOLINT: the shared test-module helpers

// "add": inputs a, b f32[1000] -> result0 f32[1000], with a program still to be written.
Program AddFunction(module::ModuleBuilder& builder, uint32_t slot_count = 3) {
  mv1::FunctionDef* function = builder.def().add_functions();
  function->set_name("add");
  function->set_execution_model(mv1::EXECUTION_MODEL_INLINE_DYNAMIC);
  AddArg(function->mutable_inputs(), "a", mv1::DATA_TYPE_F32, {1000});
  AddArg(function->mutable_inputs(), "b", mv1::DATA_TYPE_F32, {1000});
  AddArg(function->mutable_outputs(), "result0", mv1::DATA_TYPE_F32, {1000});
  function->mutable_program()->set_slot_count(slot_count);
  return Program{function->mutable_program()};
}

absl::StatusOr<std::shared_ptr<LoadedModule>> Load(module::ModuleBuilder& builder) {
  auto bytes = builder.Serialize();
  if (!bytes.ok()) return bytes.status();
  auto file = module::ModuleFile::FromBytes(Bytes(*bytes));
  if (!file.ok()) return file.status();
  return LoadedModule::Load(std::move(*file));
}

const std::vector<int64_t> kShape1000 = {1000};

TensorView View(std::string_view name, const std::vector<float>& data,
                const std::vector<int64_t>& shape) {
  return TensorView{name, mv1::DATA_TYPE_F32, shape, Bytes(data)};
}

TEST(LoadedModuleTest, AddEndToEnd) {
  module::ModuleBuilder builder = NewBuilder();
  AddFunction(builder).BindInput(0, 0).BindInput(1, 1).BindOutput(2, 0).Dispatch(
      kAddF32, {4, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const mv1::FunctionDef* function = (*loaded)->FindFunction("add");
  ASSERT_NE(function, nullptr);
  EXPECT_EQ((*loaded)->FindFunction(""), function);  // the only function
  EXPECT_EQ((*loaded)->FindFunction("main"), nullptr);

  std::vector<float> a = Iota(1000, 0.5f, 1.0f), b = Iota(1000, -3.0f, 0.25f);
  TensorView tensors[] = {View("", a, kShape1000), View("", b, kShape1000)};
  auto inputs = MatchInputs(*function, tensors);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  auto outputs = (*loaded)->Invoke(*function, *inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 1u);
  const HostTensor& result = (*outputs)[0];
  EXPECT_EQ(result.name, "result0");
  EXPECT_EQ(result.dtype, mv1::DATA_TYPE_F32);
  EXPECT_EQ(result.shape, kShape1000);
  std::vector<float> expected(1000);
  for (size_t i = 0; i < 1000; ++i) expected[i] = a[i] + b[i];
  EXPECT_EQ(Values<float>(result.data), expected);

  // Concurrent invocations share nothing mutable.
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::vector<char> same(4, false);  // not vector<bool>: threads write neighbouring elements
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      bool all = true;
      for (int i = 0; i < 50; ++i) {
        auto out = (*loaded)->Invoke(*function, *inputs);
        all = all && out.ok() && Values<float>((*out)[0].data) == expected;
      }
      same[t] = all;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(same[t]) << t;
}

TEST(LoadedModuleTest, TransientCopyFillAndPushConstants) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = builder.def().add_functions();
  function->set_name("main");
  AddArg(function->mutable_inputs(), "x", mv1::DATA_TYPE_F32, {4});
  AddArg(function->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {8});
  AddArg(function->mutable_outputs(), "z", mv1::DATA_TYPE_F32, {4});
  AddArg(function->mutable_outputs(), "w", mv1::DATA_TYPE_U16, {3});
  AddArg(function->mutable_outputs(), "v", mv1::DATA_TYPE_U8, {5});
  function->mutable_program()->set_slot_count(6);
  function->mutable_program()->set_transient_arena_size(100);
  const float fill_value = 2.5f;
  std::string pattern4(4, '\0');
  std::memcpy(pattern4.data(), &fill_value, 4);
  const float pair[2] = {1.0f, -1.0f};
  std::string pattern8(8, '\0');
  std::memcpy(pattern8.data(), pair, 8);
  Program{function->mutable_program()}
      .BindInput(0, 0)
      .BindTransient(1, 64, 32)  // f32[8] at arena offset 64
      .Copy({0, 0, 16}, {1, 0, 16})
      .Fill({1, 16, 16}, pattern4)
      .BindOutput(2, 0)
      .Dispatch(kScaleF32, {1, 1, 1}, {{1, 0, 32}, {2, 0, 32}}, {std::bit_cast<uint32_t>(3.0f)})
      .BindOutput(3, 1)
      .Fill({3, 0, 16}, pattern8)
      .BindOutput(4, 2)
      .Fill({4, 0, 6}, std::string("\xef\xbe", 2))
      .BindOutput(5, 3)
      .Fill({5, 1, 3}, "\x7f");
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> x = {1, 2, 3, 4};
  const std::vector<int64_t> shape = {4};
  TensorView tensors[] = {View("x", x, shape)};
  auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("main"), tensors);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 4u);
  EXPECT_EQ(Values<float>((*outputs)[0].data),
            (std::vector<float>{3, 6, 9, 12, 7.5, 7.5, 7.5, 7.5}));
  EXPECT_EQ(Values<float>((*outputs)[1].data), (std::vector<float>{1, -1, 1, -1}));
  EXPECT_EQ(Values<uint16_t>((*outputs)[2].data), (std::vector<uint16_t>{0xbeef, 0xbeef, 0xbeef}));
  EXPECT_EQ((*outputs)[3].data, std::string("\0\x7f\x7f\x7f\0", 5));
  EXPECT_EQ((*outputs)[3].dtype, mv1::DATA_TYPE_U8);
}

TEST(LoadedModuleTest, FailingExportIsInternal) {
  module::ModuleBuilder builder = NewBuilder();
  AddFunction(builder).BindOutput(2, 0).Fill({2, 0, 4000}, "x").Dispatch(kFail, {2, 1, 1}, {});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> a(1000), b(1000);
  TensorView tensors[] = {View("a", a, kShape1000), View("b", b, kShape1000)};
  auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("add"), tensors);
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(outputs.status().message(),
            "function 'add' command 2: executable 'lib' export 'fail' failed with code 7 in "
            "workgroup (0, 0, 0)");
}

TEST(LoadedModuleTest, InvokeChecksItsArguments) {
  module::ModuleBuilder builder = NewBuilder();
  AddFunction(builder).BindInput(0, 0).BindInput(1, 1).BindOutput(2, 0).Dispatch(
      kAddF32, {1, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const mv1::FunctionDef& function = *(*loaded)->FindFunction("add");
  std::vector<float> a(1000), short_b(999);
  TensorView tensors[] = {View("a", a, kShape1000), View("b", short_b, kShape1000)};
  EXPECT_EQ((*loaded)->Invoke(function, tensors).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*loaded)->Invoke(function, std::span(tensors, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  mv1::FunctionDef copy = function;  // same program, but not one Load checked
  tensors[1] = View("b", a, kShape1000);
  auto outputs = (*loaded)->Invoke(copy, tensors);
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(outputs.status().message()), HasSubstr("does not belong to this module"));
  EXPECT_TRUE((*loaded)->Invoke(function, tensors).ok());
}

TEST(LoadedModuleTest, EmbeddedElfGoesThroughKilnsOwnLoader) {
  // The test library is an ordinary .so (libc, initializers): the embedded-ELF loader must
  // refuse it rather than hand it to the dynamic linker.
  module::ModuleBuilder builder = NewBuilder(mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF);
  auto loaded = Load(builder);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("embedded executables"));
}

TEST(LoadedModuleTest, LoadReportsExecutableErrors) {
  module::ModuleBuilder builder = NewBuilder();
  builder.def().mutable_executables(0)->set_exports(0, "sub_f32");
  auto loaded = Load(builder);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("'sub_f32'"));
}

// Each case writes a bad "add" program; Load must reject it before anything runs.
struct BadProgram {
  const char* label;
  std::function<void(Program&)> write;
  const char* message;  // expected substring after "function 'add' command N: "
  int command;
};

class LoadRejectsTest : public testing::TestWithParam<int> {};

const std::vector<BadProgram>& BadPrograms() {
  static const auto* cases = new std::vector<BadProgram>{
      {"slot out of range", [](Program& p) { p.BindInput(5, 0); },
       "slot 5 is out of range (slot_count 3)", 0},
      {"binding out of bounds",
       [](Program& p) {
         p.BindInput(0, 0).BindInput(1, 1).BindOutput(2, 0).Dispatch(
             kAddF32, {4, 1, 1}, {{0, 0, 4000}, {1, 4, 4000}, {2, 0, 4000}});
       },
       "dispatch of 'add_f32' binding 1 [offset 4, length 4000] is out of bounds of slot 1 "
       "(4000 bytes)",
       3},
      {"wrong binding count",
       [](Program& p) {
         p.BindInput(0, 0).BindInput(1, 1).Dispatch(kAddF32, {1, 1, 1},
                                                    {{0, 0, 4000}, {1, 0, 4000}});
       },
       "dispatch of 'add_f32' has 2 bindings; the export takes 3", 2},
      {"wrong constant count",
       [](Program& p) {
         p.BindInput(0, 0).BindOutput(1, 0).Dispatch(kScaleF32, {1, 1, 1},
                                                     {{0, 0, 4000}, {1, 0, 4000}});
       },
       "dispatch of 'scale_f32' has 0 push constants; the export takes 1", 2},
      {"bad export ordinal", [](Program& p) { p.Dispatch(9, {1, 1, 1}, {}); },
       "dispatch of export 9 but executable 'lib' has 5", 0},
      {"bad executable", [](Program& p) { p.Dispatch(kFail, {1, 1, 1}, {}, {}, 1); },
       "dispatch of executable 1 but the module has 1", 0},
      {"two workgroup counts", [](Program& p) { p.Dispatch(kFail, {1, 1}, {}); },
       "dispatch of 'fail' has 2 workgroup counts; it needs 3 (x, y, z)", 0},
      {"zero workgroups", [](Program& p) { p.Dispatch(kFail, {1, 0, 1}, {}); },
       "dispatch of 'fail' has a workgroup count of 0", 0},
      {"slot used before bound",
       [](Program& p) {
         p.BindInput(0, 0).BindOutput(2, 0).Dispatch(kAddF32, {1, 1, 1},
                                                     {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}});
       },
       "dispatch of 'add_f32' binding 1 uses slot 1 before it is bound", 2},
      {"bad input index", [](Program& p) { p.BindInput(0, 2); },
       "bind_input of input 2 but the function has 2", 0},
      {"bad output index", [](Program& p) { p.BindOutput(0, 1); },
       "bind_output of output 1 but the function has 1", 0},
      {"bad constant index", [](Program& p) { p.BindConstant(0, 0); },
       "bind_constant of constant 0 but the module has 0", 0},
      {"transient outside arena", [](Program& p) { p.BindTransient(0, 60, 8); },
       "bind_transient [offset 60, length 8] is outside the transient arena (64 bytes)", 0},
      {"copy out of bounds",
       [](Program& p) { p.BindInput(0, 0).BindOutput(1, 0).Copy({0, 0, 4000}, {1, 8, 4000}); },
       "copy target [offset 8, length 4000] is out of bounds of slot 1 (4000 bytes)", 2},
      {"copy length mismatch",
       [](Program& p) { p.BindInput(0, 0).BindOutput(1, 0).Copy({0, 0, 16}, {1, 0, 8}); },
       "copy source length 16 differs from target length 8", 2},
      {"copy into an input",
       [](Program& p) { p.BindInput(0, 0).BindOutput(1, 0).Copy({1, 0, 16}, {0, 0, 16}); },
       "copy target slot 0 is an input or constant, which are read-only", 2},
      {"fill pattern size", [](Program& p) { p.BindOutput(0, 0).Fill({0, 0, 12}, "abc"); },
       "fill pattern is 3 bytes; it must be 1, 2, 4 or 8", 1},
      {"fill length", [](Program& p) { p.BindOutput(0, 0).Fill({0, 0, 10}, "abcd"); },
       "fill length 10 is not a multiple of the 4-byte pattern", 1},
      {"empty command", [](Program& p) { p.program->add_commands(); }, "unknown or empty command",
       0},
      // What mutating a compiled module's metadata (hashes recomputed) produced (issue 15).
      {"output bound twice", [](Program& p) { p.BindOutput(2, 0).BindOutput(1, 0); },
       "bind_output of output 0, which command 0 already bound", 1},
      {"duplicated dispatch",
       [](Program& p) {
         p.BindInput(0, 0).BindInput(1, 1).BindOutput(2, 0);
         for (int i = 0; i < 2; ++i) {
           p.Dispatch(kAddF32, {4, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}}).Barrier();
         }
       },
       "dispatch of 'add_f32' duplicates command 3", 5},
      {"transient read before written",
       [](Program& p) { p.BindTransient(0, 0, 16).BindOutput(1, 0).Copy({0, 0, 16}, {1, 0, 16}); },
       "copy source slot 0 is read before anything writes it", 2},
      {"output read before written",
       [](Program& p) { p.BindOutput(0, 0).BindTransient(1, 0, 16).Copy({0, 0, 16}, {1, 0, 16}); },
       "copy source slot 0 is read before anything writes it", 2},
      {"rebound transient read before written",
       [](Program& p) {
         p.BindInput(0, 0)
             .BindTransient(1, 0, 16)
             .Copy({0, 0, 16}, {1, 0, 16})
             .BindTransient(1, 16, 16)
             .BindOutput(2, 0)
             .Copy({1, 0, 16}, {2, 0, 16});
       },
       "copy source slot 1 is read before anything writes it", 5},
      {"too many workgroups", [](Program& p) { p.Dispatch(kFail, {65536, 65536, 2}, {}); },
       "dispatch of 'fail' has 65536 x 65536 x 2 workgroups; the limit is 4294967296", 0},
      // What an export declares (executable ABI v2) holds every dispatch of it.
      {"grid other than compiled",
       [](Program& p) {
         p.BindInput(0, 0).BindOutput(1, 0).Dispatch(kCopy64, {4, 1, 1}, {{0, 0, 64}, {1, 0, 64}});
       },
       "dispatch of 'copy64' has 4 x 1 x 1 workgroups; the export was compiled for 2 x 1 x 1", 2},
      {"binding shorter than declared",
       [](Program& p) {
         p.BindInput(0, 0).BindOutput(1, 0).Dispatch(kCopy64, {2, 1, 1}, {{0, 0, 64}, {1, 8, 32}});
       },
       "dispatch of 'copy64' binding 1 is 32 bytes; the export accesses 64", 2},
      {"written binding on an input",
       [](Program& p) {
         p.BindInput(0, 0).BindInput(1, 1).Dispatch(kCopy64, {2, 1, 1}, {{0, 0, 64}, {1, 0, 64}});
       },
       "dispatch of 'copy64' binding 1 slot 1 is an input or constant, which are read-only", 2},
      {"dispatch reads a transient before it is written",
       [](Program& p) {
         p.BindTransient(0, 0, 64).BindOutput(1, 0).Dispatch(kCopy64, {2, 1, 1},
                                                             {{0, 0, 64}, {1, 0, 64}});
       },
       "dispatch of 'copy64' binding 0 slot 0 is read before anything writes it", 2},
      {"workgroup product past 2^64",
       [](Program& p) { p.Dispatch(kFail, {0xffffffffu, 0xffffffffu, 0xffffffffu}, {}); },
       "dispatch of 'fail' has 4294967295 x 4294967295 x 4294967295 workgroups; the limit is "
       "4294967296",
       0},
  };
  return *cases;
}

TEST_P(LoadRejectsTest, BadProgram) {
  const BadProgram& bad = BadPrograms()[GetParam()];
  module::ModuleBuilder builder = NewBuilder();
  Program program = AddFunction(builder);
  program.program->set_transient_arena_size(64);
  bad.write(program);
  auto loaded = Load(builder);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << bad.label;
  EXPECT_EQ(loaded.status().message(),
            absl::StrCat("function 'add' command ", bad.command, ": ", bad.message))
      << bad.label;
}

INSTANTIATE_TEST_SUITE_P(AllCases, LoadRejectsTest,
                         testing::Range(0, static_cast<int>(BadPrograms().size())));

// Errors about the program as a whole, found after its last command.
TEST(LoadedModuleTest, LoadRejectsOutputsTheProgramNeverProduces) {
  const std::vector<std::pair<std::function<void(Program&)>, std::string>> cases = {
      {[](Program& p) { p.BindInput(0, 0).BindInput(1, 1); },
       "function 'add': output 0 ('result0') is never bound"},
      // The dispatch deleted.
      {[](Program& p) { p.BindInput(0, 0).BindInput(1, 1).BindOutput(2, 0).Barrier(); },
       "function 'add': output 0 ('result0') is never written"},
      // Written through a slot that was then rebound to the output: the output itself is not.
      {[](Program& p) { p.BindTransient(2, 0, 64).Fill({2, 0, 64}, "x").BindOutput(2, 0); },
       "function 'add': output 0 ('result0') is never written"},
  };
  for (const auto& [write, message] : cases) {
    module::ModuleBuilder builder = NewBuilder();
    Program program = AddFunction(builder);
    program.program->set_transient_arena_size(64);
    write(program);
    auto loaded = Load(builder);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_EQ(loaded.status().message(), message);
  }
}

// Signature shapes whose byte size does not fit kMaxTensorBytes, or with negative dimensions,
// are refused by the reader, before any program is looked at.
TEST(LoadedModuleTest, LoadRejectsShapesBeyondTheLimit) {
  const std::vector<std::pair<std::vector<int64_t>, std::string>> cases = {
      {{int64_t{1} << 31, int64_t{1} << 31, 4}, "tensor shape is too large"},
      {{int64_t{1} << 61}, "tensor shape is too large"},  // 2^63 bytes of f32
      {{4, -1}, "negative dimension -1"},
  };
  for (const auto& [shape, message] : cases) {
    module::ModuleBuilder builder = NewBuilder();
    AddFunction(builder).BindInput(0, 0).BindInput(1, 1).BindOutput(2, 0).Dispatch(
        kAddF32, {4, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}});
    auto* result = builder.def().mutable_functions(0)->mutable_outputs(0)->mutable_type();
    result->clear_shape();
    for (int64_t dim : shape) result->add_shape(dim);
    auto loaded = Load(builder);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_EQ(loaded.status().message(), "function 'add' output 'result0': " + message);
  }
}

// An output of 2^40 elements is within the format's limit: loading it is fine, and invoking it
// is RESOURCE_EXHAUSTED, never an abort (issue 15: SIGABRT from std::bad_alloc).
TEST(LoadedModuleTest, HugeOutputIsResourceExhaustedNotACrash) {
  // ASan's operator new reports a failed throwing allocation as fatal instead of throwing.
  if (KILN_SANITIZED) GTEST_SKIP() << "sanitizer builds replace the allocator";
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = builder.def().add_functions();
  function->set_name("main");
  AddArg(function->mutable_outputs(), "huge", mv1::DATA_TYPE_F32, {int64_t{1} << 40});
  function->mutable_program()->set_slot_count(1);
  Program{function->mutable_program()}.BindOutput(0, 0).Fill({0, 0, 16}, "x");
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("main"), {});
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(outputs.status().message(),
            "function 'main': out of memory allocating output 'huge' (f32[1099511627776], "
            "4398046511104 bytes)");
}

TEST(LoadedModuleTest, LoadRejectsHugeSlotCount) {
  module::ModuleBuilder builder = NewBuilder();
  AddFunction(builder, 0xffffffffu);
  auto loaded = Load(builder);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("slot_count"));
}

// ---- Signatures and input matching (no executables needed) ----

// A loaded module is immune to later changes of its file: the weights and the executable were
// copied out of it when it was opened (module_file.h), so overwriting the file in place cannot
// change an answer and truncating it cannot fault (SIGBUS) the next Invoke.
TEST(LoadedModuleTest, LoadedModuleIgnoresChangesToItsFile) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = builder.def().add_functions();
  function->set_name("add_weights");
  AddArg(function->mutable_inputs(), "a", mv1::DATA_TYPE_F32, {1000});
  AddArg(function->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {1000});
  function->mutable_program()->set_slot_count(3);
  std::vector<float> weights = Iota(1000, 100.0f, 0.5f);
  mv1::ConstantDef* constant = builder.def().add_constants();
  constant->set_name("w");
  constant->set_segment(builder.AddSegment("w", Bytes(weights)));
  Program{function->mutable_program()}.BindInput(0, 0).BindConstant(1, 0).BindOutput(2, 0).Dispatch(
      kAddF32, {4, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}});
  auto bytes = builder.Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const std::string path =
      ::testing::TempDir() + "/loaded_module_test_immune_" + std::to_string(::getpid()) + ".kmod";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << *bytes;
  auto file = module::ModuleFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto loaded = LoadedModule::Load(std::move(*file));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const mv1::FunctionDef* add = (*loaded)->FindFunction("add_weights");
  ASSERT_NE(add, nullptr);

  std::vector<float> a = Iota(1000, -1.0f, 0.25f);
  std::vector<float> expected(1000);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = a[i] + weights[i];
  TensorView inputs[] = {View("a", a, kShape1000)};
  auto invoke = [&] {
    auto outputs = (*loaded)->Invoke(*add, inputs);
    EXPECT_TRUE(outputs.ok()) << outputs.status();
    return outputs.ok() ? Values<float>((*outputs)[0].data) : std::vector<float>();
  };
  EXPECT_EQ(invoke(), expected);

  // Every byte overwritten in place (same inode): weights, executable, metadata.
  {
    std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
    std::string garbage(bytes->size(), '\x7f');
    out.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  EXPECT_EQ(invoke(), expected);
  // Truncated in place: with the file mapped, this was a SIGBUS on the next access.
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  EXPECT_EQ(invoke(), expected);
  std::remove(path.c_str());
  EXPECT_EQ(invoke(), expected);
}

}  // namespace
}  // namespace kiln
