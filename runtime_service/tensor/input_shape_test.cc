#include "runtime_service/tensor/input_shape.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Error(std::string_view spec) {
  auto shape = ParseInputShape(spec);
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument) << spec;
  return std::string(shape.status().message());
}

TEST(ParseInputShape, NameAndDims) {
  auto shape = ParseInputShape("input=1x3x224x224");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->name, "input");
  EXPECT_THAT(shape->dims, ElementsAre(1, 3, 224, 224));
  EXPECT_THAT(ParseInputShape("ids=7")->dims, ElementsAre(7));
  // ONNX names hold any character; the dims start after the last '='.
  EXPECT_EQ(ParseInputShape("a=b:0=2x2")->name, "a=b:0");
  EXPECT_EQ(ParseInputShape("x.1=2")->name, "x.1");
  EXPECT_THAT(ParseInputShape("x=9223372036854775807")->dims, ElementsAre(INT64_MAX));
}

TEST(ParseInputShape, RejectsBadSyntaxSayingWhy) {
  EXPECT_THAT(Error("input"), HasSubstr("input shape 'input': no '='"));
  EXPECT_THAT(Error("input"), HasSubstr("expected NAME=DIMxDIM..."));
  EXPECT_THAT(Error("=1x2"), HasSubstr("no input name"));
  EXPECT_THAT(Error("x="), HasSubstr("no dims"));
  EXPECT_THAT(Error("x=1x0x3"), HasSubstr("dims must be positive, not 0"));
  EXPECT_THAT(Error("x=1x-3"), HasSubstr("'-3' is not a positive integer"));
  EXPECT_THAT(Error("x=1xx3"), HasSubstr("'' is not a positive integer"));
  EXPECT_THAT(Error("x=1x3x"), HasSubstr("'' is not a positive integer"));
  EXPECT_THAT(Error("x=1X3"), HasSubstr("'1X3' is not a positive integer"));
  EXPECT_THAT(Error("x= 1"), HasSubstr("' 1' is not a positive integer"));
  EXPECT_THAT(Error("x=+1"), HasSubstr("'+1' is not a positive integer"));
  EXPECT_THAT(Error("x=1x2xf32"), HasSubstr("'f32' is not a positive integer"));
  EXPECT_THAT(Error("x=99999999999999999999"), HasSubstr("too large"));
}

TEST(ParseInputShapes, CollectsByNameAndRejectsDuplicates) {
  auto shapes = ParseInputShapes({"a=1x2", "b=3"});
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  EXPECT_EQ(shapes->size(), 2u);
  EXPECT_THAT(shapes->at("a"), ElementsAre(1, 2));
  EXPECT_THAT(shapes->at("b"), ElementsAre(3));
  EXPECT_TRUE(ParseInputShapes({})->empty());

  auto twice = ParseInputShapes({"a=1x2", "a=1x3"});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(twice.status().message()),
              HasSubstr("input 'a' has more than one shape (1x2 and 1x3)"));
  EXPECT_FALSE(ParseInputShapes({"a=1", "b"}).ok());
}

TEST(CheckInputShape, NeedsANameAndPositiveDims) {
  EXPECT_TRUE(CheckInputShape("x", std::vector<int64_t>{1, 3}).ok());
  auto message = [](std::string_view name, std::vector<int64_t> dims) {
    absl::Status status = CheckInputShape(name, dims);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  EXPECT_THAT(message("", {1}), HasSubstr("empty input name"));
  EXPECT_THAT(message("x", {}), HasSubstr("input 'x' has no dims"));
  EXPECT_THAT(message("x", {1, 0}), HasSubstr("input 'x' has dim 1 = 0"));
  EXPECT_THAT(message("x", {-1}), HasSubstr("dim 0 = -1; every dim must be positive"));
}

TEST(FormatDims, JoinsWithX) {
  EXPECT_EQ(FormatDims(std::vector<int64_t>{1, 3, 224}), "1x3x224");
  EXPECT_EQ(FormatDims(std::vector<int64_t>{}), "");
}

}  // namespace
}  // namespace kiln
