// End-to-end compiler tests: MLIR source → module bytes → the real runtime → numbers compared
// with references computed here independently, plus the user-facing errors of bad programs.
#include "compiler_service/compiler.h"

#include <cmath>
#include <cstring>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/loaded_module.h"

namespace kiln::compiler {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

std::shared_ptr<LoadedModule> CompileAndLoad(std::string_view source,
                                             const CompileOptions& options = {}) {
  auto result = Compile(source, options);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return nullptr;
  auto file = module::ModuleFile::FromBytes(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(result->module_bytes.data()), result->module_bytes.size()));
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  auto loaded = LoadedModule::Load(std::move(*file));
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? *loaded : nullptr;
}

TensorView View(const std::vector<float>& data, const std::vector<int64_t>& shape) {
  TensorView view;
  view.dtype = mv1::DATA_TYPE_F32;
  view.shape = shape;
  view.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()),
                                       data.size() * sizeof(float));
  return view;
}

std::vector<float> Floats(const HostTensor& tensor) {
  std::vector<float> out(tensor.data.size() / sizeof(float));
  std::memcpy(out.data(), tensor.data.data(), tensor.data.size());
  return out;
}

constexpr char kDense[] = R"mlir(
func.func @dense(%x: tensor<3x5xf32> {kiln.name = "x"}, %w: tensor<5x7xf32> {kiln.name = "w"},
                 %b: tensor<7xf32> {kiln.name = "b"}) -> (tensor<3x7xf32> {kiln.name = "y"}) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x7xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x7xf32>) -> tensor<3x7xf32>
  %m = linalg.matmul ins(%x, %w : tensor<3x5xf32>, tensor<5x7xf32>) outs(%f : tensor<3x7xf32>) -> tensor<3x7xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>,
                                        affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<3x7xf32>, tensor<7xf32>) outs(%e : tensor<3x7xf32>) {
  ^bb0(%a: f32, %bias: f32, %out: f32):
    %s = arith.addf %a, %bias : f32
    %t = math.tanh %s : f32
    linalg.yield %t : f32
  } -> tensor<3x7xf32>
  return %r : tensor<3x7xf32>
}
)mlir";

TEST(CompilerTest, DenseLayerMatchesReference) {
  auto module = CompileAndLoad(kDense);
  ASSERT_NE(module, nullptr);
  const mv1::FunctionDef* fn = module->FindFunction("dense");
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(SignatureString(*fn), "dense(x: f32[3x5], w: f32[5x7], b: f32[7]) -> (y: f32[3x7])");
  EXPECT_EQ(fn->execution_model(), mv1::EXECUTION_MODEL_INLINE_DYNAMIC);

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> x(15), w(35), b(7);
  for (auto* v : {&x, &w, &b})
    for (float& e : *v) e = dist(rng);
  std::vector<TensorView> inputs = {View(x, {3, 5}), View(w, {5, 7}), View(b, {7})};
  auto outputs = module->Invoke(*fn, inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 1u);
  EXPECT_EQ((*outputs)[0].name, "y");
  std::vector<float> y = Floats((*outputs)[0]);
  ASSERT_EQ(y.size(), 21u);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 7; ++j) {
      double acc = b[j];
      for (int k = 0; k < 5; ++k) acc += double(x[i * 5 + k]) * w[k * 7 + j];
      EXPECT_NEAR(y[i * 7 + j], std::tanh(acc), 1e-5) << i << "," << j;
    }
}

