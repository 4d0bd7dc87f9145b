// KServe datatype mapping, typed-contents packing and model config validation. The service
// end to end (against a real kilnd) is integration_tests/kserve_test.py.
#include "server/kserve_service.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/model_repository.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

template <typename T>
std::vector<T> Unpack(const std::string& bytes) {
  std::vector<T> values(bytes.size() / sizeof(T));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  return values;
}

TEST(KServeDatatype, RoundTripsEveryKilnType) {
  for (const auto& [dtype, name] :
       std::vector<std::pair<DataType, std::string>>{{mv1::DATA_TYPE_F32, "FP32"},
                                                     {mv1::DATA_TYPE_F64, "FP64"},
                                                     {mv1::DATA_TYPE_F16, "FP16"},
                                                     {mv1::DATA_TYPE_BF16, "BF16"},
                                                     {mv1::DATA_TYPE_I8, "INT8"},
                                                     {mv1::DATA_TYPE_I16, "INT16"},
                                                     {mv1::DATA_TYPE_I32, "INT32"},
                                                     {mv1::DATA_TYPE_I64, "INT64"},
                                                     {mv1::DATA_TYPE_U8, "UINT8"},
                                                     {mv1::DATA_TYPE_U16, "UINT16"},
                                                     {mv1::DATA_TYPE_U32, "UINT32"},
                                                     {mv1::DATA_TYPE_U64, "UINT64"},
                                                     {mv1::DATA_TYPE_BOOL, "BOOL"}}) {
    EXPECT_EQ(KServeDatatype(dtype), name);
    EXPECT_EQ(ParseKServeDatatype(name), dtype);
  }
  EXPECT_EQ(ParseKServeDatatype("BYTES"), std::nullopt);
  EXPECT_EQ(ParseKServeDatatype("fp32"), std::nullopt);  // KServe names are upper case
  EXPECT_EQ(KServeDatatype(mv1::DATA_TYPE_UNSPECIFIED), std::nullopt);
}

TEST(PackContents, IntegersGoInTheirFieldAndAreRangeChecked) {
  inference::InferTensorContents c;
  c.add_int_contents(-128);
  c.add_int_contents(127);
  auto i8 = PackContents("x", mv1::DATA_TYPE_I8, 2, c);
  ASSERT_TRUE(i8.ok()) << i8.status();
  EXPECT_EQ(Unpack<int8_t>(*i8), (std::vector<int8_t>{-128, 127}));

  c.add_int_contents(128);
  auto overflow = PackContents("x", mv1::DATA_TYPE_I8, 3, c);
  EXPECT_EQ(overflow.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(overflow.status().message()),
              HasSubstr("value 128 at index 2 is out of range for INT8"));

  auto i32 = PackContents("x", mv1::DATA_TYPE_I32, 3, c);
  ASSERT_TRUE(i32.ok());
  EXPECT_EQ(Unpack<int32_t>(*i32), (std::vector<int32_t>{-128, 127, 128}));

  inference::InferTensorContents u;
  u.add_uint_contents(65535);
  EXPECT_EQ(Unpack<uint16_t>(*PackContents("u", mv1::DATA_TYPE_U16, 1, u)),
            std::vector<uint16_t>{65535});
  EXPECT_FALSE(PackContents("u", mv1::DATA_TYPE_U8, 1, u).ok());

  inference::InferTensorContents i64;
  i64.add_int64_contents(-(int64_t{1} << 40));
  EXPECT_EQ(Unpack<int64_t>(*PackContents("y", mv1::DATA_TYPE_I64, 1, i64)),
            std::vector<int64_t>{-(int64_t{1} << 40)});
  inference::InferTensorContents u64;
  u64.add_uint64_contents(~uint64_t{0});
  EXPECT_EQ(Unpack<uint64_t>(*PackContents("y", mv1::DATA_TYPE_U64, 1, u64)),
            std::vector<uint64_t>{~uint64_t{0}});
}

TEST(PackContents, BoolsAreOneByteEach) {
  inference::InferTensorContents c;
  c.add_bool_contents(true);
  c.add_bool_contents(false);
  c.add_bool_contents(true);
  auto bytes = PackContents("b", mv1::DATA_TYPE_BOOL, 3, c);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, std::string("\x01\x00\x01", 3));
}

