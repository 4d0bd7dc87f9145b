// The invocation API under both execution models: the same end-to-end programs (modules
// wrapping loader/testdata/test_library.c) must give the same outputs inline and on the async
// HAL. Also the model choice itself and arena reuse in steady state.
#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/loaded_module.h"
#include "runtime_service/testing/test_modules.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using namespace kiln::test_modules;  // NOLINT: the shared test-module helpers

mv1::FunctionDef* NewFunction(module::ModuleBuilder& builder, const std::string& name,
                              uint32_t slot_count,
                              mv1::ExecutionModel model = mv1::EXECUTION_MODEL_INLINE_DYNAMIC) {
  mv1::FunctionDef* function = builder.def().add_functions();
  function->set_name(name);
  function->set_execution_model(model);
  function->mutable_program()->set_slot_count(slot_count);
  return function;
}

absl::StatusOr<std::shared_ptr<LoadedModule>> Load(module::ModuleBuilder& builder,
                                                   std::shared_ptr<hal::Device> device) {
  auto bytes = builder.Serialize();
  if (!bytes.ok()) return bytes.status();
  auto file = module::ModuleFile::FromBytes(Bytes(*bytes));
  if (!file.ok()) return file.status();
  return LoadedModule::Load(std::move(*file), std::move(device));
}

TensorView View(std::string_view name, const std::vector<float>& data,
                const std::vector<int64_t>& shape) {
  return TensorView{name, mv1::DATA_TYPE_F32, shape, Bytes(data)};
}

const std::vector<int64_t> kShape1000 = {1000};

std::shared_ptr<hal::Device> SharedDevice() {
  static std::shared_ptr<hal::Device> device = [] {
    auto created = hal::Device::Create({.worker_count = 3});
    EXPECT_TRUE(created.ok()) << created.status();
    return *created;
  }();
  return device;
}

// ---- The same programs under both models ----

class InvokeModelTest : public testing::TestWithParam<ExecutionModelOverride> {
 protected:
  InvokeOptions options() const { return {GetParam()}; }
  // Stages of the recorded command buffer of `name`.
  static size_t StageCount(const LoadedModule& loaded, const char* name) {
    const hal::CommandBuffer* commands = loaded.command_buffer(*loaded.FindFunction(name));
    return commands == nullptr ? 0 : commands->stages().size();
  }
  absl::StatusOr<std::shared_ptr<LoadedModule>> Load(module::ModuleBuilder& builder) {
    return kiln::Load(builder, SharedDevice());
  }
};

// An export that trusts its declarations (binding lengths, grid), as compiled code does, runs on
// exactly that grid; loaded_module_test's LoadRejectsTest has the programs Load refuses.
TEST_P(InvokeModelTest, DeclaredExportRunsOnItsGrid) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = NewFunction(builder, "copy", 2);
  AddArg(function->mutable_inputs(), "a", mv1::DATA_TYPE_F32, {32});
  AddArg(function->mutable_outputs(), "result0", mv1::DATA_TYPE_F32, {32});
  Program{function->mutable_program()}.BindInput(0, 0).BindOutput(1, 0).Dispatch(
      kCopy64, {2, 1, 1}, {{0, 0, 64}, {1, 64, 64}});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> a = Iota(32, 0.5f, 1.0f);
  const std::vector<int64_t> shape = {32};
  TensorView inputs[] = {View("a", a, shape)};
  std::vector<float> expected(32, 0.0f);
  std::copy(a.begin(), a.begin() + 16, expected.begin() + 16);
  auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("copy"), inputs, options());
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(Values<float>((*outputs)[0].data), expected);
}

