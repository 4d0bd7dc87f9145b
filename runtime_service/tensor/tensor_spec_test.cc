#include "runtime_service/tensor/tensor_spec.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime_service/tensor/npy.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;
using ::testing::HasSubstr;

template <typename T>
std::vector<T> Values(const HostTensor& tensor) {
  std::vector<T> out(tensor.data.size() / sizeof(T));
  std::memcpy(out.data(), tensor.data.data(), tensor.data.size());
  return out;
}

std::string ErrorOf(std::string_view spec) {
  auto tensor = ParseTensorSpec(spec);
  EXPECT_FALSE(tensor.ok()) << spec;
  return tensor.ok() ? "" : std::string(tensor.status().message());
}

TEST(TensorSpecTest, NamedAndPositional) {
  auto named = ParseTensorSpec("x=2x3xf32=1,2,3,4,5,6");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->name, "x");
  EXPECT_EQ(named->dtype, mv1::DATA_TYPE_F32);
  EXPECT_EQ(named->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Values<float>(*named), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  auto positional = ParseTensorSpec("2x3xi32=[[1, 2, 3], [4, 5, -6]]");
  ASSERT_TRUE(positional.ok()) << positional.status();
  EXPECT_EQ(positional->name, "");
  EXPECT_EQ(Values<int32_t>(*positional), (std::vector<int32_t>{1, 2, 3, 4, 5, -6}));
}

TEST(TensorSpecTest, Scalars) {
  auto scalar = ParseTensorSpec("f32=3.5");
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->name, "");
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(Values<float>(*scalar), std::vector<float>{3.5f});

  auto named = ParseTensorSpec("lr=f64=-1e-3");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->name, "lr");
  EXPECT_EQ(Values<double>(*named), std::vector<double>{-1e-3});

  // A name that looks like a type is still a name when a type follows.
  auto odd = ParseTensorSpec("f32=i8=-128");
  ASSERT_TRUE(odd.ok()) << odd.status();
  EXPECT_EQ(odd->name, "f32");
  EXPECT_EQ(odd->dtype, mv1::DATA_TYPE_I8);
}

TEST(TensorSpecTest, EmptyTensor) {
  auto empty = ParseTensorSpec("0x4xu8=");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->shape, (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(empty->data.empty());
}

TEST(TensorSpecTest, Files) {
  std::string path = testing::TempDir() + "/spec_" + std::to_string(getpid()) + "=a.npy";
  HostTensor tensor;
  tensor.dtype = mv1::DATA_TYPE_I16;
  tensor.shape = {2};
  tensor.data = std::string("\x01\x00\x02\x00", 4);
  ASSERT_TRUE(WriteNpyFile(path, tensor).ok());

  auto named = ParseTensorSpec("x=@" + path);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->name, "x");
  EXPECT_EQ(named->dtype, mv1::DATA_TYPE_I16);
  EXPECT_EQ(named->data, tensor.data);

  auto positional = ParseTensorSpec("@" + path);  // the path itself contains '='
  ASSERT_TRUE(positional.ok()) << positional.status();
  EXPECT_EQ(positional->name, "");
  EXPECT_EQ(positional->shape, tensor.shape);
  std::remove(path.c_str());

  EXPECT_THAT(ErrorOf("x=@" + path), HasSubstr("cannot open"));
  EXPECT_THAT(ErrorOf("@"), HasSubstr("empty file name"));
}

TEST(TensorSpecTest, ElementTypes) {
  auto bools = ParseTensorSpec("4xbool=true,false,1,0");
  ASSERT_TRUE(bools.ok()) << bools.status();
  EXPECT_EQ(bools->data, std::string("\x01\x00\x01\x00", 4));

  auto u64 = ParseTensorSpec("2xu64=0,18446744073709551615");
  ASSERT_TRUE(u64.ok()) << u64.status();
  EXPECT_EQ(Values<uint64_t>(*u64)[1], std::numeric_limits<uint64_t>::max());

  auto i64 = ParseTensorSpec("2xi64=-9223372036854775808,9223372036854775807");
  ASSERT_TRUE(i64.ok()) << i64.status();
  EXPECT_EQ(Values<int64_t>(*i64)[0], std::numeric_limits<int64_t>::min());

  auto f16 = ParseTensorSpec("4xf16=1,-2.5,65504,0.1");
  ASSERT_TRUE(f16.ok()) << f16.status();
  EXPECT_EQ(Values<uint16_t>(*f16), (std::vector<uint16_t>{0x3c00, 0xc100, 0x7bff, 0x2e66}));

  auto bf16 = ParseTensorSpec("3xbf16=1,-2.5,0.1");
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_EQ(Values<uint16_t>(*bf16), (std::vector<uint16_t>{0x3f80, 0xc020, 0x3dcd}));

  auto special = ParseTensorSpec("3xf32=inf,-inf,nan");
  ASSERT_TRUE(special.ok()) << special.status();
  EXPECT_TRUE(std::isinf(Values<float>(*special)[1]));
  EXPECT_TRUE(std::isnan(Values<float>(*special)[2]));
}