TEST(PackContents, FloatsAndHalfPrecisionFromFp32Contents) {
  inference::InferTensorContents c;
  for (float v : {1.0f, -2.5f, 65504.0f, 1e6f, 5.96046448e-8f, 0.1f}) c.add_fp32_contents(v);
  auto f32 = PackContents("x", mv1::DATA_TYPE_F32, 6, c);
  ASSERT_TRUE(f32.ok());
  EXPECT_EQ(Unpack<float>(*f32)[1], -2.5f);
  auto f16 = PackContents("x", mv1::DATA_TYPE_F16, 6, c);
  ASSERT_TRUE(f16.ok());
  // 1, -2.5, the largest half, overflow to +inf, the smallest subnormal, 0.1 rounded to nearest.
  EXPECT_EQ(Unpack<uint16_t>(*f16),
            (std::vector<uint16_t>{0x3c00, 0xc100, 0x7bff, 0x7c00, 0x0001, 0x2e66}));
  auto bf16 = PackContents("x", mv1::DATA_TYPE_BF16, 6, c);
  ASSERT_TRUE(bf16.ok());
  EXPECT_EQ(Unpack<uint16_t>(*bf16)[0], 0x3f80);
  EXPECT_EQ(Unpack<uint16_t>(*bf16)[1], 0xc020);
  EXPECT_EQ(Unpack<uint16_t>(*bf16)[5], 0x3dcd);  // 0.1f = 0x3dcccccd rounds up

  inference::InferTensorContents d;
  d.add_fp64_contents(0.25);
  EXPECT_EQ(Unpack<double>(*PackContents("d", mv1::DATA_TYPE_F64, 1, d)),
            std::vector<double>{0.25});
}

TEST(PackContents, WrongFieldOrCountIsInvalidArgument) {
  inference::InferTensorContents c;
  c.add_fp32_contents(1.0f);
  auto wrong = PackContents("x", mv1::DATA_TYPE_I32, 1, c);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("input 'x' is INT32: its data goes in contents.int_contents, not "
                        "fp32_contents"));
  auto count = PackContents("x", mv1::DATA_TYPE_F32, 4, c);
  EXPECT_EQ(count.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(count.status().message()),
              HasSubstr("its shape has 4 elements but contents.fp32_contents has 1"));
}

TEST(ModelConfig, ParsesEveryKey) {
  auto config = ParseModelConfig(
      R"({"name": "m", "execution_model": "inline-dynamic", "max_queue_size": 8,
          "workers": 2, "max_batch_size": 16,
          "dynamic_batching": {"preferred_batch_size": [8, 4, 8],
                               "max_queue_delay_microseconds": 500},
          "input_shapes": {"input": [1, 3, 224, 224], "ids:0": [2]}})",
      "m");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->execution_model, mv1::EXECUTION_MODEL_INLINE_DYNAMIC);
  EXPECT_EQ(config->max_queue_size, 8u);
  EXPECT_EQ(config->workers, 2);
  EXPECT_EQ(config->max_batch_size, 16);
  EXPECT_TRUE(config->dynamic_batching);
  EXPECT_EQ(config->preferred_batch_sizes, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(config->max_queue_delay_us, 500);
  EXPECT_FALSE(ParseModelConfig(R"({"max_batch_size": 4})", "m")->dynamic_batching);
  EXPECT_EQ(
      ParseModelConfig(R"({"max_batch_size": 4, "dynamic_batching": {}})", "m")->max_queue_delay_us,
      0);
  EXPECT_EQ(config->input_shapes, (InputShapes{{"input", {1, 3, 224, 224}}, {"ids:0", {2}}}));
  EXPECT_TRUE(ParseModelConfig(R"({"input_shapes": {}})", "m")->input_shapes.empty());
  EXPECT_EQ(ParseModelConfig(R"({"execution_model": "async"})", "m")->execution_model,
            mv1::EXECUTION_MODEL_ASYNC);
  EXPECT_EQ(ParseModelConfig("{}", "m")->execution_model, mv1::EXECUTION_MODEL_UNSPECIFIED);
}

