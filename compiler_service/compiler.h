// The kiln compiler: MLIR source → module file bytes. Used by kilnd's CompilerService,
// kiln-compile and tests. Thread-safe: concurrent Compile calls use separate MLIR contexts.
#ifndef KILN_COMPILER_SERVICE_COMPILER_H_
#define KILN_COMPILER_SERVICE_COMPILER_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"

namespace kiln::compiler {

// kAuto tells MLIR text/bytecode from an ONNX ModelProto by its first bytes.
enum class SourceFormat { kAuto, kLinalg, kTosa, kOnnx };

// The largest batch a program is compiled for (CompileOptions.batch_size): far beyond any
// model's useful batch, small enough that a batch times a row of a tensor cannot overflow.
inline constexpr int64_t kMaxBatchSize = int64_t{1} << 20;

struct CompileOptions {
  std::string source_name = "input.mlir";  // shown in diagnostics
  SourceFormat source_format = SourceFormat::kAuto;
  std::string target_cpu = "host";
  std::vector<std::string> target_features;  // "+avx512f", "-avx512f", ...
  kiln::module::v1::ExecutionModel execution_model =
      kiln::module::v1::EXECUTION_MODEL_UNSPECIFIED;  // unspecified = choose
  kiln::module::v1::ExecutableFormat executable_format =
      kiln::module::v1::EXECUTABLE_FORMAT_UNSPECIFIED;  // unspecified = compiler default
  // ONNX only: the full static shape of graph inputs whose declared shape has dynamic dims
  // (by input name), e.g. {"input", {1, 3, 224, 224}}. Part of the cache key.
  std::map<std::string, std::vector<int64_t>> input_shapes;
  // The batch a program with dynamic leading (batch) dims is compiled for; 0: none (see
  // CompileOptions.batch_size in compiler.proto). Part of the cache key when set.
  int64_t batch_size = 0;
  // ONNX only: where external-data files named by the model are read from. Empty: a model with
  // external data is refused (bytes that arrive over RPC have no directory; the model
  // repository inlines the files first, see import/onnx/onnx_importer.h).
  std::string external_data_dir;
  // Debugging: the IR after this phase ("parse", "input", "dispatch", "lower", "translate")
  // is handed to `dump` as text.
  std::string dump_after;
  std::function<void(const std::string& text)> dump;
};

struct Diagnostic {
  enum class Severity { kError, kWarning, kNote, kRemark };
  Severity severity = Severity::kError;
  std::string location;  // "file:line:col" when known
  std::string message;
  std::string ToString() const;  // "file:line:col: error: message"
};

struct PhaseTiming {
  std::string phase;
  double milliseconds = 0;
};

struct CompileResult {
  std::string module_bytes;             // a complete module file
  kiln::module::v1::ModuleDef def;      // its metadata (functions, execution model and reason)
  std::vector<Diagnostic> diagnostics;  // warnings/remarks of a successful compile
  std::vector<PhaseTiming> timings;
};

// Called between phases; a non-OK status (deadline, cancellation) aborts the compile with it.
using ContinueCheck = std::function<absl::Status()>;

// Errors: INVALID_ARGUMENT for programs kiln cannot compile, with every diagnostic
// ("file:line:col: error: ...") in the message; UNIMPLEMENTED for options this compiler does
// not support yet; INTERNAL for failures inside the compiler.
absl::StatusOr<CompileResult> Compile(std::string_view source, const CompileOptions& options,
                                      const ContinueCheck& should_continue = nullptr);

// Threads one compile uses at most (code generation of a large module runs in parallel): CPU
// time limits on a compile scale with it.
unsigned CompileThreads();

// The normalized option set and target as a stable string: part of artifact cache keys.
absl::StatusOr<std::string> CanonicalOptionsKey(const CompileOptions& options);

// Identifies this compiler build (version + LLVM version + a hash of the running binary), so
// cached artifacts from another build are never reused.
const std::string& CompilerBuildId();

}  // namespace kiln::compiler

#endif  // KILN_COMPILER_SERVICE_COMPILER_H_