TEST(TensorSpecTest, Errors) {
  EXPECT_EQ(ErrorOf("x=2x3xf32=0"), "2x3xf32 needs 6 values, got 1");
  EXPECT_EQ(ErrorOf("f32=1,2"), "f32 needs 1 value, got 2");
  EXPECT_THAT(ErrorOf("x=2x3xf31=1"), HasSubstr("unknown element type 'f31'"));
  EXPECT_THAT(ErrorOf("x=2xax3xf32=1"), HasSubstr("bad dimension 'a'"));
  EXPECT_THAT(ErrorOf("x=-2xf32=1"), HasSubstr("bad dimension '-2'"));
  EXPECT_THAT(ErrorOf("x"), HasSubstr("expected [NAME=]TYPE=VALUES"));
  EXPECT_THAT(ErrorOf("=f32=1"), HasSubstr("empty tensor name"));
  EXPECT_EQ(ErrorOf("i8=128"), "value 128 is out of range for i8");
  EXPECT_EQ(ErrorOf("u8=-1"), "value -1 is out of range for u8");
  EXPECT_EQ(ErrorOf("i64=9223372036854775808"),
            "value 9223372036854775808 is out of range for i64");
  EXPECT_EQ(ErrorOf("u16=65536"), "value 65536 is out of range for u16");
  EXPECT_EQ(ErrorOf("f32=1e39"), "value 1e39 is out of range for f32");
  EXPECT_EQ(ErrorOf("f16=70000"), "value 70000 is out of range for f16");
  EXPECT_EQ(ErrorOf("i32=1.5"), "'1.5' is not an integer");
  EXPECT_EQ(ErrorOf("f32=abc"), "'abc' is not a number");
  EXPECT_THAT(ErrorOf("bool=2"), HasSubstr("is not a bool"));
}

TEST(Float16Test, HalfConversions) {
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);  // rounds down below the halfway point
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);  // halfway to the next binade: inf
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie to even (0)
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // tie to even (2)
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0).
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FloatToHalf(std::nanf("")) & 0x7e00, 0x7e00);
  // Every half value survives half -> float -> half.
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    uint16_t half = static_cast<uint16_t>(bits);
    float value = HalfToFloat(half);
    if (std::isnan(value)) {
      EXPECT_EQ(half & 0x7c00, 0x7c00);
      continue;
    }
    ASSERT_EQ(FloatToHalf(value), half) << bits;
  }
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
}

TEST(Float16Test, BFloat16Conversions) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even.
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(BFloat16ToFloat(0xc020), -2.5f);
}

TEST(FormatTest, Tensors) {
  auto t = ParseTensorSpec("result0=1x4xf32=0.5,-1.25,0.1,100000000");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatTensor(*t), "result0: f32[1x4] = [0.5, -1.25, 0.1, 1e+08]");
  EXPECT_EQ(FormatTensor(*t, 2), "result0: f32[1x4] = [0.5, -1.25, ...]");
  EXPECT_EQ(FormatTensor(*t, 0), "result0: f32[1x4] = [...]");

  auto scalar = ParseTensorSpec("f64=0.1");
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(FormatTensor(*scalar), "f64[] = 0.1");

  auto f16 = ParseTensorSpec("y=3xf16=0.1,nan,-inf");
  ASSERT_TRUE(f16.ok());
  EXPECT_EQ(FormatTensor(*f16), "y: f16[3] = [0.1, nan, -inf]");

  auto bf16 = ParseTensorSpec("2xbf16=0.1,3");
  ASSERT_TRUE(bf16.ok());
  EXPECT_EQ(FormatTensor(*bf16), "bf16[2] = [0.1, 3]");

  auto ints = ParseTensorSpec("3xi8=-128,0,127");
  ASSERT_TRUE(ints.ok());
  EXPECT_EQ(FormatTensor(*ints), "i8[3] = [-128, 0, 127]");

  auto bools = ParseTensorSpec("m=2xbool=1,0");
  ASSERT_TRUE(bools.ok());
  EXPECT_EQ(FormatTensor(*bools), "m: bool[2] = [true, false]");

  auto empty = ParseTensorSpec("0xu8=");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(FormatTensor(*empty), "u8[0] = []");

  HostTensor bad = *ints;
  bad.data.pop_back();
  EXPECT_EQ(FormatTensor(bad), "i8[3] = <2 bytes, malformed>");
}

TEST(FormatTest, ElementsAsValues) {
  auto t = ParseTensorSpec("2xf16=0.5,-2");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(std::get<double>(ElementAt(*t, 1)), -2.0);
  auto u = ParseTensorSpec("u64=18446744073709551615");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(std::get<uint64_t>(ElementAt(*u, 0)), std::numeric_limits<uint64_t>::max());
  auto b = ParseTensorSpec("bool=true");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(std::get<bool>(ElementAt(*b, 0)));
  auto i = ParseTensorSpec("i16=-7");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(std::get<int64_t>(ElementAt(*i, 0)), -7);
}

}  // namespace
}  // namespace kiln
