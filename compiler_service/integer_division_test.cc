// Integer division end to end: programs dividing by zero and INT_MIN by -1 at run time are
// compiled (both executable formats, both execution models), run in this process and must give
// the defined results of kiln-guard-integer-division instead of SIGFPE, which would kill the
// test (and kilnd): x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0, floordiv and
// ceildiv by 0 = 0. Ordinary divisions must stay exact. References are computed here with
// C++ integer arithmetic, the hazards handled explicitly.
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "compiler_service/compiler.h"
#include "gtest/gtest.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/loaded_module.h"

namespace kiln::compiler {
namespace {

namespace mv1 = kiln::module::v1;

// Not a multiple of any vector width: vector bodies and peeled tails both run.
constexpr int64_t kCount = 67;

// The ops of each program, one result each, in this order.
enum class Op { kDivSI, kDivUI, kRemSI, kRemUI, kFloorDivSI, kCeilDivSI, kCeilDivUI };
constexpr Op kArithOps[] = {Op::kDivSI,      Op::kDivUI,     Op::kRemSI,    Op::kRemUI,
                            Op::kFloorDivSI, Op::kCeilDivSI, Op::kCeilDivUI};

const char* ArithName(Op op) {
  switch (op) {
    case Op::kDivSI:
      return "divsi";
    case Op::kDivUI:
      return "divui";
    case Op::kRemSI:
      return "remsi";
    case Op::kRemUI:
      return "remui";
    case Op::kFloorDivSI:
      return "floordivsi";
    case Op::kCeilDivSI:
      return "ceildivsi";
    case Op::kCeilDivUI:
      return "ceildivui";
  }
  return "";
}

// The defined result of `op` on `x`, `y` (see Passes.td, kiln-guard-integer-division).
template <typename T>
T Reference(Op op, T x, T y) {
  using U = std::make_unsigned_t<T>;
  const U ux = static_cast<U>(x), uy = static_cast<U>(y);
  const bool overflow = x == std::numeric_limits<T>::min() && y == -1;
  switch (op) {
    case Op::kDivSI:
      return y == 0 ? T{0} : overflow ? x : static_cast<T>(x / y);
    case Op::kDivUI:
      return y == 0 ? T{0} : static_cast<T>(ux / uy);
    case Op::kRemSI:
      return y == 0 ? x : overflow ? T{0} : static_cast<T>(x % y);
    case Op::kRemUI:
      return y == 0 ? x : static_cast<T>(ux % uy);
    case Op::kFloorDivSI:
    case Op::kCeilDivSI: {
      if (y == 0) return 0;
      if (overflow) return x;
      T q = static_cast<T>(x / y), r = static_cast<T>(x % y);
      if (r == 0) return q;
      const bool negative = (r < 0) != (y < 0);  // the exact quotient's sign
      if (op == Op::kFloorDivSI) return negative ? static_cast<T>(q - 1) : q;
      return negative ? q : static_cast<T>(q + 1);
    }
    case Op::kCeilDivUI:
      return y == 0 ? T{0} : static_cast<T>(ux / uy + (ux % uy != 0 ? 1 : 0));
  }
  return 0;
}

// What a result computes: `op` of (a, b), or of (b, a) where `swapped`.
struct Result {
  Op op;
  bool swapped = false;
};

struct Program {
  std::string name;
  mv1::DataType dtype;
  std::string mlir;
  std::vector<Result> results;
};

// One linalg.generic per arith op, then linalg.div and linalg.div_unsigned (named ops) dividing
// b by a (the same division of the same operands twice would be merged into one value, and a
// value returned twice is a compiler crash of its own); or just tosa.intdiv.
Program MakeProgram(const std::string& type, mv1::DataType dtype, bool tosa) {
  Program program{tosa ? "tosa_intdiv_" + type : type, dtype, "", {}};
  const std::string t = "tensor<" + std::to_string(kCount) + "x" + type + ">";
  std::string body, results, types;
  int n = 0;
  auto add = [&](const std::string& op_text, Op op, bool swapped = false) {
    absl::StrAppend(&body, "  %r", n, " = ", op_text, "\n");
    absl::StrAppend(&results, n ? ", " : "", "%r", n);
    absl::StrAppend(&types, n ? ", " : "", t);
    program.results.push_back({op, swapped});
    ++n;
  };
  for (Op op : kArithOps) {
    if (tosa) continue;
    add(absl::StrCat("linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = "
                     "[\"parallel\"]} ins(%a, %b : T, T) outs(%e : T) {\n"
                     "  ^bb0(%x: E, %y: E, %o: E):\n"
                     "    %v = arith.",
                     ArithName(op),
                     " %x, %y : E\n"
                     "    linalg.yield %v : E\n"
                     "  } -> T"),
        op);
  }
  if (tosa) {
    add("tosa.intdiv %a, %b : (T, T) -> T", Op::kDivSI);
  } else {
    add("linalg.div ins(%b, %a : T, T) outs(%e : T) -> T", Op::kDivSI, /*swapped=*/true);
    add("linalg.div_unsigned ins(%b, %a : T, T) outs(%e : T) -> T", Op::kDivUI, /*swapped=*/true);
  }
  program.mlir =
      absl::StrReplaceAll(absl::StrCat("#id = affine_map<(i) -> (i)>\n"
                                       "func.func @main(%a: T, %b: T) -> (",
                                       types,
                                       ") {\n"
                                       "  %e = tensor.empty() : T\n",
                                       body, "  return ", results, " : ", types, "\n}\n"),
                          {{"T", t}, {"E", type}});
  return program;
}

// Dividends and divisors: every hazard (zero divisors, INT_MIN / -1) and the edges around it
// first, then random pairs with a zero divisor now and then.
template <typename T>
void MakeInputs(std::vector<T>& x, std::vector<T>& y) {
  constexpr T kMin = std::numeric_limits<T>::min(), kMax = std::numeric_limits<T>::max();
  // The last two are the hazards with the operands swapped (b / a).
  x = {7, -7, 0, kMin, kMax, kMin, kMin, kMax, -1, 7, -7, 7, -7, kMin, kMin, kMax, 5, -5, 1, -1, 0};
  y = {0, 0, 0, 0, 0, -1, 1, -1, -1, 2, 2, -2, -2, 2, kMin, kMin, kMax, kMax, kMin, kMin, 5};
  std::mt19937_64 rng(11);
  while (static_cast<int64_t>(x.size()) < kCount) {
    x.push_back(static_cast<T>(rng()));
    // Small divisors too, so that quotients are not all 0 or -1.
    const uint64_t pick = rng() % 8;
    y.push_back(pick == 0  ? T{0}
                : pick < 5 ? static_cast<T>(static_cast<int64_t>(rng() % 19) - 9)
                           : static_cast<T>(rng()));
  }
}

struct Param {
  std::string type;  // i8, i32, i64
  mv1::ExecutableFormat format;
  mv1::ExecutionModel model;
};

class IntegerDivision : public testing::TestWithParam<Param> {
 protected:
  template <typename T>
  void Run(const Program& program) {
    const Param& param = GetParam();
    CompileOptions options;
    options.source_name = program.name + ".mlir";
    options.executable_format = param.format;
    options.execution_model = param.model;
    auto compiled = Compile(program.mlir, options);
    ASSERT_TRUE(compiled.ok()) << compiled.status() << "\n" << program.mlir;
    auto file = module::ModuleFile::FromBytes(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(compiled->module_bytes.data()),
                                 compiled->module_bytes.size()));
    ASSERT_TRUE(file.ok()) << file.status();
    hal::DeviceOptions device_options;
    device_options.worker_count = 2;
    auto device = hal::Device::Create(device_options);
    ASSERT_TRUE(device.ok()) << device.status();
    auto loaded = LoadedModule::Load(std::move(*file), *device);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const mv1::FunctionDef* fn = (*loaded)->FindFunction("main");
    ASSERT_NE(fn, nullptr);
    EXPECT_EQ(fn->execution_model(), param.model);

