#include "compiler_service/compiler.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler_service/codegen/abi_wrapper.h"
#include "compiler_service/codegen/object_emitter.h"
#include "compiler_service/codegen/target.h"
#include "compiler_service/host_program_builder.h"
#include "compiler_service/import/onnx/onnx_importer.h"
#include "compiler_service/link/lld_linker.h"
#include "compiler_service/pipeline/pipelines.h"
#include "compiler_service/transforms/passes.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/Threading.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/executable_abi.h"
#include "runtime_service/loader/cpu_features.h"
#include "runtime_service/module/module_file.h"
#include "runtime_service/tensor/tensor.h"

namespace kiln::compiler {
namespace {

namespace mv1 = kiln::module::v1;
using Clock = std::chrono::steady_clock;

std::string LocationString(mlir::Location loc) {
  if (auto file_loc = loc->findInstanceOf<mlir::FileLineColLoc>())
    return absl::StrCat(file_loc.getFilename().str(), ":", file_loc.getLine(), ":",
                        file_loc.getColumn());
  return "";
}

// Collects every diagnostic the context emits during a compile, notes included.
class DiagnosticCollector {
 public:
  explicit DiagnosticCollector(mlir::MLIRContext& ctx)
      : handler_(&ctx, [this](mlir::Diagnostic& diag) {
          Add(diag);
          return mlir::success();
        }) {}

  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

  // INVALID_ARGUMENT carrying every error and note, one per line.
  absl::Status InvalidInput(std::string_view summary) const {
    std::vector<std::string> lines;
    for (const Diagnostic& diag : diagnostics_)
      if (diag.severity == Diagnostic::Severity::kError ||
          diag.severity == Diagnostic::Severity::kNote)
        lines.push_back(diag.ToString());
    if (lines.empty()) return absl::InvalidArgumentError(std::string(summary));
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  }

  std::vector<Diagnostic> NonErrors() const {
    std::vector<Diagnostic> out;
    for (const Diagnostic& diag : diagnostics_)
      if (diag.severity != Diagnostic::Severity::kError) out.push_back(diag);
    return out;
  }

 private:
  void Add(mlir::Diagnostic& diag) {
    Diagnostic out;
    switch (diag.getSeverity()) {
      case mlir::DiagnosticSeverity::Error:
        out.severity = Diagnostic::Severity::kError;
        break;
      case mlir::DiagnosticSeverity::Warning:
        out.severity = Diagnostic::Severity::kWarning;
        break;
      case mlir::DiagnosticSeverity::Note:
        out.severity = Diagnostic::Severity::kNote;
        break;
      case mlir::DiagnosticSeverity::Remark:
        out.severity = Diagnostic::Severity::kRemark;
        break;
    }
    out.location = LocationString(diag.getLocation());
    out.message = diag.str();
    diagnostics_.push_back(std::move(out));
    for (mlir::Diagnostic& note : diag.getNotes()) Add(note);
  }

  std::vector<Diagnostic> diagnostics_;
  mlir::ScopedDiagnosticHandler handler_;
};

class PhaseTimer {
 public:
  explicit PhaseTimer(std::vector<PhaseTiming>& timings) : timings_(timings) {}
  void End(std::string phase) {
    auto now = Clock::now();
    timings_.push_back(
        {std::move(phase), std::chrono::duration<double, std::milli>(now - start_).count()});
    start_ = now;
  }

