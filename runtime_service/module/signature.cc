#include "runtime_service/module/signature.h"

#include "absl/strings/str_cat.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

std::string SignatureString(const mv1::FunctionDef& function) {
  std::string text = absl::StrCat(function.name(), "(");
  for (int i = 0; i < function.inputs_size(); ++i) {
    const auto& input = function.inputs(i);
    absl::StrAppend(&text, i ? ", " : "", input.name(), ": ", TypeString(input.type()));
  }
  absl::StrAppend(&text, ") -> (");
  for (int i = 0; i < function.outputs_size(); ++i) {
    const auto& output = function.outputs(i);
    absl::StrAppend(&text, i ? ", " : "", output.name(), ": ", TypeString(output.type()));
  }
  absl::StrAppend(&text, ")");
  return text;
}

std::span<const int64_t> SignatureShape(const mv1::TensorType& type) {
  return {type.shape().data(), static_cast<size_t>(type.shape().size())};
}

uint64_t SignatureByteLength(const mv1::TensorType& type) {
  auto length = ByteLength(type.dtype(), SignatureShape(type));
  return length.ok() ? static_cast<uint64_t>(*length) : 0;
}

}  // namespace kiln