    std::vector<T> x, y;
    MakeInputs(x, y);
    const std::vector<int64_t> shape = {kCount};
    std::vector<TensorView> views(2);
    for (int i = 0; i < 2; ++i) {
      const std::vector<T>& values = i == 0 ? x : y;
      views[i].dtype = program.dtype;
      views[i].shape = shape;
      views[i].data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values.data()),
                                               values.size() * sizeof(T));
    }
    auto outputs = (*loaded)->Invoke(*fn, views);
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    ASSERT_EQ(outputs->size(), program.results.size());
    for (size_t o = 0; o < program.results.size(); ++o) {
      const Result& result = program.results[o];
      const HostTensor& out = (*outputs)[o];
      ASSERT_EQ(out.data.size(), kCount * sizeof(T));
      int mismatches = 0;
      for (int64_t i = 0; i < kCount && mismatches < 5; ++i) {
        T got;
        std::memcpy(&got, out.data.data() + i * sizeof(T), sizeof(T));
        const T lhs = result.swapped ? y[i] : x[i], rhs = result.swapped ? x[i] : y[i];
        const T want = Reference<T>(result.op, lhs, rhs);
        if (got != want) {
          ADD_FAILURE() << "result " << o << " (" << ArithName(result.op) << ") of " << int64_t{lhs}
                        << ", " << int64_t{rhs} << " = " << int64_t{got} << ", want "
                        << int64_t{want};
          ++mismatches;
        }
      }
    }
  }
};

