// The ONNX importer: an ONNX ModelProto (opset 7..17, default domain) becomes a TOSA module
// whose public function `main` has the graph's inputs and outputs as arguments and results,
// named by `kiln.name` attributes, with every shape static. It enters the compiler at the input
// phase like hand-written TOSA. See docs/design/onnx_importer.md for the op mapping.
#ifndef KILN_COMPILER_SERVICE_IMPORT_ONNX_ONNX_IMPORTER_H_
#define KILN_COMPILER_SERVICE_IMPORT_ONNX_ONNX_IMPORTER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

namespace kiln::compiler::onnx_import {

struct ImportOptions {
  std::string source_name = "model.onnx";  // in locations, so diagnostics name the model
  // Full static shapes for graph inputs with dynamic (dim_param or missing) dims.
  std::map<std::string, std::vector<int64_t>> input_shapes;
  // Inputs whose first axis is dynamic get this batch (input_shapes take precedence) and are
  // marked batched, as are outputs with a dynamic first axis; 0: no batch.
  int64_t batch_size = 0;
  // Directory external-data files are resolved in; empty refuses external data.
  std::string external_data_dir;
};

// True when `bytes` starts like a serialized ModelProto (field 1, ir_version, as a varint):
// MLIR text starts with printable characters and MLIR bytecode with "ML\xefR".
bool LooksLikeOnnx(std::string_view bytes);

// INVALID_ARGUMENT for models kiln cannot take (not ONNX, unknown opset, unsupported op or
// attribute, a dynamic dim without a shape), naming the node, its op type and the attribute;
// INTERNAL when the importer built IR that does not verify (a kiln bug).
absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> ImportOnnxModel(std::string_view bytes,
                                                                  const ImportOptions& options,
                                                                  mlir::MLIRContext& ctx);

// Returns the model with every external-data tensor read from `dir` into raw_data, so that the
// bytes alone describe the model (what the artifact cache keys on). Locations must stay inside
// `dir`. Models without external data come back unchanged.
absl::StatusOr<std::string> InlineExternalData(std::string_view bytes, const std::string& dir);

}  // namespace kiln::compiler::onnx_import

#endif  // KILN_COMPILER_SERVICE_IMPORT_ONNX_ONNX_IMPORTER_H_
