// kilnd: the kiln daemon. One gRPC server hosting the compiler and runtime services, the
// standard health service and server reflection.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "CLI/CLI.hpp"
#include "compiler_service/service/compiler_service.h"
#include "runtime_service/service/runtime_service.h"
#include "server/model_repository.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

std::string DefaultCacheDir() {
  if (const char* dir = std::getenv("KILN_CACHE_DIR"); dir && *dir) return dir;
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/kiln";
  return "/tmp/kiln-cache";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kilnd: the kiln compilation and inference daemon"};
  std::string listen = "127.0.0.1:8001";
  std::string cache_dir = DefaultCacheDir();
  std::string model_dir;
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int executor_threads = 0;
  bool pin_threads = false;
  std::string log_level = "info";
  size_t max_queue = 1024;
  double drain_seconds = 10;
  int max_message_mb = 256;
  app.add_option("--listen", listen, "address to serve gRPC on")->capture_default_str();
  app.add_option("--cache-dir", cache_dir, "artifact cache directory ($KILN_CACHE_DIR)")
      ->capture_default_str();
  app.add_option("--model-dir", model_dir, "models to compile and load at start-up");
  app.add_option("--workers", workers, "inference worker threads")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--executor-threads", executor_threads,
                 "task-executor threads for async-model functions (0: one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  app.add_flag("--pin-threads", pin_threads, "pin task-executor threads to CPUs");
  app.add_option("--max-queue", max_queue, "inference requests that may wait for a worker")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--drain-timeout", drain_seconds, "seconds to finish in-flight work on SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--max-message-mb", max_message_mb, "largest request or response, MiB")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("kilnd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // SIGINT/SIGTERM are taken by a dedicated thread (sigwait), so block them everywhere first;
  // threads created from here on inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto store = kiln::ArtifactStore::Open(cache_dir);
  if (!store.ok()) {
    spdlog::critical("{}", std::string(store.status().message()));
    return 1;
  }
  kiln::CompilerServiceImpl compiler(*store);
  kiln::hal::DeviceOptions device_options;
  device_options.worker_count = static_cast<uint32_t>(executor_threads);
  device_options.pin_workers = pin_threads;
  auto device = kiln::hal::Device::Create(device_options);
  if (!device.ok()) {
    spdlog::critical("cannot start the task executor: {}", std::string(device.status().message()));
    return 1;
  }
  kiln::RuntimeServiceImpl runtime(*store, *device, {workers, max_queue});

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(max_message_mb << 20);
  builder.SetMaxSendMessageSize(max_message_mb << 20);
  builder.RegisterService(&compiler);
  builder.RegisterService(&runtime);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    spdlog::critical("cannot listen on {}", listen);
    return 1;
  }
  // Not ready until the start-up models are loaded.
  server->GetHealthCheckService()->SetServingStatus(false);
  spdlog::info("kilnd {} listening on {} (cache {}, {} workers)", KILN_VERSION, listen, cache_dir,
               workers);
  if (!model_dir.empty()) {
    int loaded = kiln::LoadModelDirectory(model_dir, compiler, runtime);
    spdlog::info("{} model(s) loaded from {}", loaded, model_dir);
  }
  server->GetHealthCheckService()->SetServingStatus(true);

  std::thread signal_thread([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    spdlog::info("received {}; draining (up to {} s)", strsignal(signal_number), drain_seconds);
    server->GetHealthCheckService()->SetServingStatus(false);
    auto deadline = std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(drain_seconds * 1000));
    // Stops accepting calls, lets in-flight ones finish until the deadline, cancels the rest.
    server->Shutdown(deadline);
  });
  server->Wait();
  signal_thread.join();
  runtime.Shutdown();
  spdlog::info("kilnd stopped");
  return 0;
}