TEST_P(InvokeModelTest, AddEndToEndAndConcurrently) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = NewFunction(builder, "add", 3);
  AddArg(function->mutable_inputs(), "a", mv1::DATA_TYPE_F32, {1000});
  AddArg(function->mutable_inputs(), "b", mv1::DATA_TYPE_F32, {1000});
  AddArg(function->mutable_outputs(), "result0", mv1::DATA_TYPE_F32, {1000});
  Program{function->mutable_program()}.BindInput(0, 0).BindInput(1, 1).BindOutput(2, 0).Dispatch(
      kAddF32, {7, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const mv1::FunctionDef& add = *(*loaded)->FindFunction("add");
  std::vector<float> a = Iota(1000, 0.5f, 1.0f), b = Iota(1000, -3.0f, 0.25f);
  TensorView inputs[] = {View("a", a, kShape1000), View("b", b, kShape1000)};
  std::vector<float> expected(1000);
  for (size_t i = 0; i < 1000; ++i) expected[i] = a[i] + b[i];

  auto outputs = (*loaded)->Invoke(add, inputs, options());
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 1u);
  EXPECT_EQ((*outputs)[0].name, "result0");
  EXPECT_EQ((*outputs)[0].shape, kShape1000);
  EXPECT_EQ(Values<float>((*outputs)[0].data), expected);

  std::vector<std::thread> threads;
  threads.reserve(4);
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto out = (*loaded)->Invoke(add, inputs, options());
        wrong[t] += !(out.ok() && Values<float>((*out)[0].data) == expected);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << t;
}

TEST_P(InvokeModelTest, ConstantSegmentAsInput) {
  module::ModuleBuilder builder = NewBuilder();
  std::vector<float> bias = Iota(1000, 100.0f, -0.5f);
  mv1::ConstantDef* constant = builder.def().add_constants();
  constant->set_name("bias");
  constant->set_segment(builder.AddSegment("bias", Bytes(bias)));
  mv1::FunctionDef* function = NewFunction(builder, "main", 3);
  AddArg(function->mutable_inputs(), "a", mv1::DATA_TYPE_F32, {1000});
  AddArg(function->mutable_outputs(), "result0", mv1::DATA_TYPE_F32, {1000});
  Program{function->mutable_program()}
      .BindInput(0, 0)
      .BindConstant(1, 0)
      .BindOutput(2, 0)
      .Barrier()
      .Dispatch(kAddF32, {3, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> a = Iota(1000, 1.0f, 2.0f);
  TensorView inputs[] = {View("a", a, kShape1000)};
  auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction(""), inputs, options());
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  std::vector<float> expected(1000);
  for (size_t i = 0; i < 1000; ++i) expected[i] = a[i] + bias[i];
  EXPECT_EQ(Values<float>((*outputs)[0].data), expected);
}

// No barriers in the program although each command reads what the previous wrote: the async
// recorder must order them itself.
TEST_P(InvokeModelTest, TransientCopyFillAndPushConstantsWithoutBarriers) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = NewFunction(builder, "main", 6);
  AddArg(function->mutable_inputs(), "x", mv1::DATA_TYPE_F32, {4});
  AddArg(function->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {8});
  AddArg(function->mutable_outputs(), "z", mv1::DATA_TYPE_F32, {4});
  AddArg(function->mutable_outputs(), "w", mv1::DATA_TYPE_U16, {3});
  AddArg(function->mutable_outputs(), "v", mv1::DATA_TYPE_U8, {5});
  function->mutable_program()->set_transient_arena_size(100);
  const float fill_value = 2.5f;
  std::string pattern4(4, '\0');
  std::memcpy(pattern4.data(), &fill_value, 4);
  const float pair[2] = {1.0f, -1.0f};
  std::string pattern8(8, '\0');
  std::memcpy(pattern8.data(), pair, 8);
  Program{function->mutable_program()}
      .BindInput(0, 0)
      .BindTransient(1, 64, 32)
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
  // copy + fill; then (reading what they wrote) the dispatch and the output fills.
  EXPECT_EQ(StageCount(**loaded, "main"), 2u);
  std::vector<float> x = {1, 2, 3, 4};
  const std::vector<int64_t> shape = {4};
  TensorView inputs[] = {View("x", x, shape)};
  for (int run = 0; run < 20; ++run) {
    auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("main"), inputs, options());
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    ASSERT_EQ(outputs->size(), 4u);
    EXPECT_EQ(Values<float>((*outputs)[0].data),
              (std::vector<float>{3, 6, 9, 12, 7.5, 7.5, 7.5, 7.5}));
    EXPECT_EQ(Values<float>((*outputs)[1].data), (std::vector<float>{1, -1, 1, -1}));
    EXPECT_EQ(Values<uint16_t>((*outputs)[2].data),
              (std::vector<uint16_t>{0xbeef, 0xbeef, 0xbeef}));
    EXPECT_EQ((*outputs)[3].data, std::string("\0\x7f\x7f\x7f\0", 5));
  }
}