TEST(CompilerTest, ConstantsReturnedInputsAndSeveralFunctions) {
  constexpr char kSource[] = R"mlir(
func.func @scale(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.mul ins(%x, %c : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
func.func @identity(%x: tensor<2xi32>) -> (tensor<2xi32>, tensor<2xi32>) {
  return %x, %x : tensor<2xi32>, tensor<2xi32>
}
)mlir";
  auto module = CompileAndLoad(kSource);
  ASSERT_NE(module, nullptr);
  std::vector<float> x = {0.5f, -1.f, 2.f, 10.f};
  std::vector<TensorView> inputs = {View(x, {4})};
  auto scaled = module->Invoke(*module->FindFunction("scale"), inputs);
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_EQ(Floats((*scaled)[0]), (std::vector<float>{0.5f, -2.f, 6.f, 40.f}));
  EXPECT_EQ((*scaled)[0].name, "result0");

  std::vector<int32_t> ints = {7, -9};
  TensorView int_view;
  int_view.dtype = mv1::DATA_TYPE_I32;
  std::vector<int64_t> shape = {2};
  int_view.shape = shape;
  int_view.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(ints.data()), 8);
  auto copies = module->Invoke(*module->FindFunction("identity"), {&int_view, 1});
  ASSERT_TRUE(copies.ok()) << copies.status();
  ASSERT_EQ(copies->size(), 2u);
  for (const HostTensor& out : *copies) {
    ASSERT_EQ(out.data.size(), 8u);
    EXPECT_EQ(std::memcmp(out.data.data(), ints.data(), 8), 0);
  }
}

TEST(CompilerTest, MalformedMlirReportsLineAndColumn) {
  CompileOptions options;
  options.source_name = "broken.mlir";
  auto result = Compile(
      "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n  return %y : tensor<4xf32>\n}\n",
      options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              HasSubstr("broken.mlir:2:10: error: use of undeclared SSA value name"));
}

TEST(CompilerTest, UnsupportedOpAndDynamicShapeNameTheOpAndLocation) {
  CompileOptions options;
  options.source_name = "model.mlir";
  auto unsupported = Compile(R"mlir(func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = scf.execute_region -> tensor<4xf32> {
    scf.yield %x : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
})mlir",
                             options);
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(unsupported.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unsupported.status().message(),
              HasSubstr("model.mlir:2:8: error: unsupported op 'scf.execute_region'"));

  auto dynamic = Compile(
      "func.func @g(%x: tensor<?xf32>) -> tensor<?xf32> {\n  return %x : tensor<?xf32>\n}\n",
      options);
  ASSERT_FALSE(dynamic.ok());
  EXPECT_EQ(dynamic.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dynamic.status().message(),
              HasSubstr("model.mlir:1:1: error: function 'g' argument #0 of type tensor<?xf32>: "
                        "a dynamic leading (batch) dim needs a batch size to compile for"));
  auto two = Compile(
      "func.func @g(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {\n  return %x : tensor<?x?xf32>\n}\n",
      options);
  EXPECT_THAT(two.status().message(),
              HasSubstr("model.mlir:1:1: error: function 'g' argument #0 of type tensor<?x?xf32>: "
                        "dynamic shapes are not supported"));
}

// A dynamic leading dim compiled for a batch: the signature has the batch, marked batched, and
// the code computes every row (each row of x doubled).
TEST(CompilerTest, BatchSizeSpecializesTheLeadingDim) {
  constexpr char kSource[] = R"mlir(
#id = affine_map<(i, j) -> (i, j)>
func.func @main(%x: tensor<?x3xf32> {kiln.name = "x"}, %s: tensor<3xf32>)
    -> (tensor<?x3xf32> {kiln.name = "y"}, tensor<3xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x3xf32>
  %e = tensor.empty(%n) : tensor<?x3xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x3xf32>) outs(%e : tensor<?x3xf32>) {
  ^bb0(%v: f32, %o: f32):
    %d = arith.addf %v, %v : f32
    linalg.yield %d : f32
  } -> tensor<?x3xf32>
  return %y, %s : tensor<?x3xf32>, tensor<3xf32>
})mlir";
  CompileOptions options;
  options.batch_size = 5;
  auto module = CompileAndLoad(kSource, options);
  ASSERT_NE(module, nullptr);
  const mv1::FunctionDef* main = module->FindFunction("main");
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(SignatureString(*main),
            "main(x: f32[5x3], arg1: f32[3]) -> (y: f32[5x3], result1: f32[3])");
  EXPECT_TRUE(main->inputs(0).batched());
  EXPECT_FALSE(main->inputs(1).batched());
  EXPECT_TRUE(main->outputs(0).batched());
  EXPECT_FALSE(main->outputs(1).batched());
  std::vector<float> x(15), s = {7.f, 8.f, 9.f};
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) - 4.f;
  const std::vector<int64_t> x_shape = {5, 3}, s_shape = {3};
  std::vector<TensorView> inputs = {View(x, x_shape), View(s, s_shape)};
  auto outputs = module->Invoke(*main, inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  std::vector<float> doubled(15);
  for (size_t i = 0; i < x.size(); ++i) doubled[i] = 2.f * x[i];
  EXPECT_EQ(Floats((*outputs)[0]), doubled);
  EXPECT_EQ(Floats((*outputs)[1]), s);

  options.batch_size = 0;
  EXPECT_THAT(Compile(kSource, options).status().message(),
              HasSubstr("needs a batch size to compile for"));
  options.batch_size = -2;
  EXPECT_THAT(Compile(kSource, options).status().message(),
              HasSubstr("batch size -2 is outside 0..1048576"));
  options.batch_size = 2;
  EXPECT_THAT(Compile("func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
                      "  return %x : tensor<2xf32>\n}\n",
                      options)
                  .status()
                  .message(),
              HasSubstr("batch size 2 given, but no public function has an argument with a "
                        "dynamic leading (batch) dim"));
}