 private:
  std::vector<PhaseTiming>& timings_;
  Clock::time_point start_ = Clock::now();
};

std::optional<mv1::DataType> ToDataType(mlir::Type type) {
  if (type.isF32()) return mv1::DATA_TYPE_F32;
  if (type.isF64()) return mv1::DATA_TYPE_F64;
  if (type.isF16()) return mv1::DATA_TYPE_F16;
  if (type.isBF16()) return mv1::DATA_TYPE_BF16;
  if (type.isSignlessInteger(1)) return mv1::DATA_TYPE_BOOL;
  if (type.isSignlessInteger(8)) return mv1::DATA_TYPE_I8;
  if (type.isSignlessInteger(16)) return mv1::DATA_TYPE_I16;
  if (type.isSignlessInteger(32)) return mv1::DATA_TYPE_I32;
  if (type.isSignlessInteger(64)) return mv1::DATA_TYPE_I64;
  return std::nullopt;
}

absl::Status FillArgument(mlir::Type type, mlir::DictionaryAttr attrs, std::string default_name,
                          mv1::ArgumentDef& arg) {
  auto tensor = llvm::cast<mlir::RankedTensorType>(type);  // checked by the input pipeline
  auto dtype = ToDataType(tensor.getElementType());
  if (!dtype) return absl::InternalError("unchecked element type reached the signature");
  arg.mutable_type()->set_dtype(*dtype);
  for (int64_t dim : tensor.getShape()) arg.mutable_type()->add_shape(dim);
  auto name = attrs ? attrs.getAs<mlir::StringAttr>("kiln.name") : mlir::StringAttr();
  arg.set_name(name ? name.getValue().str() : std::move(default_name));
  if (attrs && attrs.get(kBatchAttrName)) arg.set_batched(true);
  return absl::OkStatus();
}

// One FunctionDef per public function, read before lowering changes the signatures.
absl::StatusOr<std::vector<mv1::FunctionDef>> ExtractSignatures(mlir::ModuleOp module) {
  std::vector<mv1::FunctionDef> functions;
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (!func.isPublic()) continue;
    mv1::FunctionDef& def = functions.emplace_back();
    def.set_name(func.getSymName().str());
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      if (auto s = FillArgument(func.getArgumentTypes()[i], func.getArgAttrDict(i),
                                absl::StrCat("arg", i), *def.add_inputs());
          !s.ok())
        return s;
    for (unsigned i = 0; i < func.getNumResults(); ++i)
      if (auto s = FillArgument(func.getResultTypes()[i], func.getResultAttrDict(i),
                                absl::StrCat("result", i), *def.add_outputs());
          !s.ok())
        return s;
  }
  return functions;
}

// Refuses public signatures the runtime could never load (its ByteLength bound), before any
// pass computes with their sizes, so that no unloadable module is compiled and cached. Types
// the input pipeline rejects anyway (dynamic, unranked, other element types) are left to it.
bool CheckSignatureSizes(mlir::ModuleOp module) {
  bool ok = true;
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (!func.isPublic()) continue;
    auto check = [&](mlir::Type type, mlir::DictionaryAttr attrs, const std::string& what) {
      auto tensor = llvm::dyn_cast<mlir::RankedTensorType>(type);
      if (!tensor || !tensor.hasStaticShape()) return;
      auto dtype = ToDataType(tensor.getElementType());
      if (!dtype) return;
      llvm::ArrayRef<int64_t> shape = tensor.getShape();
      if (ByteLength(*dtype, std::span<const int64_t>(shape.data(), shape.size())).ok()) return;
      auto name = attrs ? attrs.getAs<mlir::StringAttr>("kiln.name") : mlir::StringAttr();
      auto diag = func.emitError() << "function '" << func.getSymName() << "' " << what;
      if (name) diag << " ('" << name.getValue() << "')";
      std::string type_text;
      llvm::raw_string_ostream(type_text) << type;  // unquoted, unlike a diagnostic's << type
      diag << " of type " << type_text << " is larger than the runtime's limit of "
           << kMaxTensorBytes << " bytes (2^62) per tensor";
      ok = false;
    };
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      check(func.getArgumentTypes()[i], func.getArgAttrDict(i), absl::StrCat("argument #", i));
    for (unsigned i = 0; i < func.getNumResults(); ++i)
      check(func.getResultTypes()[i], func.getResultAttrDict(i), absl::StrCat("result #", i));
  }
  return ok;
}

absl::Status ToStatus(llvm::Error error, absl::StatusCode code, const char* context) {
  std::string message = llvm::toString(std::move(error));
  return absl::Status(code, absl::StrCat(context, ": ", message));
}

}  // namespace

std::string Diagnostic::ToString() const {
  const char* kind = severity == Severity::kError     ? "error"
                     : severity == Severity::kWarning ? "warning"
                     : severity == Severity::kNote    ? "note"
                                                      : "remark";
  if (location.empty()) return absl::StrCat(kind, ": ", message);
  return absl::StrCat(location, ": ", kind, ": ", message);
}