TEST_P(InvokeModelTest, WorkgroupGridAndSizeHint) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = NewFunction(builder, "main", 1);
  AddArg(function->mutable_outputs(), "ids", mv1::DATA_TYPE_U32, {12, 4});
  Program{function->mutable_program()}.BindOutput(0, 0).Dispatch(kProbe, {3, 2, 2}, {{0, 0, 192}});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("main"), {}, options());
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  std::vector<uint32_t> probe = Values<uint32_t>((*outputs)[0].data);
  size_t linear = 0;
  for (uint32_t z = 0; z < 2; ++z) {
    for (uint32_t y = 0; y < 2; ++y) {
      for (uint32_t x = 0; x < 3; ++x, ++linear) {
        EXPECT_EQ(probe[linear * 4], x | y << 8 | z << 16) << linear;
        EXPECT_EQ(probe[linear * 4 + 1], 8u);
        EXPECT_EQ(probe[linear * 4 + 2], 4u);
        EXPECT_EQ(probe[linear * 4 + 3], 2u);
      }
    }
  }
}

TEST_P(InvokeModelTest, FailingExportIsInternal) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = NewFunction(builder, "add", 1);
  AddArg(function->mutable_outputs(), "result0", mv1::DATA_TYPE_F32, {4});
  // The fill writes the output: Load refuses a program that never writes one.
  Program{function->mutable_program()}
      .BindOutput(0, 0)
      .Fill({0, 0, 16}, "x")
      .Dispatch(kFail, {2, 1, 1}, {});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("add"), {}, options());
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kInternal);
  // Which of the two workgroups fails first is up to the scheduler under async.
  EXPECT_THAT(std::string(outputs.status().message()),
              StartsWith("function 'add' command 2: executable 'lib' export 'fail' failed with "
                         "code 7 in workgroup ("));
}

// add (several workgroups) then scale of its result: correct only if ordered. Once with the
// program's barrier, once relying on the recorder's hazard tracking.
TEST_P(InvokeModelTest, DependentDispatches) {
  for (bool barrier : {true, false}) {
    module::ModuleBuilder builder = NewBuilder();
    mv1::FunctionDef* function = NewFunction(builder, "main", 4);
    AddArg(function->mutable_inputs(), "a", mv1::DATA_TYPE_F32, {1000});
    AddArg(function->mutable_inputs(), "b", mv1::DATA_TYPE_F32, {1000});
    AddArg(function->mutable_outputs(), "result0", mv1::DATA_TYPE_F32, {1000});
    function->mutable_program()->set_transient_arena_size(4000);
    Program program{function->mutable_program()};
    program.BindInput(0, 0)
        .BindInput(1, 1)
        .BindTransient(2, 0, 4000)
        .BindOutput(3, 0)
        .Dispatch(kAddF32, {16, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}});
    if (barrier) program.Barrier();
    program.Dispatch(kScaleF32, {1, 1, 1}, {{2, 0, 4000}, {3, 0, 4000}},
                     {std::bit_cast<uint32_t>(-2.0f)});
    auto loaded = Load(builder);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(StageCount(**loaded, "main"), 2u) << "barrier " << barrier;
    std::vector<float> a = Iota(1000, 1.0f, 3.0f), b = Iota(1000, 7.0f, -1.0f);
    TensorView inputs[] = {View("", a, kShape1000), View("", b, kShape1000)};
    std::vector<float> expected(1000);
    for (size_t i = 0; i < 1000; ++i) expected[i] = -2.0f * (a[i] + b[i]);
    for (int run = 0; run < 50; ++run) {
      auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("main"), inputs, options());
      ASSERT_TRUE(outputs.ok()) << outputs.status();
      ASSERT_EQ(Values<float>((*outputs)[0].data), expected) << "barrier " << barrier;
    }
  }
}

