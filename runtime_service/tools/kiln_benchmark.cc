// kiln-benchmark: per-invocation latency of a module function under both execution models
// (local-sync: inline on the calling thread; local-task: async HAL), plus micro-benchmarks of
// the HAL's own overheads (an empty dispatch through the executor, semaphore round trips).
// Google Benchmark's flags (--benchmark_format=json, --benchmark_repetitions=N,
// --benchmark_filter=...) pass through.
//
//   kiln-benchmark --module m.kmod --function main --input 1x64xf32=@x.npy --workers 4
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "runtime_service/hal/command_buffer.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/hal/semaphore.h"
#include "runtime_service/tools/run_options.h"

namespace {

using kiln::hal::CommandBuffer;
using kiln::hal::Device;
using kiln::hal::Semaphore;

constexpr int kExitError = 1;

int Fail(const std::string& message) {
  std::cerr << "kiln-benchmark: " << message << "\n";
  return kExitError;
}

// ---- Module invocation latency ----

// Into preallocated output buffers (LoadedModule::InvokeInto), as a server reusing its buffers
// would: the loop measures the invocation, not the allocation of its outputs.
void RegisterInvoke(const std::shared_ptr<kiln::tools::PreparedRun>& run, const char* device,
                    kiln::ExecutionModelOverride model) {
  const std::string name = absl::StrCat("invoke/", run->function->name(), "/", device);
  benchmark::RegisterBenchmark(name.c_str(), [run, model](benchmark::State& state) {
    const kiln::InvokeOptions options{model};
    auto outputs = run->module->Invoke(*run->function, run->inputs, options);
    if (!outputs.ok()) {
      state.SkipWithError(std::string(outputs.status().message()).c_str());
      return;
    }
    std::vector<std::span<uint8_t>> buffers;
    for (kiln::HostTensor& output : *outputs)
      buffers.emplace_back(reinterpret_cast<uint8_t*>(output.data.data()), output.data.size());
    for (auto _ : state) {
      absl::Status status = run->module->InvokeInto(*run->function, run->inputs, buffers, options);
      if (!status.ok()) {
        state.SkipWithError(std::string(status.message()).c_str());
        break;
      }
      benchmark::DoNotOptimize(buffers.data());
    }
  })->UseRealTime();
}

// ---- Module load: read + validate the file, load its executables, record command buffers ----

void RegisterLoad(const std::string& path, const std::shared_ptr<Device>& device) {
  benchmark::RegisterBenchmark("module/load", [path, device](benchmark::State& state) {
    for (auto _ : state) {
      auto file = kiln::module::ModuleFile::Open(path);
      if (!file.ok()) {
        state.SkipWithError(std::string(file.status().message()).c_str());
        break;
      }
      auto module = kiln::LoadedModule::Load(std::move(*file), device);
      if (!module.ok()) {
        state.SkipWithError(std::string(module.status().message()).c_str());
        break;
      }
      benchmark::DoNotOptimize(module->get());
    }
  })->UseRealTime();
}

// ---- HAL micro-benchmarks ----

int EmptyDispatch(const kiln_executable_env_t*, const kiln_dispatch_state_t*,
                  const kiln_workgroup_state_t*) {
  return 0;
}

const kiln_executable_env_t kEnv = {KILN_EXECUTABLE_ABI_VERSION, 0, nullptr};

// Submit + wait of one dispatch of `workgroups` empty workgroups: the executor's fixed cost
// (handoff to workers, completion, semaphore) and its per-workgroup claiming cost.
void RegisterDispatchOverhead(const std::shared_ptr<Device>& device, uint32_t workgroups) {
  auto commands = std::make_shared<CommandBuffer>(0);
  kiln::hal::DispatchCommand dispatch;
  dispatch.fn = EmptyDispatch;
  dispatch.env = &kEnv;
  dispatch.workgroup_count = {workgroups, 1, 1};
  dispatch.label = "empty";
  if (!commands->Dispatch(std::move(dispatch)).ok()) return;
  commands->Finalize();
  const std::string name = absl::StrCat("hal/dispatch_empty/workgroups:", workgroups);
  benchmark::RegisterBenchmark(name.c_str(), [device, commands,
                                              workgroups](benchmark::State& state) {
    auto semaphore = std::make_shared<Semaphore>();
    uint64_t value = 0;
    for (auto _ : state) {
      ++value;
      if (!device->queue().Submit({}, commands, {}, {semaphore, value}).ok() ||
          !device->Wait(*semaphore, value).ok()) {
        state.SkipWithError("submission failed");
        break;
      }
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * workgroups);
  })->UseRealTime();
}

// Signal, then a wait that is already satisfied: the primitive's own cost.
void SemaphoreSameThread(benchmark::State& state) {
  Semaphore semaphore;
  uint64_t value = 0;
  for (auto _ : state) {
    ++value;
    (void)semaphore.Signal(value);
    benchmark::DoNotOptimize(semaphore.Wait(value));
  }
}

// Ping-pong between two threads: one round trip = two signal -> wake-up handoffs.
void SemaphoreRoundTrip(benchmark::State& state) {
  Semaphore ping, pong;
  std::atomic<bool> stop{false};
  std::thread partner([&] {
    for (uint64_t value = 1;; ++value) {
      (void)ping.Wait(value);
      if (stop.load()) return;
      (void)pong.Signal(value);
    }
  });
  uint64_t value = 0;
  for (auto _ : state) {
    ++value;
    (void)ping.Signal(value);
    (void)pong.Wait(value);
  }
  stop.store(true);
  (void)ping.Signal(value + 1);
  partner.join();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);  // takes the --benchmark_* flags out of argv
  CLI::App app{"kiln-benchmark: latency of a kiln module function and of the HAL's overheads",
               "kiln-benchmark"};
  kiln::tools::RunOptions options;
  kiln::tools::AddRunOptions(app, options, /*module_required=*/false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& help) {  // --help
    app.exit(help);
    std::cout << "\nGoogle Benchmark flags (--benchmark_format=json, --benchmark_repetitions=N, "
                 "--benchmark_filter=REGEX, ...) are passed through.\n";
    return 0;
  } catch (const CLI::ParseError& error) {
    return Fail(error.what());
  }