absl::StatusOr<std::string> CanonicalOptionsKey(const CompileOptions& options) {
  auto target = ResolveTarget(options.target_cpu, options.target_features);
  if (!target) return ToStatus(target.takeError(), absl::StatusCode::kInvalidArgument, "target");
  std::string shapes;
  for (const auto& [name, dims] : options.input_shapes)
    absl::StrAppend(&shapes, name.size(), ":", name, "=", absl::StrJoin(dims, "x"), ";");
  // Only a batch that is set is in the key: every key (and artifact digest) from before batches
  // existed stays what it was.
  std::string batch = options.batch_size != 0 ? absl::StrCat(";batch=", options.batch_size) : "";
  return absl::StrCat("format=", static_cast<int>(options.source_format), ";shapes=", shapes, batch,
                      ";model=", static_cast<int>(options.execution_model),
                      ";exe=", static_cast<int>(options.executable_format),
                      ";triple=", target->triple, ";cpu=", target->cpu,
                      ";features=", target->FeatureString());
}

const std::string& CompilerBuildId() {
  static const std::string id = [] {
    Sha256Hasher hasher;
    hasher.UpdateField(KILN_VERSION);
    hasher.UpdateField(LLVM_VERSION_STRING);
    std::ifstream exe("/proc/self/exe", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(exe)), std::istreambuf_iterator<char>());
    hasher.UpdateField(bytes);
    return DigestString(hasher.Finish());
  }();
  return id;
}

