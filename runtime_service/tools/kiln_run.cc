// kiln-run: runs one function of a compiled module on this machine, without kilnd (like
// iree-run-module). Prints every output; --output also writes them as .npy files.
//
//   kiln-run --module m.kmod --function main --input 2x3xf32=1,2,3,4,5,6 --output @y.npy
#include <algorithm>
#include <chrono>
#include <cstdio>
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

// Runs the function `runs` times inline and prints where the time goes, per dispatch, the
// costliest first (find the dispatch to fix, then `kiln-compile --dump-after dispatch`).
int Profile(kiln::tools::PreparedRun& run, int runs) {
  kiln::DispatchProfile profile;
  kiln::InvokeOptions invoke = run.invoke;
  invoke.profile = &profile;
  double total = 0;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    auto outputs = run.module->Invoke(*run.function, run.inputs, invoke);
    if (!outputs.ok()) return Fail(std::string(outputs.status().message()));
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::sort(profile.entries.begin(), profile.entries.end(),
            [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  double dispatched = 0;
  for (const auto& e : profile.entries) dispatched += e.seconds;
  std::printf("%d runs, %.3f ms per run (inline, one thread), %.3f ms of it in %zu dispatches\n",
              runs, 1e3 * total / runs, 1e3 * dispatched / runs, profile.entries.size());
  std::printf("%8s %7s %6s %10s  %s\n", "command", "share", "wgs", "us/run", "export");
  for (const auto& e : profile.entries)
    std::printf("%8d %6.1f%% %6llu %10.1f  %s\n", e.command, 100.0 * e.seconds / dispatched,
                static_cast<unsigned long long>(e.workgroups), 1e6 * e.seconds / runs,
                e.export_name.c_str());
  return 0;
}

int Run(const kiln::tools::RunOptions& options, const std::vector<std::string>& output_files,
        int profile_runs) {
  auto run = kiln::tools::Prepare(options, /*always_create_device=*/false);
  if (!run.ok()) return Fail(std::string(run.status().message()));
  if (profile_runs > 0) return Profile(*run, profile_runs);
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
  int profile_runs = 0;
  app.add_option("--profile", profile_runs,
                 "Run N times inline and print the time of each dispatch, the costliest first")
      ->check(CLI::Range(1, 1000000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& help) {  // --help
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    return Fail(error.what());
  }
  return Run(options, output_files, profile_runs);
}