TEST(ModelConfig, RejectsWhatItCannotHonour) {
  auto message = [](const char* json) {
    auto config = ParseModelConfig(json, "m");
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << json;
    return std::string(config.status().message());
  };
  EXPECT_THAT(message("{not json"), HasSubstr("not valid JSON"));
  EXPECT_THAT(message("[1]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(message(R"({"max_queue": 3})"), HasSubstr("unknown key \"max_queue\""));
  EXPECT_THAT(message(R"({"execution_model": "fast"})"),
              HasSubstr("\"execution_model\" must be \"auto\", \"async\" or \"inline-dynamic\""));
  EXPECT_THAT(message(R"({"max_queue_size": -1})"), HasSubstr("\"max_queue_size\" must be"));
  EXPECT_THAT(message(R"({"workers": 2.5})"), HasSubstr("\"workers\" must be an integer"));
  EXPECT_THAT(message(R"({"max_batch_size": -1})"),
              HasSubstr("\"max_batch_size\" must be an integer from 0 to 65536"));
  EXPECT_THAT(message(R"({"max_batch_size": 65537})"), HasSubstr("from 0 to 65536"));
  EXPECT_THAT(message(R"({"dynamic_batching": {}})"),
              HasSubstr("\"dynamic_batching\" needs a \"max_batch_size\" of at least 1"));
  EXPECT_THAT(message(R"({"max_batch_size": 0, "dynamic_batching": {}})"),
              HasSubstr("needs a \"max_batch_size\""));
  EXPECT_THAT(message(R"({"max_batch_size": 4, "dynamic_batching": []})"),
              HasSubstr("\"dynamic_batching\" must be an object"));
  EXPECT_THAT(
      message(R"({"max_batch_size": 4, "dynamic_batching": {"preferred_batch_size": [8]}})"),
      HasSubstr("preferred_batch_size 8 is over the max_batch_size of 4"));
  EXPECT_THAT(
      message(R"({"max_batch_size": 4, "dynamic_batching": {"preferred_batch_size": [0]}})"),
      HasSubstr("\"dynamic_batching\": \"preferred_batch_size\" must be an array of batch "
                "sizes"));
  EXPECT_THAT(
      message(R"({"max_batch_size": 4,
                          "dynamic_batching": {"max_queue_delay_microseconds": 1.5}})"),
      HasSubstr("\"dynamic_batching\": \"max_queue_delay_microseconds\" must be an integer"));
  EXPECT_THAT(message(R"({"max_batch_size": 4, "dynamic_batching": {"timeout": 1}})"),
              HasSubstr("\"dynamic_batching\": \"timeout\" is unknown; known keys: "
                        "preferred_batch_size, max_queue_delay_microseconds"));
  EXPECT_THAT(message(R"({"name": "other"})"), HasSubstr("must be the model directory's name"));
  EXPECT_THAT(message(R"({"max_queue": 3})"), HasSubstr("known keys: name, execution_model, "
                                                        "max_queue_size, workers, max_batch_size, "
                                                        "dynamic_batching, input_shapes"));
  EXPECT_THAT(message(R"({"input_shapes": [1, 3]})"),
              HasSubstr("\"input_shapes\" must be an object of input names to dims"));
  EXPECT_THAT(message(R"({"input_shapes": {"x": 3}})"),
              HasSubstr("\"input_shapes\" input 'x' must be an array of positive integers"));
  EXPECT_THAT(message(R"({"input_shapes": {"x": [1, "3"]}})"),
              HasSubstr("input 'x' must be an array of positive integers"));
  EXPECT_THAT(message(R"({"input_shapes": {"x": [1, 2.0]}})"),
              HasSubstr("input 'x' must be an array of positive integers"));
  EXPECT_THAT(message(R"({"input_shapes": {"x": [1, 0]}})"),
              HasSubstr("\"input_shapes\": the shape of input 'x' has dim 1 = 0"));
  EXPECT_THAT(message(R"({"input_shapes": {"x": [-1]}})"), HasSubstr("dim 0 = -1"));
  EXPECT_THAT(message(R"({"input_shapes": {"x": [18446744073709551615]}})"),
              HasSubstr("input 'x' must be an array of positive integers"));
  EXPECT_THAT(message(R"({"input_shapes": {"x": []}})"), HasSubstr("input 'x' has no dims"));
  EXPECT_THAT(message(R"({"input_shapes": {"": [1]}})"), HasSubstr("empty input name"));
}

}  // namespace
}  // namespace kiln
