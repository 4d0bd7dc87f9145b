// Steady-state invocation allocates nothing on the heap (issue 4): after a warm-up, repeated
// InvokeInto calls make zero calls to malloc and friends, on the calling thread and on the
// executor's workers alike, under both execution models.
//
// The count is exact: this binary interposes the C allocator (glibc's malloc family, which
// operator new also goes through) and counts every call while armed. Sanitizer builds bring
// their own allocator, so there the test is skipped.
#include <malloc.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/loaded_module.h"
#include "runtime_service/testing/sanitizers.h"
#include "runtime_service/testing/test_modules.h"

#define KILN_COUNTS_ALLOCATIONS (!KILN_SANITIZED)

namespace {
std::atomic<bool> g_armed{false};
std::atomic<uint64_t> g_allocations{0};

inline void Count() {
  if (g_armed.load(std::memory_order_relaxed))
    g_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

#if KILN_COUNTS_ALLOCATIONS
// glibc's own entry points, exported for exactly this kind of interposition.
extern "C" {
// NOLINTBEGIN(bugprone-reserved-identifier): glibc's names, not ours to choose
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t nmemb, size_t size);
void* __libc_realloc(void* ptr, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* ptr);
// NOLINTEND(bugprone-reserved-identifier)

void* malloc(size_t size) {
  Count();
  return __libc_malloc(size);
}
// Parameters named as glibc's declarations name them.
void* calloc(size_t nmemb, size_t size) {
  Count();
  return __libc_calloc(nmemb, size);
}
void* realloc(void* ptr, size_t size) {
  Count();
  return __libc_realloc(ptr, size);
}
void* memalign(size_t alignment, size_t size) {
  Count();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) {
  Count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** memptr, size_t alignment, size_t size) {
  Count();
  void* pointer = __libc_memalign(alignment, size);
  if (pointer == nullptr) return ENOMEM;
  *memptr = pointer;
  return 0;
}
void free(void* ptr) { __libc_free(ptr); }
}
#endif

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using namespace kiln::test_modules;  // NOLINT: the shared test-module helpers

// Counts the allocations `body` makes on any thread.
template <typename Body>
uint64_t CountAllocations(Body body) {
  g_allocations.store(0);
  g_armed.store(true);
  body();
  g_armed.store(false);
  return g_allocations.load();
}

class InvokeAllocationTest : public testing::TestWithParam<ExecutionModelOverride> {
 protected:
  void SetUp() override {
    if (!KILN_COUNTS_ALLOCATIONS) GTEST_SKIP() << "sanitizer builds replace the allocator";
    // The interposed malloc must be the one in use, or a zero count would prove nothing.
    const uint64_t seen = CountAllocations([] {
      void* probe = std::malloc(64);
      sink_ = probe;
      std::free(probe);
      auto owned = std::make_unique<std::string>(100, 'x');
      sink_ = owned.get();
    });
    // malloc, then new: the string object and its 100-byte buffer.
    ASSERT_EQ(seen, 3u) << "the allocation counter does not see allocations";
  }

