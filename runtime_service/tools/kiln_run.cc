// kiln-run: runs one function of a compiled module on this machine, without kilnd (like
// iree-run-module). Prints every output; --output also writes them as .npy files.
//
//   kiln-run --module m.kmod --function main --input 2x3xf32=1,2,3,4,5,6 --output @y.npy
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime_service/tensor/npy.h"
#include "runtime_service/tensor/tensor_spec.h"
#include "runtime_service/tools/run_options.h"

namespace {

constexpr int kExitError = 1;

int Fail(const std::string& message) {
  std::cerr << "kiln-run: " << message << "\n";
  return kExitError;
}

int Run(const kiln::tools::RunOptions& options, const std::vector<std::string>& output_files) {
  auto run = kiln::tools::Prepare(options, /*always_create_device=*/false);
  if (!run.ok()) return Fail(std::string(run.status().message()));
  auto outputs = run->module->Invoke(*run->function, run->inputs, run->invoke);
  if (!outputs.ok()) return Fail(std::string(outputs.status().message()));

  if (output_files.size() > outputs->size()) {
    return Fail(absl::StrCat(output_files.size(), " --output files given but '",
                             run->function->name(), "' has ", outputs->size(),
                             outputs->size() == 1 ? " output" : " outputs"));
  }
  for (size_t i = 0; i < output_files.size(); ++i) {
    std::string path = output_files[i];
    if (!path.empty() && path[0] == '@') path.erase(0, 1);
    absl::Status written = kiln::WriteNpyFile(path, (*outputs)[i]);
    if (!written.ok()) return Fail(absl::StrCat(path, ": ", std::string(written.message())));
  }
  for (const kiln::HostTensor& output : *outputs) std::cout << kiln::FormatTensor(output) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kiln-run: run a function of a kiln module on this machine", "kiln-run"};
  kiln::tools::RunOptions options;
  std::vector<std::string> output_files;
  kiln::tools::AddRunOptions(app, options);
  app.add_option("--output", output_files,
                 "Write output i (in order, repeatable) to a .npy file: @y.npy");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& help) {  // --help
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    return Fail(error.what());
  }
  return Run(options, output_files);
}