TEST(CompilerTest, UnknownTargetCpuIsInvalidArgument) {
  CompileOptions options;
  options.target_cpu = "not-a-cpu";
  auto result = Compile(kDense, options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("unknown target CPU 'not-a-cpu'"));
}

TEST(CompilerTest, CancellationStopsBetweenPhases) {
  int calls = 0;
  auto result = Compile(kDense, CompileOptions{}, [&] {
    return ++calls == 2 ? absl::DeadlineExceededError("deadline passed") : absl::OkStatus();
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(calls, 2);
}

TEST(CompilerTest, EmbeddedElfByDefaultWithSystemLibraryFallbackForLibc) {
  constexpr char kRemainder[] = R"mlir(
func.func @rem(%a: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<8xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%a, %b : tensor<8xf32>, tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %m = arith.remf %x, %y : f32
    linalg.yield %m : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
})mlir";
  auto plain = Compile(kDense, CompileOptions{});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->def.executables(0).format(), mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF);

  CompileOptions embedded;
  embedded.executable_format = mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF;
  auto refused = Compile(kRemainder, embedded);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("needs 'fmodf' from the C library"));

  auto fallback = Compile(kRemainder, CompileOptions{});
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->def.executables(0).format(), mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY);
  ASSERT_FALSE(fallback->diagnostics.empty());
  EXPECT_THAT(fallback->diagnostics.back().message, HasSubstr("built a system-library executable"));
  auto file = module::ModuleFile::FromBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(fallback->module_bytes.data()),
                               fallback->module_bytes.size()));
  ASSERT_TRUE(file.ok());
  auto module = LoadedModule::Load(std::move(*file));
  ASSERT_TRUE(module.ok()) << module.status();
  std::vector<float> a = {5.5f, -7.f, 9.f, 1.f, 2.5f, 100.f, -3.f, 0.5f};
  std::vector<float> b = {2.f, 3.f, 4.f, 1.f, 1.f, 7.f, 2.f, 0.25f};
  std::vector<TensorView> inputs = {View(a, {8}), View(b, {8})};
  auto out = (*module)->Invoke(*(*module)->FindFunction("rem"), inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> got = Floats((*out)[0]);
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(got[i], std::fmod(a[i], b[i])) << i;
}

TEST(CompilerTest, BoolTensorsAreOneBytePerElement) {
  constexpr char kNot[] = R"mlir(
func.func @not(%a: tensor<19xi1>) -> tensor<19xi1> {
  %t = arith.constant dense<true> : tensor<19xi1>
  %e = tensor.empty() : tensor<19xi1>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%a, %t : tensor<19xi1>, tensor<19xi1>) outs(%e : tensor<19xi1>) {
  ^bb0(%x: i1, %y: i1, %o: i1):
    %n = arith.xori %x, %y : i1
    linalg.yield %n : i1
  } -> tensor<19xi1>
  return %r : tensor<19xi1>
})mlir";
  auto module = CompileAndLoad(kNot);
  ASSERT_NE(module, nullptr);
  std::vector<uint8_t> in(19);
  for (int i = 0; i < 19; ++i) in[i] = (i % 3 == 0) ? 1 : 0;
  std::vector<int64_t> shape = {19};
  TensorView view;
  view.dtype = mv1::DATA_TYPE_BOOL;
  view.shape = shape;
  view.data = in;
  auto out = module->Invoke(*module->FindFunction("not"), {&view, 1});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0].data.size(), 19u);
  for (int i = 0; i < 19; ++i) EXPECT_EQ(static_cast<int>((*out)[0].data[i]), 1 - in[i]) << i;
}

