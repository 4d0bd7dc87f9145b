// Matching caller tensors to a function's signature, and the signature as users read it.
#include "runtime_service/input_matching.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/module/signature.h"
#include "runtime_service/testing/test_modules.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;
using namespace kiln::test_modules;  // NOLINT: the shared test-module helpers

TensorView View(std::string_view name, const std::vector<float>& data,
                const std::vector<int64_t>& shape) {
  return TensorView{name, mv1::DATA_TYPE_F32, shape, Bytes(data)};
}

mv1::FunctionDef MainFunction() {
  mv1::FunctionDef function;
  function.set_name("main");
  AddArg(function.mutable_inputs(), "x", mv1::DATA_TYPE_F32, {1, 64});
  AddArg(function.mutable_outputs(), "result0", mv1::DATA_TYPE_F32, {1, 10});
  return function;
}

constexpr char kMainSignature[] = "main(x: f32[1x64]) -> (result0: f32[1x10])";

TEST(SignatureTest, SignatureString) {
  EXPECT_EQ(SignatureString(MainFunction()), kMainSignature);
  mv1::FunctionDef function;
  function.set_name("f");
  AddArg(function.mutable_inputs(), "a", mv1::DATA_TYPE_I32, {});
  AddArg(function.mutable_inputs(), "b", mv1::DATA_TYPE_BF16, {2, 3, 4});
  EXPECT_EQ(SignatureString(function), "f(a: i32[], b: bf16[2x3x4]) -> ()");
}

TEST(MatchInputsTest, Positional) {
  mv1::FunctionDef function = MainFunction();
  std::vector<float> x(64);
  const std::vector<int64_t> shape = {1, 64};
  TensorView tensors[] = {View("", x, shape)};
  auto inputs = MatchInputs(function, tensors);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  ASSERT_EQ(inputs->size(), 1u);
  EXPECT_EQ((*inputs)[0].name, "x");
  EXPECT_EQ((*inputs)[0].data.data(), Bytes(x).data());
}

TEST(MatchInputsTest, ByNameAndMixed) {
  mv1::FunctionDef function;
  function.set_name("f");
  AddArg(function.mutable_inputs(), "a", mv1::DATA_TYPE_F32, {2});
  AddArg(function.mutable_inputs(), "b", mv1::DATA_TYPE_F32, {3});
  AddArg(function.mutable_inputs(), "c", mv1::DATA_TYPE_F32, {4});
  std::vector<float> a(2), b(3), c(4);
  const std::vector<int64_t> sa = {2}, sb = {3}, sc = {4};
  TensorView named[] = {View("c", c, sc), View("a", a, sa), View("b", b, sb)};
  auto inputs = MatchInputs(function, named);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_EQ((*inputs)[0].data.data(), Bytes(a).data());
  EXPECT_EQ((*inputs)[1].data.data(), Bytes(b).data());
  EXPECT_EQ((*inputs)[2].data.data(), Bytes(c).data());

  // A named tensor claims its input; unnamed ones fill the rest in order.
  TensorView mixed[] = {View("", a, sa), View("b", b, sb), View("", c, sc)};
  inputs = MatchInputs(function, mixed);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_EQ((*inputs)[0].data.data(), Bytes(a).data());
  EXPECT_EQ((*inputs)[1].data.data(), Bytes(b).data());
  EXPECT_EQ((*inputs)[2].data.data(), Bytes(c).data());
  EXPECT_EQ((*inputs)[2].name, "c");

  TensorView twice[] = {View("a", a, sa), View("a", a, sa), View("", c, sc)};
  auto status = MatchInputs(function, twice).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("input 'a' is given more than once"));
}

TEST(MatchInputsTest, Errors) {
  mv1::FunctionDef function = MainFunction();
  std::vector<float> x(64), short_x(63);
  std::vector<int32_t> xi(64);
  const std::vector<int64_t> shape = {1, 64}, wrong_shape = {64};
  const std::string signature = absl::StrCat("; signature: ", kMainSignature);

  TensorView two[] = {View("", x, shape), View("", x, shape)};
  auto status = MatchInputs(function, two).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "function 'main' expects 1 input, got 2" + signature);

  EXPECT_EQ(MatchInputs(function, {}).status().message(),
            "function 'main' expects 1 input, got 0" + signature);

  TensorView dtype[] = {TensorView{"", mv1::DATA_TYPE_I32, shape, Bytes(xi)}};
  status = MatchInputs(function, dtype).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "input 'x': expected f32[1x64], got i32[1x64]" + signature);

  TensorView shape_mismatch[] = {View("x", x, wrong_shape)};
  EXPECT_EQ(MatchInputs(function, shape_mismatch).status().message(),
            "input 'x': expected f32[1x64], got f32[64]" + signature);

  TensorView unknown[] = {View("y", x, shape)};
  status = MatchInputs(function, unknown).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "unknown input 'y'" + signature);

  std::string bytes(255, '\0');
  TensorView short_bytes[] = {TensorView{"x", mv1::DATA_TYPE_F32, shape, Bytes(bytes)}};
  status = MatchInputs(function, short_bytes).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "input 'x': expected 256 bytes for f32[1x64], got 255");
}

}  // namespace
}  // namespace kiln
