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

}  // namespace kiln