TEST(CompilerTest, DumpAfterPhaseShowsThatPhasesIr) {
  std::string dispatch_ir, llvm_ir;
  CompileOptions options;
  options.dump_after = "dispatch";
  options.dump = [&](const std::string& text) { dispatch_ir = text; };
  ASSERT_TRUE(Compile(kDense, options).ok());
  EXPECT_THAT(dispatch_ir, HasSubstr("func.func private @dense__dispatch_0"));
  EXPECT_THAT(dispatch_ir, HasSubstr("kiln.execution_model"));
  options.dump_after = "translate";
  options.dump = [&](const std::string& text) { llvm_ir = text; };
  ASSERT_TRUE(Compile(kDense, options).ok());
  EXPECT_THAT(llvm_ir, HasSubstr("define ptr @kiln_library_query"));
}

TEST(CompilerTest, LinalgInputFormatRejectsTosa) {
  constexpr char kTosa[] = R"mlir(func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = tosa.abs %x : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
})mlir";
  CompileOptions options;
  options.source_name = "t.mlir";
  options.source_format = SourceFormat::kLinalg;
  auto result = Compile(kTosa, options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("t.mlir:2:8: error: input format is 'linalg' but the program has TOSA op "
                        "'tosa.abs'"));
  options.source_format = SourceFormat::kTosa;
  EXPECT_TRUE(Compile(kTosa, options).ok());
}

// Programs that are the user's fault are INVALID_ARGUMENT saying what is wrong, never
// INTERNAL: recursion, single-element accesses between ops, huge constants.
TEST(CompilerTest, RecursionIsInvalidArgumentNamingTheCycle) {
  CompileOptions options;
  options.source_name = "rec.mlir";
  auto self = Compile(R"mlir(func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %r = func.call @main(%a) : (tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
})mlir",
                      options);
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(self.status().message()),
              HasSubstr("rec.mlir:2:8: error: recursive call: 'main' -> 'main': kiln inlines "
                        "every call, so recursion is not supported"));

  auto mutual = Compile(R"mlir(func.func private @f(%a: tensor<4xf32>) -> tensor<4xf32> {
  %r = func.call @g(%a) : (tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
func.func private @g(%a: tensor<4xf32>) -> tensor<4xf32> {
  %r = func.call @f(%a) : (tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %r = func.call @f(%a) : (tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
})mlir",
                        options);
  ASSERT_FALSE(mutual.ok());
  EXPECT_EQ(mutual.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mutual.status().message()),
              HasSubstr("rec.mlir:6:8: error: recursive call: 'f' -> 'g' -> 'f'"));
}

TEST(CompilerTest, ElementAccessBetweenOpsIsInvalidArgument) {
  CompileOptions options;
  options.source_name = "extract.mlir";
  auto result =
      Compile(R"mlir(func.func @main(%a: tensor<4xf32>, %i: tensor<1xi32>) -> tensor<1xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.extract %i[%c0] : tensor<1xi32>
  %idx = arith.index_cast %n : i32 to index
  %v = tensor.extract %a[%idx] : tensor<4xf32>
  %t = tensor.from_elements %v : tensor<1xf32>
  return %t : tensor<1xf32>
})mlir",
              options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("extract.mlir:3:8: error: 'tensor.extract' accesses a single tensor "
                        "element outside a linalg op, which kiln cannot run"));
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("extract.mlir:5:8: error: 'tensor.extract' accesses"));
}