// A slot bound twice, and two transient slots overlapping in the arena.
TEST_P(InvokeModelTest, RebindingAndAliasing) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = NewFunction(builder, "main", 3);
  AddArg(function->mutable_inputs(), "a", mv1::DATA_TYPE_F32, {4});
  AddArg(function->mutable_inputs(), "b", mv1::DATA_TYPE_F32, {4});
  AddArg(function->mutable_outputs(), "ab", mv1::DATA_TYPE_F32, {8});
  AddArg(function->mutable_outputs(), "tail", mv1::DATA_TYPE_F32, {4});
  function->mutable_program()->set_transient_arena_size(64);
  Program{function->mutable_program()}
      .BindOutput(1, 0)
      .BindInput(0, 0)
      .Copy({0, 0, 16}, {1, 0, 16})
      .BindInput(0, 1)  // slot 0 now means b
      .Copy({0, 0, 16}, {1, 16, 16})
      .BindTransient(2, 0, 32)
      .Copy({1, 0, 32}, {2, 0, 32})  // arena[0, 32) = a ++ b
      .BindTransient(0, 16, 16)      // aliases arena[16, 32) = b
      .BindOutput(2, 1)
      .Copy({0, 0, 16}, {2, 0, 16});
  auto loaded = Load(builder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // The two copies into the output; the copy reading it; the copy reading the aliased arena.
  EXPECT_EQ(StageCount(**loaded, "main"), 3u);
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};
  const std::vector<int64_t> shape = {4};
  TensorView inputs[] = {View("a", a, shape), View("b", b, shape)};
  for (int run = 0; run < 20; ++run) {
    auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction("main"), inputs, options());
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    EXPECT_EQ(Values<float>((*outputs)[0].data), (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(Values<float>((*outputs)[1].data), b);
  }
}

// Steady state: the transient arena comes from the pool, no new allocation per invocation.
TEST_P(InvokeModelTest, ArenaIsReused) {
  auto device = hal::Device::Create({.worker_count = 2});
  ASSERT_TRUE(device.ok());
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = NewFunction(builder, "main", 2);
  AddArg(function->mutable_inputs(), "x", mv1::DATA_TYPE_F32, {4});
  AddArg(function->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {4});
  function->mutable_program()->set_transient_arena_size(1 << 20);
  Program{function->mutable_program()}
      .BindInput(0, 0)
      .BindTransient(1, 4096, 16)
      .Copy({0, 0, 16}, {1, 0, 16})
      .BindOutput(0, 0)
      .Copy({1, 0, 16}, {0, 0, 16});
  auto loaded = kiln::Load(builder, *device);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> x = {1, 2, 3, 4};
  const std::vector<int64_t> shape = {4};
  TensorView inputs[] = {View("x", x, shape)};
  const mv1::FunctionDef& main = *(*loaded)->FindFunction("main");
  ASSERT_TRUE((*loaded)->Invoke(main, inputs, options()).ok());
  const hal::ArenaPool::Stats warm = (*device)->arena_pool().stats();
  EXPECT_EQ(warm.allocations, 1u);
  for (int i = 0; i < 200; ++i) {
    auto outputs = (*loaded)->Invoke(main, inputs, options());
    ASSERT_TRUE(outputs.ok());
    ASSERT_EQ(Values<float>((*outputs)[0].data), x);
  }
  EXPECT_EQ((*device)->arena_pool().stats().allocations, 1u);
  EXPECT_EQ((*device)->arena_pool().stats().reuses, warm.reuses + 200);
}

