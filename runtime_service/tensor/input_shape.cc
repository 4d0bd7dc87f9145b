#include "runtime_service/tensor/input_shape.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kiln {

namespace {

// Debian's absl has its own string_view type, which StrCat does not accept std::string_view for.
absl::string_view AV(std::string_view text) { return absl::string_view(text.data(), text.size()); }

}  // namespace

std::string FormatDims(std::span<const int64_t> dims) { return absl::StrJoin(dims, "x"); }

absl::Status CheckInputShape(std::string_view name, std::span<const int64_t> dims) {
  if (name.empty()) return absl::InvalidArgumentError("an input shape has an empty input name");
  if (dims.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("the shape of input '", AV(name), "' has no dims (a scalar needs none)"));
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] <= 0)
      return absl::InvalidArgumentError(absl::StrCat("the shape of input '", AV(name), "' has dim ",
                                                     i, " = ", dims[i],
                                                     "; every dim must be positive"));
  }
  return absl::OkStatus();
}

absl::StatusOr<InputShape> ParseInputShape(std::string_view spec) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("input shape '", AV(spec), "': ", AV(why),
                                                   " (expected NAME=DIMxDIM..., e.g. "
                                                   "input=1x3x224x224)"));
  };
  size_t equals = spec.rfind('=');
  if (equals == std::string_view::npos) return bad("no '='");
  InputShape shape;
  shape.name = std::string(spec.substr(0, equals));
  if (shape.name.empty()) return bad("no input name before '='");
  std::string_view text = spec.substr(equals + 1);
  if (text.empty()) return bad("no dims after '='");
  for (absl::string_view dim : absl::StrSplit(AV(text), 'x')) {
    // Digits only: SimpleAtoi would also take signs and surrounding spaces.
    if (dim.empty() ||
        !std::all_of(dim.begin(), dim.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad(absl::StrCat("'", dim, "' is not a positive integer"));
    int64_t value;
    if (!absl::SimpleAtoi(dim, &value)) return bad(absl::StrCat("dim ", dim, " is too large"));
    if (value == 0) return bad("dims must be positive, not 0");
    shape.dims.push_back(value);
  }
  return shape;
}

absl::StatusOr<InputShapes> ParseInputShapes(const std::vector<std::string>& specs) {
  InputShapes shapes;
  for (const std::string& spec : specs) {
    auto shape = ParseInputShape(spec);
    if (!shape.ok()) return shape.status();
    auto [it, inserted] = shapes.emplace(shape->name, shape->dims);
    if (!inserted)
      return absl::InvalidArgumentError(
          absl::StrCat("input '", shape->name, "' has more than one shape (",
                       FormatDims(it->second), " and ", FormatDims(shape->dims), ")"));
  }
  return shapes;
}

}  // namespace kiln