TEST(CompilerTest, HugeSplatConstantIsInvalidArgumentNamingSizeAndLimit) {
  CompileOptions options;
  options.source_name = "splat.mlir";
  auto splat = Compile(R"mlir(func.func @main(%a: tensor<4xf32>) -> tensor<100000x100000xf32> {
  %c = arith.constant dense<1.0> : tensor<100000x100000xf32>
  return %c : tensor<100000x100000xf32>
})mlir",
                       options);
  ASSERT_FALSE(splat.ok());
  EXPECT_EQ(splat.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(splat.status().message()),
              HasSubstr("splat.mlir:2:8: error: constant of type tensor<100000x100000xf32> takes "
                        "40000000000 bytes; the limit for one constant is 2147483648 bytes "
                        "(2 GiB)"));

  // 3.6 GB of weights, transposed at compile time for a product: refused before any of it
  // is materialized.
  auto weights = Compile(R"mlir(func.func @main(%x: tensor<1x30000xf32>) -> tensor<1x30000xf32> {
  %w = arith.constant dense<0.5> : tensor<30000x30000xf32>
  %e = tensor.empty() : tensor<30000x30000xf32>
  %t = linalg.transpose ins(%w : tensor<30000x30000xf32>) outs(%e : tensor<30000x30000xf32>) permutation = [1, 0]
  %z = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x30000xf32>
  %f = linalg.fill ins(%z : f32) outs(%o : tensor<1x30000xf32>) -> tensor<1x30000xf32>
  %m = linalg.matmul ins(%x, %t : tensor<1x30000xf32>, tensor<30000x30000xf32>) outs(%f : tensor<1x30000xf32>) -> tensor<1x30000xf32>
  return %m : tensor<1x30000xf32>
})mlir",
                         options);
  ASSERT_FALSE(weights.ok());
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(weights.status().message()),
              HasSubstr("splat.mlir:2:8: error: constant of type tensor<30000x30000xf32> takes "
                        "3600000000 bytes"));
}

// A signature no runtime could load is refused at compile, not compiled, cached and then
// failed at Load.
TEST(CompilerTest, SignatureBeyondRuntimeLimitIsInvalidArgument) {
  CompileOptions options;
  options.source_name = "big.mlir";
  auto argument = Compile(
      R"mlir(func.func @main(%a: tensor<2147483648x2147483648xf32> {kiln.name = "x"}) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  return %e : tensor<4xf32>
})mlir",
      options);
  ASSERT_FALSE(argument.ok());
  EXPECT_EQ(argument.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(argument.status().message()),
              HasSubstr("big.mlir:1:1: error: function 'main' argument #0 ('x') of type "
                        "tensor<2147483648x2147483648xf32> is larger than the runtime's limit of "
                        "4611686018427387904 bytes (2^62) per tensor"));

  auto result = Compile(
      R"mlir(func.func @main(%a: tensor<4xi64>) -> (tensor<4xi64>, tensor<1073741824x1073741824xi64>) {
  %e = tensor.empty() : tensor<1073741824x1073741824xi64>
  return %a, %e : tensor<4xi64>, tensor<1073741824x1073741824xi64>
})mlir",
      options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("error: function 'main' result #1 of type "
                        "tensor<1073741824x1073741824xi64> is larger than the runtime's limit"));

  // Exactly the limit (2^31 x 2^29 x 4 bytes = 2^62) compiles, and the module loads.
  auto largest = Compile(
      R"mlir(func.func @main(%a: tensor<2147483648x536870912xf32>) -> tensor<2147483648x536870912xf32> {
  return %a : tensor<2147483648x536870912xf32>
})mlir",
      options);
  ASSERT_TRUE(largest.ok()) << largest.status();
  auto file = module::ModuleFile::FromBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(largest->module_bytes.data()),
                               largest->module_bytes.size()));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(LoadedModule::Load(std::move(*file)).ok());
}

TEST(CompilerTest, CacheKeyIsStableAndDependsOnTarget) {
  auto a = CanonicalOptionsKey(CompileOptions{});
  auto b = CanonicalOptionsKey(CompileOptions{});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  CompileOptions other;
  other.target_cpu = "x86-64";
  auto c = CanonicalOptionsKey(other);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(*a, *c);
}

}  // namespace
}  // namespace kiln::compiler