  std::shared_ptr<Device> device;
  if (!options.module.empty()) {
    auto prepared = kiln::tools::Prepare(options, /*always_create_device=*/true);
    if (!prepared.ok()) return Fail(std::string(prepared.status().message()));
    auto run = std::make_shared<kiln::tools::PreparedRun>(std::move(*prepared));
    device = run->device;
    // A smoke run first, so that a failing function is an error rather than a benchmark.
    auto smoke = run->module->Invoke(*run->function, run->inputs, run->invoke);
    if (!smoke.ok()) return Fail(std::string(smoke.status().message()));
    if (options.device != kiln::tools::kDeviceLocalTask)
      RegisterInvoke(run, kiln::tools::kDeviceLocalSync, kiln::ExecutionModelOverride::kInline);
    if (options.device != kiln::tools::kDeviceLocalSync)
      RegisterInvoke(run, kiln::tools::kDeviceLocalTask, kiln::ExecutionModelOverride::kAsync);
    // The function's own execution model (what a server runs): async functions on the
    // device's workers, inline-dynamic ones on the calling thread.
    RegisterInvoke(run, "own-model", kiln::ExecutionModelOverride::kDefault);
    RegisterLoad(options.module, device);
  } else {
    auto created =
        Device::Create({.worker_count = options.workers, .pin_workers = options.pin_workers});
    if (!created.ok()) return Fail(std::string(created.status().message()));
    device = std::move(*created);
  }

  RegisterDispatchOverhead(device, 1);
  RegisterDispatchOverhead(device, 64);
  RegisterDispatchOverhead(device, 4096);
  benchmark::RegisterBenchmark("hal/semaphore_signal_wait/same_thread", SemaphoreSameThread);
  benchmark::RegisterBenchmark("hal/semaphore_signal_wait/round_trip", SemaphoreRoundTrip)
      ->UseRealTime();
  benchmark::AddCustomContext("workers", std::to_string(device->executor().worker_count()));

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
