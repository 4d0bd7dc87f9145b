// Input shapes for compiling ONNX models with dynamic dims: the text form of the command lines
// (kiln-compile --input-shape, kiln compile --input-shape) and the checks every entry point
// (Compile RPC, config.json, command lines) applies.
//
// Grammar: NAME=DIMxDIMx...  e.g. "input=1x3x224x224". NAME is everything before the last '='
// (ONNX names may hold any character, '=' included); each DIM is a positive decimal integer.
#ifndef KILN_RUNTIME_SERVICE_TENSOR_INPUT_SHAPE_H_
#define KILN_RUNTIME_SERVICE_TENSOR_INPUT_SHAPE_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln {

using InputShapes = std::map<std::string, std::vector<int64_t>>;  // by input name

struct InputShape {
  std::string name;
  std::vector<int64_t> dims;
};

// INVALID_ARGUMENT quoting the spec and saying what is wrong with it.
absl::StatusOr<InputShape> ParseInputShape(std::string_view spec);

// Several specs (a repeated flag); INVALID_ARGUMENT also for a name given twice.
absl::StatusOr<InputShapes> ParseInputShapes(const std::vector<std::string>& specs);

// A shape from any source: a non-empty name, at least one dim, every dim positive.
// INVALID_ARGUMENT naming the input otherwise.
absl::Status CheckInputShape(std::string_view name, std::span<const int64_t> dims);

// "1x3x224x224".
std::string FormatDims(std::span<const int64_t> dims);

}  // namespace kiln

#endif  // KILN_RUNTIME_SERVICE_TENSOR_INPUT_SHAPE_H_