namespace {

absl::StatusOr<CompileResult> CompileForFormat(std::string_view source,
                                               const CompileOptions& options, bool embedded,
                                               const ContinueCheck& should_continue) {
  auto check = [&]() -> absl::Status {
    return should_continue ? should_continue() : absl::OkStatus();
  };
  std::string execution_model = "auto";
  if (options.execution_model == mv1::EXECUTION_MODEL_ASYNC) execution_model = "async";
  if (options.execution_model == mv1::EXECUTION_MODEL_INLINE_DYNAMIC)
    execution_model = "inline-dynamic";

  CompileResult result;
  PhaseTimer timer(result.timings);

  auto target = ResolveTarget(options.target_cpu, options.target_features);
  if (!target) return ToStatus(target.takeError(), absl::StatusCode::kInvalidArgument, "target");

  RegisterCompilerPasses();
  mlir::DialectRegistry registry;
  RegisterCompilerDialects(registry);
  // One context per compile keeps concurrent compiles independent. Its threads (as many as
  // code generation uses, CompileThreads) run function passes over the dispatches in
  // parallel; kilnd runs each compile in a worker process of its own.
  std::optional<llvm::DefaultThreadPool> threads;  // outlives the context
  mlir::MLIRContext ctx(registry, mlir::MLIRContext::Threading::DISABLED);
  if (const unsigned count = CompileThreads(); count > 1) {
    threads.emplace(llvm::hardware_concurrency(count));
    ctx.setThreadPool(*threads);
  }
  DiagnosticCollector diagnostics(ctx);

  const bool onnx =
      options.source_format == SourceFormat::kOnnx ||
      (options.source_format == SourceFormat::kAuto && onnx_import::LooksLikeOnnx(source));
  if (!onnx && !options.input_shapes.empty())
    return absl::InvalidArgumentError(
        "input shapes apply to ONNX models only; an MLIR program declares its own shapes");
  mlir::OwningOpRef<mlir::ModuleOp> module;
  if (onnx) {
    onnx_import::ImportOptions import_options;
    import_options.source_name = options.source_name;
    import_options.input_shapes = options.input_shapes;
    import_options.batch_size = options.batch_size;
    import_options.external_data_dir = options.external_data_dir;
    auto imported = onnx_import::ImportOnnxModel(source, import_options, ctx);
    if (!imported.ok()) return imported.status();
    module = std::move(*imported);
    timer.End("import");
  } else {
    llvm::SourceMgr source_mgr;
    source_mgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(source.data(), source.size()),
                                             options.source_name),
        llvm::SMLoc());
    module = mlir::parseSourceFile<mlir::ModuleOp>(source_mgr, mlir::ParserConfig(&ctx));
    if (!module) return diagnostics.InvalidInput("the program could not be parsed");
    timer.End("parse");
  }
  if (auto s = check(); !s.ok()) return s;

  auto dump = [&](const char* phase, auto& ir) {
    if (options.dump_after != phase || !options.dump) return;
    std::string text;
    llvm::raw_string_ostream os(text);
    ir.print(os);
    options.dump(text);
  };
  dump("parse", **module);
  // An explicit input format is a promise about the program: hold the user to it.
  if (options.source_format == SourceFormat::kLinalg) {
    mlir::Operation* tosa_op = nullptr;
    module->walk([&](mlir::Operation* op) {
      if (!tosa_op && op->getName().getDialectNamespace() == "tosa") tosa_op = op;
    });
    if (tosa_op != nullptr) {
      tosa_op->emitError() << "input format is 'linalg' but the program has TOSA op '"
                           << tosa_op->getName() << "'; use --input-format=tosa or auto";
      return diagnostics.InvalidInput("the program does not match its input format");
    }
  }

  if (options.batch_size < 0 || options.batch_size > kMaxBatchSize)
    return absl::InvalidArgumentError(
        absl::StrCat("batch size ", options.batch_size, " is outside 0..", kMaxBatchSize));
  if (!onnx && options.batch_size > 0) {
    mlir::PassManager pm(&ctx);
    SpecializeBatchOptions specialize;
    specialize.batchSize = options.batch_size;
    pm.addPass(createSpecializeBatch(specialize));
    if (mlir::failed(pm.run(*module)))
      return diagnostics.InvalidInput("the program cannot be compiled for a batch");
    if (auto s = check(); !s.ok()) return s;
  }

  if (!CheckSignatureSizes(*module))
    return diagnostics.InvalidInput("a signature is beyond the runtime's limits");

  auto run = [&](const std::function<void(mlir::OpPassManager&)>& build,
                 std::string_view failure) -> absl::Status {
    mlir::PassManager pm(&ctx);
    build(pm);
    if (mlir::failed(pm.run(*module))) return diagnostics.InvalidInput(failure);
    return absl::OkStatus();
  };

  if (auto s = run(BuildInputPipeline, "the program is not supported"); !s.ok()) return s;
  auto functions = ExtractSignatures(*module);
  if (!functions.ok()) return functions.status();
  dump("input", **module);
  timer.End("input");
  if (auto s = check(); !s.ok()) return s;

  // The caller's inputs are read-only: bufferization must copy rather than write into them.
  mlir::Builder builder(&ctx);
  for (auto func : module->getOps<mlir::func::FuncOp>())
    if (func.isPublic())
      for (unsigned i = 0; i < func.getNumArguments(); ++i)
        func.setArgAttr(i, "bufferization.writable", builder.getBoolAttr(false));
  CodegenOptions codegen;
  codegen.vector_bits = (target->required_cpu_features & KILN_CPU_FEATURE_AVX512F) ? 512 : 256;
  codegen.allow_libm = !embedded;
  if (auto s = run(
          [&](mlir::OpPassManager& pm) {
            BuildBufferizePipeline(pm, codegen);
            BuildDispatchPipeline(pm, execution_model, codegen);
          },
          "kiln could not form dispatches for the program");
      !s.ok())
    return s;
  dump("dispatch", **module);
  auto host_programs = BuildHostPrograms(*module, *functions);
  if (!host_programs)
    return ToStatus(host_programs.takeError(), absl::StatusCode::kInternal, "host program");
  timer.End("dispatch");
  if (auto s = check(); !s.ok()) return s;

  if (auto s = run([&](mlir::OpPassManager& pm) { BuildCodegenPipeline(pm, codegen); },
                   "kiln could not generate code for the program");
      !s.ok())
    return s;
  dump("lower", **module);
  timer.End("lower");
  if (auto s = check(); !s.ok()) return s;

  llvm::LLVMContext llvm_ctx;
  std::unique_ptr<llvm::Module> llvm_module =
      mlir::translateModuleToLLVMIR(*module, llvm_ctx, "kiln_module");
  if (!llvm_module) return diagnostics.InvalidInput("translation to LLVM IR failed");
  std::vector<ExportSpec> exports;
  exports.reserve(host_programs->exports.size());
  for (const DispatchExport& dispatch : host_programs->exports)
    exports.push_back({dispatch.name, dispatch.name, dispatch.bindings, dispatch.workgroup_count});
  if (llvm::Error error =
          EmitAbiWrapper(*llvm_module, "kiln_module", exports, target->required_cpu_features))
    return ToStatus(std::move(error), absl::StatusCode::kInternal, "ABI wrapper");
  if (embedded) EmitFreestandingRuntime(*llvm_module);
  if (options.dump_after == "translate" && options.dump) {
    std::string text;
    llvm::raw_string_ostream os(text);
    llvm_module->print(os, nullptr);
    options.dump(text);
  }
  timer.End("translate");
  if (auto s = check(); !s.ok()) return s;

  if (auto machine = CreateTargetMachine(*target); !machine)
    return ToStatus(machine.takeError(), absl::StatusCode::kInvalidArgument, "target");
  auto objects =
      EmitObjects(*llvm_module, [&] { return CreateTargetMachine(*target); }, CompileThreads());
  if (!objects) return ToStatus(objects.takeError(), absl::StatusCode::kInternal, "codegen");
  timer.End("codegen");
  if (auto s = check(); !s.ok()) return s;

  auto library = LinkSharedLibrary(*objects, embedded);
  if (!library)
    return ToStatus(library.takeError(),
                    embedded ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kInternal,
                    "link");
  timer.End("link");

  module::ModuleBuilder module_builder;
  mv1::ModuleDef& def = module_builder.def();
  def.set_name(options.source_name);
  def.set_executable_abi_version(KILN_EXECUTABLE_ABI_VERSION);
  def.set_compiler_version(KILN_VERSION);
  def.mutable_target()->set_triple(target->triple);
  def.mutable_target()->set_cpu(target->cpu);
  for (const std::string& feature : target->EnabledFeatures())
    def.mutable_target()->add_features(feature);
  mv1::ExecutableDef& exe = *def.add_executables();
  exe.set_name("kiln_module");
  exe.set_format(embedded ? mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF
                          : mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY);
  exe.set_segment(module_builder.AddSegment(
      embedded ? "kiln_module.elf" : "kiln_module.so",
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(library->data()),
                               library->size())));
  for (const std::string& feature : target->EnabledFeatures())
    if (CpuFeatureBitFromLlvmName(feature) != 0) exe.add_required_cpu_features(feature);
  for (const DispatchExport& dispatch : host_programs->exports) exe.add_exports(dispatch.name);
  for (ConstantData& constant : host_programs->constants) {
    mv1::ConstantDef& out = *def.add_constants();
    out.set_name(constant.name);
    out.set_segment(module_builder.AddOwnedSegment(constant.name, std::move(constant.bytes)));
  }
  for (mv1::FunctionDef& fn : *functions) *def.add_functions() = std::move(fn);
  auto bytes = module_builder.Serialize();
  if (!bytes.ok()) return bytes.status();
  result.module_bytes = std::move(*bytes);
  result.def = module_builder.def();
  result.diagnostics = diagnostics.NonErrors();
  timer.End("write");
  return result;
}

}  // namespace