  // Warms up until 100 invocations in a row allocate nothing (arenas, pooled executions and
  // per-thread tables reach their sizes) and the executor is quiescent, then invokes 300 times
  // with `check` after each and returns the allocations those invocations made.
  template <typename Check>
  uint64_t SteadyStateAllocations(const LoadedModule& loaded, const mv1::FunctionDef& function,
                                  std::span<const TensorView> inputs,
                                  std::span<const std::span<uint8_t>> outputs, Check check) {
    const InvokeOptions options{GetParam()};
    auto invoke = [&] {
      bool ok = false;
      const uint64_t count = CountAllocations(
          [&] { ok = loaded.InvokeInto(function, inputs, outputs, options).ok(); });
      EXPECT_TRUE(ok);
      return count;
    };
    int quiet = 0;
    for (int i = 0; i < 5000 && quiet < 100; ++i) quiet = invoke() == 0 ? quiet + 1 : 0;
    EXPECT_EQ(quiet, 100) << "invocations kept allocating through the warm-up";
    // A worker preempted while it held a finished execution gives it back (and the pool grows
    // it to the largest tables seen) only when it runs again: let that happen before counting.
    const hal::TaskExecutor& executor = Device()->executor();
    for (int i = 0; i < 5000 && executor.executions_in_flight() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(executor.executions_in_flight(), 0u);
    uint64_t total = 0;
    for (int i = 0; i < 300; ++i) {
      for (std::span<uint8_t> output : outputs) std::memset(output.data(), 0xcd, output.size());
      total += invoke();
      check();
    }
    return total;
  }

  static std::shared_ptr<hal::Device> Device() {
    static std::shared_ptr<hal::Device> device = [] {
      auto created = hal::Device::Create({.worker_count = 2});
      EXPECT_TRUE(created.ok()) << created.status();
      return *created;
    }();
    return device;
  }

  static inline void* volatile sink_ = nullptr;
};

// A program with every kind of command: constants, a transient, copy, fill, multi-workgroup
// dispatches with push constants, and barriers (three stages on the async HAL).
TEST_P(InvokeAllocationTest, EveryCommandKind) {
  module::ModuleBuilder builder = NewBuilder();
  std::vector<float> bias = Iota(1000, 100.0f, -0.5f);
  mv1::ConstantDef* constant = builder.def().add_constants();
  constant->set_name("bias");
  constant->set_segment(builder.AddSegment("bias", Bytes(bias)));
  mv1::FunctionDef* function = builder.def().add_functions();
  function->set_name("main");
  function->mutable_program()->set_slot_count(4);
  function->mutable_program()->set_transient_arena_size(8000);
  AddArg(function->mutable_inputs(), "a", mv1::DATA_TYPE_F32, {1000});
  AddArg(function->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {1000});
  AddArg(function->mutable_outputs(), "z", mv1::DATA_TYPE_F32, {4});
  const float two = 2.0f;
  std::string pattern(4, '\0');
  std::memcpy(pattern.data(), &two, 4);
  Program{function->mutable_program()}
      .BindInput(0, 0)
      .BindConstant(1, 0)
      .BindTransient(2, 0, 8000)
      .BindOutput(3, 0)
      .Copy({0, 0, 4000}, {2, 4000, 4000})
      .Dispatch(kAddF32, {7, 1, 1}, {{0, 0, 4000}, {1, 0, 4000}, {2, 0, 4000}})
      .Barrier()
      .Dispatch(kAddF32, {5, 1, 1}, {{2, 0, 4000}, {2, 4000, 4000}, {2, 0, 4000}})
      .Barrier()
      .Dispatch(kScaleF32, {1, 1, 1}, {{2, 0, 4000}, {3, 0, 4000}}, {std::bit_cast<uint32_t>(0.5f)})
      .BindOutput(3, 1)
      .Fill({3, 0, 16}, pattern);
  auto bytes = builder.Serialize();
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto file = module::ModuleFile::FromBytes(Bytes(*bytes));
  ASSERT_TRUE(file.ok()) << file.status();
  auto loaded = LoadedModule::Load(std::move(*file), Device());
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  std::vector<float> a = Iota(1000, 1.0f, 2.0f);
  const std::vector<int64_t> shape = {1000};
  TensorView inputs[] = {{"a", mv1::DATA_TYPE_F32, shape, Bytes(a)}};
  std::vector<float> y(1000), z(4);
  std::span<uint8_t> outputs[] = {{reinterpret_cast<uint8_t*>(y.data()), 4000},
                                  {reinterpret_cast<uint8_t*>(z.data()), 16}};
  std::vector<float> expected(1000);
  for (size_t i = 0; i < 1000; ++i) expected[i] = ((a[i] + bias[i]) + a[i]) * 0.5f;

  const uint64_t allocations =
      SteadyStateAllocations(**loaded, *(*loaded)->FindFunction("main"), inputs, outputs, [&] {
        EXPECT_EQ(y, expected);
        EXPECT_EQ(z, (std::vector<float>{2, 2, 2, 2}));
      });
  EXPECT_EQ(allocations, 0u);
}

// The compiled MLP example (kiln-compile at build time): real generated code, several
// dispatches and transients.
TEST_P(InvokeAllocationTest, CompiledMlp) {
  auto file = module::ModuleFile::Open(KILN_TEST_MLP_MODULE);
  ASSERT_TRUE(file.ok()) << file.status();
  auto loaded = LoadedModule::Load(std::move(*file), Device());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const mv1::FunctionDef& function = *(*loaded)->FindFunction("");
  ASSERT_EQ(function.inputs_size(), 1);
  ASSERT_EQ(function.outputs_size(), 1);

  std::vector<float> x = Iota(64, -1.0f, 1.0f / 32);
  const std::vector<int64_t> shape = {1, 64};
  TensorView inputs[] = {{"", mv1::DATA_TYPE_F32, shape, Bytes(x)}};
  // The reference: the same call through the allocating Invoke.
  auto reference = (*loaded)->Invoke(function, inputs, {GetParam()});
  ASSERT_TRUE(reference.ok()) << reference.status();
  const std::vector<float> expected = Values<float>((*reference)[0].data);
  ASSERT_EQ(expected.size(), 10u);

  std::vector<float> y(10);
  std::span<uint8_t> outputs[] = {{reinterpret_cast<uint8_t*>(y.data()), 40}};
  const uint64_t allocations =
      SteadyStateAllocations(**loaded, function, inputs, outputs, [&] { EXPECT_EQ(y, expected); });
  EXPECT_EQ(allocations, 0u);
}

TEST_P(InvokeAllocationTest, WrongOutputBuffersAreRejected) {
  auto file = module::ModuleFile::Open(KILN_TEST_MLP_MODULE);
  ASSERT_TRUE(file.ok()) << file.status();
  auto loaded = LoadedModule::Load(std::move(*file), Device());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const mv1::FunctionDef& function = *(*loaded)->FindFunction("");
  std::vector<float> x(64, 1.0f);
  const std::vector<int64_t> shape = {1, 64};
  TensorView inputs[] = {{"", mv1::DATA_TYPE_F32, shape, Bytes(x)}};
  std::vector<float> y(9);
  std::span<uint8_t> short_output[] = {{reinterpret_cast<uint8_t*>(y.data()), 36}};
  absl::Status status = (*loaded)->InvokeInto(function, inputs, short_output, {GetParam()});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "output '" + function.outputs(0).name() +
                                  "': expected a 40-byte buffer for f32[1x10], got 36");
  status = (*loaded)->InvokeInto(function, inputs, {}, {GetParam()});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "function '" + function.name() + "' has 1 output, got 0 output buffers");
}

INSTANTIATE_TEST_SUITE_P(BothModels, InvokeAllocationTest,
                         testing::Values(ExecutionModelOverride::kInline,
                                         ExecutionModelOverride::kAsync),
                         [](const testing::TestParamInfo<ExecutionModelOverride>& info) {
                           return info.param == ExecutionModelOverride::kInline ? "Inline"
                                                                                : "Async";
                         });

}  // namespace
}  // namespace kiln
