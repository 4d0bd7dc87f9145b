// DecodeInferInputs: KServe request inputs (typed contents or raw_input_contents) to a
// function's tensors. PackContents and the datatype names are tested in kserve_service_test.
#include "server/kserve_inputs.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

// f(x: f32[2], flags: bool[3]) -> (result0: f32[2])
mv1::FunctionDef Function() {
  mv1::FunctionDef function;
  function.set_name("f");
  auto* x = function.add_inputs();
  x->set_name("x");
  x->mutable_type()->set_dtype(mv1::DATA_TYPE_F32);
  x->mutable_type()->add_shape(2);
  auto* flags = function.add_inputs();
  flags->set_name("flags");
  flags->mutable_type()->set_dtype(mv1::DATA_TYPE_BOOL);
  flags->mutable_type()->add_shape(3);
  auto* result = function.add_outputs();
  result->set_name("result0");
  *result->mutable_type() = x->type();
  return function;
}

inference::ModelInferRequest::InferInputTensor* AddInput(inference::ModelInferRequest& request,
                                                         const char* name, const char* datatype,
                                                         int64_t length) {
  auto* input = request.add_inputs();
  input->set_name(name);
  input->set_datatype(datatype);
  input->add_shape(length);
  return input;
}

std::string Bytes(const TensorView& view) {
  return {reinterpret_cast<const char*>(view.data.data()), view.data.size()};
}

TEST(DecodeInferInputs, RawInputsInSignatureOrder) {
  inference::ModelInferRequest request;
  AddInput(request, "flags", "BOOL", 3);
  AddInput(request, "x", "FP32", 2);
  request.add_raw_input_contents(std::string("\1\0\1", 3));
  const float x[2] = {1.5f, -2.0f};
  request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(x), sizeof(x)));
  std::vector<std::string> packed;
  auto decoded = DecodeInferInputs(request, Function(), packed);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].name, "x");
  EXPECT_EQ(Bytes((*decoded)[0]), request.raw_input_contents(1));
  EXPECT_EQ((*decoded)[1].name, "flags");
  EXPECT_EQ((*decoded)[1].dtype, mv1::DATA_TYPE_BOOL);
  EXPECT_EQ(Bytes((*decoded)[1]), std::string("\1\0\1", 3));
  EXPECT_TRUE(packed.empty());
}

TEST(DecodeInferInputs, TypedContentsArePacked) {
  inference::ModelInferRequest request;
  auto* x = AddInput(request, "x", "FP32", 2);
  x->mutable_contents()->add_fp32_contents(3.0f);
  x->mutable_contents()->add_fp32_contents(4.0f);
  auto* flags = AddInput(request, "flags", "BOOL", 3);
  for (bool b : {false, true, true}) flags->mutable_contents()->add_bool_contents(b);
  std::vector<std::string> packed;
  auto decoded = DecodeInferInputs(request, Function(), packed);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  float values[2];
  ASSERT_EQ((*decoded)[0].data.size(), sizeof(values));
  std::memcpy(values, (*decoded)[0].data.data(), sizeof(values));
  EXPECT_EQ(values[0], 3.0f);
  EXPECT_EQ(values[1], 4.0f);
  EXPECT_EQ(Bytes((*decoded)[1]), std::string("\0\1\1", 3));
  EXPECT_EQ(packed.size(), 2u);
}

TEST(DecodeInferInputs, RejectsMalformedRequests) {
  std::vector<std::string> packed;
  {  // raw contents for some inputs only
    inference::ModelInferRequest request;
    AddInput(request, "x", "FP32", 2);
    AddInput(request, "flags", "BOOL", 3);
    request.add_raw_input_contents(std::string(8, '\0'));
    auto decoded = DecodeInferInputs(request, Function(), packed);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(decoded.status().message(), HasSubstr("raw_input_contents has 1 entries for 2"));
  }
  {  // both kinds of data for one input
    inference::ModelInferRequest request;
    AddInput(request, "x", "FP32", 2)->mutable_contents()->add_fp32_contents(1.0f);
    AddInput(request, "flags", "BOOL", 3);
    request.add_raw_input_contents(std::string(8, '\0'));
    request.add_raw_input_contents(std::string(3, '\0'));
    EXPECT_THAT(DecodeInferInputs(request, Function(), packed).status().message(),
                HasSubstr("has both contents and raw_input_contents"));
  }
  {  // a BOOL byte other than 0 or 1
    inference::ModelInferRequest request;
    AddInput(request, "x", "FP32", 2);
    AddInput(request, "flags", "BOOL", 3);
    request.add_raw_input_contents(std::string(8, '\0'));
    request.add_raw_input_contents(std::string("\0\2\0", 3));
    EXPECT_THAT(DecodeInferInputs(request, Function(), packed).status().message(),
                HasSubstr("BOOL elements must be bytes 0 or 1"));
  }
  {  // a datatype kiln cannot run, named with the signature
    inference::ModelInferRequest request;
    AddInput(request, "x", "BYTES", 2);
    auto decoded = DecodeInferInputs(request, Function(), packed);
    EXPECT_THAT(decoded.status().message(), HasSubstr("unsupported datatype 'BYTES'"));
    EXPECT_THAT(decoded.status().message(), HasSubstr("f(x: f32[2], flags: bool[3])"));
  }
  {  // raw bytes of the wrong length for the signature
    inference::ModelInferRequest request;
    AddInput(request, "x", "FP32", 2);
    AddInput(request, "flags", "BOOL", 3);
    request.add_raw_input_contents(std::string(4, '\0'));
    request.add_raw_input_contents(std::string(3, '\0'));
    EXPECT_THAT(DecodeInferInputs(request, Function(), packed).status().message(),
                HasSubstr("expected 8 bytes"));
  }
}

}  // namespace
}  // namespace kiln
