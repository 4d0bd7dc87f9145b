#include "runtime_service/input_matching.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime_service/module/signature.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln {

namespace mv1 = kiln::module::v1;

absl::StatusOr<std::vector<TensorView>> MatchInputs(const mv1::FunctionDef& function,
                                                    std::span<const TensorView> tensors) {
  const size_t count = static_cast<size_t>(function.inputs_size());
  auto error = [&](const std::string& message) {
    return absl::InvalidArgumentError(
        absl::StrCat(message, "; signature: ", SignatureString(function)));
  };
  if (tensors.size() != count) {
    return error(absl::StrCat("function '", function.name(), "' expects ", count,
                              count == 1 ? " input" : " inputs", ", got ", tensors.size()));
  }

  // Named tensors claim their inputs first; unnamed ones fill the rest in order.
  std::vector<std::optional<size_t>> assigned(count);  // input -> tensor index
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].name.empty()) continue;
    size_t input = 0;
    while (input < count && function.inputs(input).name() != tensors[t].name) ++input;
    if (input == count)
      return error(absl::StrCat("unknown input '", std::string(tensors[t].name), "'"));
    if (assigned[input])
      return error(
          absl::StrCat("input '", std::string(tensors[t].name), "' is given more than once"));
    assigned[input] = t;
  }
  size_t next_input = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (!tensors[t].name.empty()) continue;
    while (assigned[next_input]) ++next_input;  // counts match, so a free input exists
    assigned[next_input] = t;
  }

  std::vector<TensorView> ordered(count);
  std::optional<int64_t> batch;  // of the first input with a batch dim
  std::string batch_input;
  for (size_t i = 0; i < count; ++i) {
    const mv1::ArgumentDef& input = function.inputs(i);
    const TensorView& tensor = tensors[*assigned[i]];
    const std::span<const int64_t> shape = SignatureShape(input.type());
    // A dim of -1 (a batched model's batch) takes any size; every such dim of a call the same.
    const bool matches =
        tensor.dtype == input.type().dtype() && tensor.shape.size() == shape.size() &&
        std::ranges::equal(tensor.shape, shape,
                           [](int64_t got, int64_t want) { return want < 0 || got == want; });
    if (!matches) {
      return error(absl::StrCat("input '", input.name(), "': expected ", TypeString(input.type()),
                                ", got ", TypeString(tensor.dtype, tensor.shape)));
    }
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] >= 0) continue;
      if (tensor.shape[d] < 1)
        return error(absl::StrCat("input '", input.name(), "': the batch (dim ", d, ") is ",
                                  tensor.shape[d], "; it must be at least 1"));
      if (!batch) {
        batch = tensor.shape[d];
        batch_input = input.name();
      } else if (*batch != tensor.shape[d]) {
        return error(absl::StrCat("input '", input.name(), "' has a batch of ", tensor.shape[d],
                                  ", input '", batch_input, "' one of ", *batch,
                                  "; every input of a request has the same batch"));
      }
    }
    auto length = ByteLength(tensor.dtype, tensor.shape);
    const uint64_t expected = length.ok() ? static_cast<uint64_t>(*length) : 0;
    if (tensor.data.size() != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input.name(), "': expected ", expected, " bytes for ",
                       TypeString(tensor.dtype, tensor.shape), ", got ", tensor.data.size()));
    }
    ordered[i] = tensor;
    ordered[i].name = input.name();
  }
  return ordered;
}

}  // namespace kiln
