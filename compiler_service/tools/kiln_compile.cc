// kiln-compile: compiles an MLIR program or an ONNX model into a kiln module file, like
// iree-compile.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "CLI/CLI.hpp"
#include "compiler_service/compiler.h"
#include "compiler_service/malloc_tunables.h"
#include "runtime_service/module/signature.h"
#include "runtime_service/tensor/input_shape.h"

namespace mv1 = kiln::module::v1;

int main(int argc, char** argv) {
  CLI::App app{"kiln-compile: compile an MLIR program or an ONNX model into a kiln module (.kmod)"};
  std::string input, output;
  std::string format = "auto", target_cpu = "host", model = "auto", exe_format = "auto";
  std::vector<std::string> features, shape_specs;
  int64_t batch_size = 0;
  std::string dump_after;
  app.add_option("input", input, "MLIR source (text or bytecode) or ONNX model (.onnx)")
      ->required();
  app.add_option("-o,--output", output, "module file to write")->required();
  app.add_option("--input-format", format,
                 "auto (onnx for a .onnx file, else by content)|linalg|tosa|onnx")
      ->check(CLI::IsMember({"auto", "linalg", "tosa", "onnx"}));
  app.add_option("--input-shape", shape_specs,
                 "ONNX: full shape of a graph input with dynamic dims, NAME=DIMxDIM... "
                 "(e.g. input=1x3x224x224; repeatable)")
      ->allow_extra_args(false);
  app.add_option("--batch-size", batch_size,
                 "compile a program with a dynamic leading (batch) dim for this batch");
  app.add_option("--target-cpu", target_cpu, "host or an LLVM CPU name");
  app.add_option("--target-feature", features, "extra LLVM feature, e.g. +avx512f");
  app.add_option("--execution-model", model, "auto|async|inline-dynamic")
      ->check(CLI::IsMember({"auto", "async", "inline-dynamic"}));
  app.add_option("--executable-format", exe_format,
                 "auto (embedded-elf unless the code needs libc)|embedded-elf|system-library")
      ->check(CLI::IsMember({"auto", "embedded-elf", "system-library"}));
  app.add_option("--dump-after", dump_after,
                 "print the IR after a phase to stderr (parse: for ONNX, the imported TOSA)")
      ->check(CLI::IsMember({"parse", "input", "dispatch", "lower", "translate"}));
  CLI11_PARSE(app, argc, argv);
  auto input_shapes = kiln::ParseInputShapes(shape_specs);
  if (!input_shapes.ok()) {
    std::cerr << "kiln-compile: " << input_shapes.status().message() << "\n";
    return 1;
  }
  if (format == "auto" && std::filesystem::path(input).extension() == ".onnx") format = "onnx";

  // A large input (a model's weights) compiles with kiln's malloc tunables, which glibc reads
  // only at start: run again with them (compiler_service/malloc_tunables.h). Small programs
  // are not worth the second start.
  constexpr uintmax_t kReexecBytes = uintmax_t{4} << 20;
  std::error_code size_error;
  // KILN_COMPILE_REEXECUTED guards against a loop: some glibc versions rewrite GLIBC_TUNABLES
  // in the environment as they parse it.
  if (const uintmax_t size = std::filesystem::file_size(input, size_error);
      !size_error && size >= kReexecBytes && !kiln::compiler::HasCompileMallocTunables() &&
      std::getenv("KILN_COMPILE_REEXECUTED") == nullptr) {
    std::vector<std::string> env = kiln::compiler::WithCompileMallocTunables(environ);
    env.emplace_back("KILN_COMPILE_REEXECUTED=1");
    std::vector<char*> envp;
    envp.reserve(env.size() + 1);
    for (std::string& variable : env) envp.push_back(variable.data());
    envp.push_back(nullptr);
    execve("/proc/self/exe", argv, envp.data());  // returns only on failure: go on as we are
  }

  std::ifstream in(input, std::ios::binary);
  if (!in) {
    std::cerr << "kiln-compile: cannot read " << input << "\n";
    return 1;
  }
  // One read of the whole file (a model's weights are tens of MB); a pipe, which cannot seek,
  // is read as a stream.
  std::string source;
  const std::streamoff size = in.seekg(0, std::ios::end).tellg();
  if (size >= 0) {
    source.resize(static_cast<size_t>(size));
    in.seekg(0, std::ios::beg);
    in.read(source.data(), static_cast<std::streamsize>(size));
  } else {
    in.clear();
    source.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (in.bad() || (size >= 0 && in.gcount() != size)) {
    std::cerr << "kiln-compile: cannot read " << input << "\n";
    return 1;
  }

  kiln::compiler::CompileOptions options;
  options.source_name = input;
  options.source_format = format == "tosa"     ? kiln::compiler::SourceFormat::kTosa
                          : format == "linalg" ? kiln::compiler::SourceFormat::kLinalg
                          : format == "onnx"   ? kiln::compiler::SourceFormat::kOnnx
                                               : kiln::compiler::SourceFormat::kAuto;
  options.input_shapes = *std::move(input_shapes);
  options.batch_size = batch_size;
  // External-data files of an ONNX model sit next to it. (kAuto may find ONNX by content.)
  if (format == "onnx" || format == "auto")
    options.external_data_dir = std::filesystem::absolute(input).parent_path().string();
  options.target_cpu = target_cpu;
  options.target_features = features;
  options.execution_model = model == "async"            ? mv1::EXECUTION_MODEL_ASYNC
                            : model == "inline-dynamic" ? mv1::EXECUTION_MODEL_INLINE_DYNAMIC
                                                        : mv1::EXECUTION_MODEL_UNSPECIFIED;
  options.executable_format = exe_format == "embedded-elf" ? mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF
                              : exe_format == "system-library"
                                  ? mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY
                                  : mv1::EXECUTABLE_FORMAT_UNSPECIFIED;

  options.dump_after = dump_after;
  options.dump = [](const std::string& text) { std::cerr << text << "\n"; };
  auto result = kiln::compiler::Compile(source, options);
  if (!result.ok()) {
    std::cerr << result.status().message() << "\n";
    return 1;
  }
  for (const auto& diag : result->diagnostics) std::cerr << diag.ToString() << "\n";
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  out.write(result->module_bytes.data(), static_cast<std::streamsize>(result->module_bytes.size()));
  if (!out) {
    std::cerr << "kiln-compile: cannot write " << output << "\n";
    return 1;
  }
  std::cout << "executable format: "
            << (result->def.executables(0).format() == mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF
                    ? "embedded-elf"
                    : "system-library")
            << "\n";
  for (const auto& fn : result->def.functions())
    std::cout << kiln::SignatureString(fn) << "  ["
              << (fn.execution_model() == mv1::EXECUTION_MODEL_ASYNC ? "async" : "inline-dynamic")
              << ": " << fn.execution_model_reason() << "]\n";
  for (const auto& timing : result->timings)
    std::cout << "  " << timing.phase << ": " << timing.milliseconds << " ms\n";
  return 0;
}