TEST_P(IntegerDivision, DefinedAtZeroAndOverflowExactElsewhere) {
  const std::string& type = GetParam().type;
  if (type == "i8") Run<int8_t>(MakeProgram(type, mv1::DATA_TYPE_I8, /*tosa=*/false));
  if (type == "i64") Run<int64_t>(MakeProgram(type, mv1::DATA_TYPE_I64, /*tosa=*/false));
  if (type == "i32") {
    Run<int32_t>(MakeProgram(type, mv1::DATA_TYPE_I32, /*tosa=*/false));
    Run<int32_t>(MakeProgram(type, mv1::DATA_TYPE_I32, /*tosa=*/true));  // TOSA has i32 only
  }
}

std::vector<Param> Params() {
  std::vector<Param> params;
  for (const char* type : {"i8", "i32", "i64"})
    for (auto format : {mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF, mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY})
      for (auto model : {mv1::EXECUTION_MODEL_INLINE_DYNAMIC, mv1::EXECUTION_MODEL_ASYNC})
        params.push_back({type, format, model});
  return params;
}

INSTANTIATE_TEST_SUITE_P(
    Ops, IntegerDivision, testing::ValuesIn(Params()),
    [](const testing::TestParamInfo<Param>& info) {
      return info.param.type +
             (info.param.format == mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF ? "_elf" : "_so") +
             (info.param.model == mv1::EXECUTION_MODEL_ASYNC ? "_async" : "_inline");
    });

// The guard stays vectorized: the division and its selects work on whole vectors.
TEST(IntegerDivisionCodegen, GuardIsVectorized) {
  std::string lowered;
  CompileOptions options;
  options.dump_after = "lower";
  options.dump = [&](const std::string& text) { lowered = text; };
  auto compiled = Compile(R"mlir(
func.func @main(%a: tensor<256xi32>, %b: tensor<256xi32>) -> tensor<256xi32> {
  %e = tensor.empty() : tensor<256xi32>
  %r = linalg.div ins(%a, %b : tensor<256xi32>, tensor<256xi32>) outs(%e : tensor<256xi32>) -> tensor<256xi32>
  return %r : tensor<256xi32>
})mlir",
                          options);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  int vector_divisions = 0, vector_selects = 0;
  for (absl::string_view line : absl::StrSplit(lowered, '\n')) {
    const bool vector = absl::StrContains(line, "vector<");
    if (absl::StrContains(line, "llvm.sdiv")) {
      EXPECT_TRUE(vector) << "a scalar division: " << line;
      ++vector_divisions;
    }
    if (absl::StrContains(line, "llvm.select") && vector) ++vector_selects;
  }
  EXPECT_GT(vector_divisions, 0);
  EXPECT_GT(vector_selects, 0);
}

}  // namespace
}  // namespace kiln::compiler
