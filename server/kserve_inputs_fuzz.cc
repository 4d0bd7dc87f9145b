// Fuzzes the decoding of KServe ModelInferRequest bytes into tensors: the protobuf parse, then
// DecodeInferInputs against a fixed four-input function, and PackContents of every input's
// typed contents under every datatype. Checks that what succeeds is what was asked for: the
// decoded tensors have the signature's types and byte lengths, and packed values read back as
// the request's values (FP16/BF16 as the runtime's own conversions in tensor_spec.h round them).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "inference/grpc_service.pb.h"
#include "runtime_service/tensor/tensor.h"
#include "runtime_service/tensor/tensor_spec.h"
#include "runtime_service/testing/fuzzing.h"
#include "runtime_service/testing/fuzzing_protobuf.h"
#include "server/kserve_inputs.h"

namespace kiln {
namespace {

namespace mv1 = kiln::module::v1;

constexpr DataType kAllTypes[] = {mv1::DATA_TYPE_F32,  mv1::DATA_TYPE_F64, mv1::DATA_TYPE_F16,
                                  mv1::DATA_TYPE_BF16, mv1::DATA_TYPE_I8,  mv1::DATA_TYPE_I16,
                                  mv1::DATA_TYPE_I32,  mv1::DATA_TYPE_I64, mv1::DATA_TYPE_U8,
                                  mv1::DATA_TYPE_U16,  mv1::DATA_TYPE_U32, mv1::DATA_TYPE_U64,
                                  mv1::DATA_TYPE_BOOL};

// main(a: f32[2x3], b: i8[4], c: bool[2], d: f16[1]) -> (result0: f32[2x3]): one input per
// contents field family, so that every packing path can reach a successful decode.
mv1::FunctionDef MakeFunction() {
  mv1::FunctionDef function;
  function.set_name("main");
  auto add = [](google::protobuf::RepeatedPtrField<mv1::ArgumentDef>* args, const char* name,
                DataType dtype, const std::vector<int64_t>& shape) {
    mv1::ArgumentDef* arg = args->Add();
    arg->set_name(name);
    arg->mutable_type()->set_dtype(dtype);
    for (int64_t dim : shape) arg->mutable_type()->add_shape(dim);
  };
  add(function.mutable_inputs(), "a", mv1::DATA_TYPE_F32, {2, 3});
  add(function.mutable_inputs(), "b", mv1::DATA_TYPE_I8, {4});
  add(function.mutable_inputs(), "c", mv1::DATA_TYPE_BOOL, {2});
  add(function.mutable_inputs(), "d", mv1::DATA_TYPE_F16, {1});
  add(function.mutable_outputs(), "result0", mv1::DATA_TYPE_F32, {2, 3});
  return function;
}

template <typename T>
T Load(const std::string& bytes, size_t index) {
  T value;
  std::memcpy(&value, bytes.data() + index * sizeof(T), sizeof(T));
  return value;
}

template <typename T, typename Values>
void CheckIntegers(const Values& values, const std::string& out) {
  KILN_FUZZ_CHECK(out.size() == static_cast<size_t>(values.size()) * sizeof(T));
  for (int i = 0; i < values.size(); ++i)
    KILN_FUZZ_CHECK(std::cmp_equal(Load<T>(out, static_cast<size_t>(i)), values[i]));
}

bool IsHalfNan(uint16_t bits, int exponent_bits) {
  const int mantissa_bits = 15 - exponent_bits;
  const uint16_t exponent =
      static_cast<uint16_t>((bits >> mantissa_bits) & ((1 << exponent_bits) - 1));
  return exponent == (1 << exponent_bits) - 1 && (bits & ((1 << mantissa_bits) - 1)) != 0;
}

// 16-bit floats must be what the runtime's own conversions give; NaNs need only stay NaNs.
void CheckHalves(DataType dtype, const google::protobuf::RepeatedField<float>& values,
                 const std::string& out) {
  KILN_FUZZ_CHECK(out.size() == static_cast<size_t>(values.size()) * 2);
  const bool half = dtype == mv1::DATA_TYPE_F16;
  for (int i = 0; i < values.size(); ++i) {
    const uint16_t bits = Load<uint16_t>(out, static_cast<size_t>(i));
    if (std::isnan(values[i])) {
      KILN_FUZZ_CHECK(IsHalfNan(bits, half ? 5 : 8));
    } else {
      KILN_FUZZ_CHECK(bits == (half ? FloatToHalf(values[i]) : FloatToBFloat16(values[i])));
    }
  }
}

// A successful PackContents: exactly the values of the datatype's field, packed.
void CheckPacked(DataType dtype, const inference::InferTensorContents& c, const std::string& out) {
  switch (dtype) {
    case mv1::DATA_TYPE_BOOL:
      KILN_FUZZ_CHECK(out.size() == static_cast<size_t>(c.bool_contents_size()));
      for (int i = 0; i < c.bool_contents_size(); ++i)
        KILN_FUZZ_CHECK(out[static_cast<size_t>(i)] == (c.bool_contents(i) ? 1 : 0));
      return;
    case mv1::DATA_TYPE_I8:
      return CheckIntegers<int8_t>(c.int_contents(), out);
    case mv1::DATA_TYPE_I16:
      return CheckIntegers<int16_t>(c.int_contents(), out);
    case mv1::DATA_TYPE_I32:
      return CheckIntegers<int32_t>(c.int_contents(), out);
    case mv1::DATA_TYPE_I64:
      return CheckIntegers<int64_t>(c.int64_contents(), out);
    case mv1::DATA_TYPE_U8:
      return CheckIntegers<uint8_t>(c.uint_contents(), out);
    case mv1::DATA_TYPE_U16:
      return CheckIntegers<uint16_t>(c.uint_contents(), out);
    case mv1::DATA_TYPE_U32:
      return CheckIntegers<uint32_t>(c.uint_contents(), out);
    case mv1::DATA_TYPE_U64:
      return CheckIntegers<uint64_t>(c.uint64_contents(), out);
    case mv1::DATA_TYPE_F32:
      KILN_FUZZ_CHECK(out.size() == static_cast<size_t>(c.fp32_contents_size()) * 4);
      KILN_FUZZ_CHECK(out.empty() ||
                      std::memcmp(out.data(), c.fp32_contents().data(), out.size()) == 0);
      return;
    case mv1::DATA_TYPE_F64:
      KILN_FUZZ_CHECK(out.size() == static_cast<size_t>(c.fp64_contents_size()) * 8);
      KILN_FUZZ_CHECK(out.empty() ||
                      std::memcmp(out.data(), c.fp64_contents().data(), out.size()) == 0);
      return;
    case mv1::DATA_TYPE_F16:
    case mv1::DATA_TYPE_BF16:
      return CheckHalves(dtype, c.fp32_contents(), out);
    default:  // PackContents accepted a type that has no contents field
      KILN_FUZZ_CHECK(false);
  }
}

}  // namespace
}  // namespace kiln

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  kiln::fuzzing::QuietProtobufErrors();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln;
  static const mv1::FunctionDef function = MakeFunction();
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;

  std::vector<std::string> packed;
  absl::StatusOr<std::vector<TensorView>> decoded = DecodeInferInputs(request, function, packed);
  if (decoded.ok()) {
    KILN_FUZZ_CHECK(decoded->size() == static_cast<size_t>(function.inputs_size()));
    for (int i = 0; i < function.inputs_size(); ++i) {
      const TensorView& view = (*decoded)[static_cast<size_t>(i)];
      const mv1::TensorType& type = function.inputs(i).type();
      KILN_FUZZ_CHECK(view.name == function.inputs(i).name());
      KILN_FUZZ_CHECK(view.dtype == type.dtype());
      KILN_FUZZ_CHECK(std::equal(view.shape.begin(), view.shape.end(), type.shape().begin(),
                                 type.shape().end()));
      auto length = ByteLength(type.dtype(), view.shape);
      KILN_FUZZ_CHECK(length.ok() && view.data.size() == static_cast<uint64_t>(*length));
      if (view.dtype == mv1::DATA_TYPE_BOOL)
        for (uint8_t byte : view.data) KILN_FUZZ_CHECK(byte <= 1);
    }
  }

  // Every input's typed contents under every datatype, not only its declared one.
  for (const auto& input : request.inputs()) {
    const auto& c = input.contents();
    const int64_t elements =
        std::max({c.bool_contents_size(), c.int_contents_size(), c.int64_contents_size(),
                  c.uint_contents_size(), c.uint64_contents_size(), c.fp32_contents_size(),
                  c.fp64_contents_size()});
    for (DataType dtype : kAllTypes) {
      absl::StatusOr<std::string> out = PackContents(input.name(), dtype, elements, c);
      if (out.ok()) CheckPacked(dtype, c, *out);
    }
    auto parsed = ParseKServeDatatype(input.datatype());
    if (parsed.has_value()) KILN_FUZZ_CHECK(KServeDatatype(*parsed) == input.datatype());
  }
  return 0;
}