INSTANTIATE_TEST_SUITE_P(BothModels, InvokeModelTest,
                         testing::Values(ExecutionModelOverride::kInline,
                                         ExecutionModelOverride::kAsync),
                         [](const testing::TestParamInfo<ExecutionModelOverride>& info) {
                           return info.param == ExecutionModelOverride::kAsync ? "Async" : "Inline";
                         });

// ---- Choosing the model ----

module::ModuleBuilder TwoModelModule() {
  module::ModuleBuilder builder = NewBuilder();
  for (auto [name, model] : {std::pair{"fast", mv1::EXECUTION_MODEL_INLINE_DYNAMIC},
                             std::pair{"wide", mv1::EXECUTION_MODEL_ASYNC}}) {
    mv1::FunctionDef* function = NewFunction(builder, name, 1, model);
    AddArg(function->mutable_outputs(), "ids", mv1::DATA_TYPE_U32, {1, 4});
    Program{function->mutable_program()}.BindOutput(0, 0).Dispatch(kProbe, {1, 1, 1}, {{0, 0, 16}});
  }
  return builder;
}

TEST(ExecutionModelTest, AsyncNeedsADevice) {
  module::ModuleBuilder builder = TwoModelModule();
  auto loaded = Load(builder, nullptr);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->device(), nullptr);
  // Recorded all the same: the inline executor runs the same command buffer.
  EXPECT_NE((*loaded)->command_buffer(*(*loaded)->FindFunction("wide")), nullptr);
  const mv1::FunctionDef& fast = *(*loaded)->FindFunction("fast");
  const mv1::FunctionDef& wide = *(*loaded)->FindFunction("wide");
  EXPECT_TRUE((*loaded)->Invoke(fast, {}).ok());  // default: its own (inline) model
  EXPECT_TRUE((*loaded)->Invoke(wide, {}, {ExecutionModelOverride::kInline}).ok());

  auto status = (*loaded)->Invoke(wide, {}).status();  // default: async
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "function 'wide' uses the async execution model but the module was loaded without a "
            "HAL device; load it with a device or invoke it with the inline model");
  status = (*loaded)->Invoke(fast, {}, {ExecutionModelOverride::kAsync}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("'fast' was invoked with the async execution model"));
}

TEST(ExecutionModelTest, DefaultFollowsTheFunction) {
  InvokeOptions defaults;
  mv1::FunctionDef function;
  EXPECT_FALSE(LoadedModule::UsesAsync(function, defaults));  // unspecified: inline
  function.set_execution_model(mv1::EXECUTION_MODEL_ASYNC);
  EXPECT_TRUE(LoadedModule::UsesAsync(function, defaults));
  EXPECT_FALSE(LoadedModule::UsesAsync(function, {ExecutionModelOverride::kInline}));
  function.set_execution_model(mv1::EXECUTION_MODEL_INLINE_DYNAMIC);
  EXPECT_FALSE(LoadedModule::UsesAsync(function, defaults));
  EXPECT_TRUE(LoadedModule::UsesAsync(function, {ExecutionModelOverride::kAsync}));

  module::ModuleBuilder builder = TwoModelModule();
  auto loaded = Load(builder, SharedDevice());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (const char* name : {"fast", "wide"}) {
    for (auto model : {ExecutionModelOverride::kDefault, ExecutionModelOverride::kAsync,
                       ExecutionModelOverride::kInline}) {
      auto outputs = (*loaded)->Invoke(*(*loaded)->FindFunction(name), {}, {model});
      ASSERT_TRUE(outputs.ok()) << outputs.status();
      EXPECT_EQ(Values<uint32_t>((*outputs)[0].data), (std::vector<uint32_t>{0, 8, 4, 2}));
    }
  }
}

TEST(ExecutionModelTest, LoadWithADeviceStillValidates) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = NewFunction(builder, "main", 1);
  AddArg(function->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {4});
  Program{function->mutable_program()}.BindOutput(0, 0).Dispatch(kProbe, {1, 1, 1}, {{0, 8, 16}});
  auto loaded = Load(builder, SharedDevice());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("out of bounds of slot 0"));
}

}  // namespace
}  // namespace kiln