// Code generation runs on as many threads as this process may use (its CPU affinity), at most
// 8: past that the split parts get too small to pay for themselves.
unsigned CompileThreads() {
  return std::clamp(llvm::hardware_concurrency().compute_thread_count(), 1u, 8u);
}

absl::StatusOr<CompileResult> Compile(std::string_view source, const CompileOptions& options,
                                      const ContinueCheck& should_continue) {
  if (options.executable_format != mv1::EXECUTABLE_FORMAT_UNSPECIFIED)
    return CompileForFormat(source, options,
                            options.executable_format == mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF,
                            should_continue);
  // Default: a freestanding embedded ELF, loaded by kiln's own loader. Code that needs the C
  // library (e.g. fmodf for arith.remf) falls back to a system library, with a remark saying so.
  auto embedded = CompileForFormat(source, options, /*embedded=*/true, should_continue);
  if (embedded.ok() || embedded.status().code() != absl::StatusCode::kInvalidArgument ||
      embedded.status().message().find("from the C library") == absl::string_view::npos)
    return embedded;
  auto library = CompileForFormat(source, options, /*embedded=*/false, should_continue);
  if (library.ok()) {
    Diagnostic remark;
    remark.severity = Diagnostic::Severity::kRemark;
    remark.message = absl::StrCat("built a system-library executable: ",
                                  std::string(embedded.status().message()));
    library->diagnostics.push_back(std::move(remark));
  }
  return library;
}

}  // namespace kiln::compiler
