// kilnd: the kiln daemon. One gRPC server hosting the compiler and runtime services, the
// standard health service and server reflection.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "artifact_cache/artifact_store.h"
#include "compiler_service/service/compile_cache.h"
#include "compiler_service/service/compile_worker.h"
#include "compiler_service/service/compile_worker_pool.h"
#include "compiler_service/service/compiler_service.h"
#include "runtime_service/service/runtime_service.h"
#include "server/access.h"
#include "server/kserve_rest.h"
#include "server/kserve_service.h"
#include "server/metrics_server.h"
#include "server/model_repository.h"
#include "server/rpc_metrics.h"
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
  // kilnd re-executes itself as its own sandboxed compile workers (compile_worker_pool.h).
  if (argc > 1 && std::string_view(argv[1]) == kiln::compile_worker::kWorkerFlag)
    return kiln::compile_worker::CompileWorkerMain(argc, argv);
  CLI::App app{"kilnd: the kiln compilation and inference daemon"};
  std::string listen = "127.0.0.1:8001";
  std::string cache_dir = DefaultCacheDir();
  std::string cache_key_file;
  std::string model_dir;
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int executor_threads = 0;
  bool pin_threads = false;
  std::string log_level = "info";
  size_t max_queue = 1024;
  double drain_seconds = 10;
  uint64_t max_message_bytes = 256 << 20;
  std::string metrics_listen = "127.0.0.1:8002";
  std::string http_listen = "127.0.0.1:8000";
  uint64_t cache_max_bytes = 4ull << 30;
  double keepalive_seconds = 60;
  double keepalive_timeout_seconds = 20;
  double max_connection_age_seconds = 0;
  double max_connection_idle_seconds = 0;
  app.add_option("--listen", listen, "address to serve gRPC on")->capture_default_str();
  app.add_option("--cache-dir", cache_dir, "artifact cache directory ($KILN_CACHE_DIR)")
      ->capture_default_str();
  app.add_option("--cache-key-file", cache_key_file,
                 "key authenticating cache entries, created 0600 if missing; share it between "
                 "replicas sharing a cache (default: <cache-dir>/.kiln-cache-key)");
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
  app.add_option("--drain-seconds,--drain-timeout", drain_seconds,
                 "seconds to finish in-flight work on SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--max-message-bytes", max_message_bytes,
                 "largest request or response (suffixes: KiB, MiB, ...)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1024}, uint64_t{INT32_MAX}))
      ->capture_default_str();
  app.add_option("--cache-max-bytes", cache_max_bytes,
                 "artifact cache size bound; least recently used modules not loaded are evicted "
                 "(suffixes: KiB, MiB, GiB)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen,
                 "host:port serving Prometheus metrics at /metrics (empty: none)")
      ->capture_default_str();
  app.add_option("--http-listen", http_listen,
                 "host:port serving the KServe v2 HTTP/REST API (empty: none)")
      ->capture_default_str();
  app.add_option("--keepalive-seconds", keepalive_seconds,
                 "ping idle client connections this often (0: never)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--keepalive-timeout-seconds", keepalive_timeout_seconds,
                 "close a connection whose keepalive ping is not answered in this time")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--max-connection-age-seconds", max_connection_age_seconds,
                 "close connections after this long, so clients rebalance (0: never)")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();
  app.add_option("--max-connection-idle-seconds", max_connection_idle_seconds,
                 "close connections idle this long (0: never)")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();
  kiln::CompileWorkerPoolOptions compile_options;
  compile_options.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  compile_options.timeout_seconds = 600;
  app.add_option("--compile-workers", compile_options.workers,
                 "sandboxed compile worker processes (0: compile inside kilnd, unprotected)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--compile-queue", compile_options.max_queued,
                 "compiles that may wait for a worker; more are RESOURCE_EXHAUSTED")
      ->check(CLI::Range(0, 1 << 16))
      ->capture_default_str();
  app.add_option("--compile-memory-limit", compile_options.memory_limit_bytes,
                 "address space of each compile worker (suffixes: MiB, GiB)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{256} << 20, uint64_t{1} << 50))
      ->capture_default_str();
  app.add_option("--compile-timeout", compile_options.timeout_seconds,
                 "seconds (wall and CPU) one compile may take, model repository included "
                 "(0: no limit beyond the client's deadline)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  kiln::AccessFlags access_flags;
  access_flags.AddTo(app);
  CLI11_PARSE(app, argc, argv);

  // SIGINT/SIGTERM are taken by a dedicated thread (sigwait), so block them before any thread
  // exists (gRPC and OpenSSL start some as soon as credentials are made): threads inherit the
  // mask, and one without it would die of the signal's default action.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto logger = spdlog::stderr_color_mt("kilnd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // Before anything starts: a refused address or a bad key file is a start-up error.
  auto access = kiln::SetUpAccess(access_flags, listen, metrics_listen, http_listen);
  if (!access.ok()) {
    spdlog::critical("{}", std::string(access.status().message()));
    return 1;
  }
  spdlog::info("access: {}", access->Describe());

  auto store = kiln::ArtifactStore::Open(
      cache_dir, {.max_bytes = cache_max_bytes, .key_file = cache_key_file});
  if (!store.ok()) {
    spdlog::critical("{}", std::string(store.status().message()));
    return 1;
  }
  std::unique_ptr<kiln::CompileWorkerPool> compile_workers;
  if (compile_options.workers > 0) {
    compile_workers = std::make_unique<kiln::CompileWorkerPool>(compile_options);
    compile_workers->Prestart();
  } else {
    spdlog::warn(
        "--compile-workers 0: compiling inside kilnd, where a program that crashes the "
        "compiler takes the daemon down");
  }
  // Every service records into this one registry, which /metrics serves.
  kiln::metrics::KilnMetrics kiln_metrics;
  // The compile cache is the compiler's domain; the CompilerService and the model repository
  // are adapters over it.
  kiln::CompileCache compiles(*store, compile_workers.get(), &kiln_metrics);
  kiln::CompilerServiceImpl compiler(compiles);
  kiln::hal::DeviceOptions device_options;
  device_options.worker_count = static_cast<uint32_t>(executor_threads);
  device_options.pin_workers = pin_threads;
  auto device = kiln::hal::Device::Create(device_options);
  if (!device.ok()) {
    spdlog::critical("cannot start the task executor: {}", std::string(device.status().message()));
    return 1;
  }
  // The model manager is the domain; the runtime and KServe services and the model repository
  // are adapters over it.
  kiln::ModelManager models(*store, *device,
                            {.workers = workers,
                             .max_queued_requests = max_queue,
                             .max_response_bytes = max_message_bytes,
                             .metrics = &kiln_metrics});
  kiln::RuntimeServiceImpl runtime(models);
  kiln::ModelRepository repository(model_dir, compiles, models);
  kiln::KServeService kserve(models, repository, KILN_VERSION);

  // Metrics: what the services record, plus sizes read at scrape time.
  namespace km = kiln::metrics;
  km::Registry& registry = kiln_metrics.registry;
  const kiln::ArtifactStore& cache = *store;
  auto stat = [&cache](uint64_t kiln::ArtifactStoreStats::* field) {
    return [&cache, field] { return static_cast<double>(cache.Stats().*field); };
  };
  registry.AddCallback("kiln_cache_hits_total", "Artifact cache reads that found a valid module.",
                       km::Type::kCounter, stat(&kiln::ArtifactStoreStats::hits));
  registry.AddCallback("kiln_cache_misses_total",
                       "Artifact cache reads that found nothing (or a corrupt entry).",
                       km::Type::kCounter, stat(&kiln::ArtifactStoreStats::misses));
  registry.AddCallback("kiln_cache_evictions_total", "Artifacts evicted from the cache.",
                       km::Type::kCounter, stat(&kiln::ArtifactStoreStats::evictions));
  registry.AddCallback("kiln_cache_corrupt_total",
                       "Cached artifacts that failed verification and were dropped.",
                       km::Type::kCounter, stat(&kiln::ArtifactStoreStats::corrupt_dropped));
  registry.AddCallback("kiln_cache_bytes", "Bytes of modules in the artifact cache.",
                       km::Type::kGauge, stat(&kiln::ArtifactStoreStats::bytes));
  registry.AddCallback("kiln_cache_max_bytes", "The artifact cache's size bound.", km::Type::kGauge,
                       stat(&kiln::ArtifactStoreStats::max_bytes));
  registry.AddCallback("kiln_cache_entries", "Modules in the artifact cache.", km::Type::kGauge,
                       stat(&kiln::ArtifactStoreStats::entries));
  registry.AddCallback("kiln_loaded_models", "Modules loaded and serving.", km::Type::kGauge,
                       [&models] { return static_cast<double>(models.Modules().size()); });
  registry.AddCallback("kiln_queue_depth", "Inference requests waiting for a worker.",
                       km::Type::kGauge,
                       [] { return static_cast<double>(kiln::WorkerPool::TotalQueued()); });
  registry.AddCallback("kiln_workers", "Inference worker threads.", km::Type::kGauge,
                       [] { return static_cast<double>(kiln::WorkerPool::TotalWorkers()); });
  registry.AddCallback("kiln_workers_busy", "Inference workers running a request now.",
                       km::Type::kGauge,
                       [] { return static_cast<double>(kiln::WorkerPool::TotalBusy()); });
  registry.AddCallback("kiln_worker_busy_seconds_total",
                       "Time inference workers spent running requests.", km::Type::kCounter,
                       [] { return kiln::WorkerPool::TotalBusySeconds(); });
  if (compile_workers) {
    kiln::CompileWorkerPool& pool = *compile_workers;
    auto pool_stat = [&pool](uint64_t kiln::CompileWorkerPoolStats::* field) {
      return [&pool, field] { return static_cast<double>(pool.Stats().*field); };
    };
    registry.AddCallback("kiln_compile_workers_started_total", "Compile worker processes started.",
                         km::Type::kCounter, pool_stat(&kiln::CompileWorkerPoolStats::started));
    registry.AddCallback(
        "kiln_compile_worker_failures_total",
        "Compile workers that crashed or ran out of memory or CPU time (that compile failed).",
        km::Type::kCounter, pool_stat(&kiln::CompileWorkerPoolStats::failed));
    registry.AddCallback("kiln_compile_worker_kills_total",
                         "Compiles killed for a deadline, a cancellation, a timeout or shutdown.",
                         km::Type::kCounter, pool_stat(&kiln::CompileWorkerPoolStats::killed));
    registry.AddCallback("kiln_compiles_running", "Compiles running in workers now.",
                         km::Type::kGauge, pool_stat(&kiln::CompileWorkerPoolStats::running));
    registry.AddCallback("kiln_compiles_queued", "Compiles waiting for a worker now.",
                         km::Type::kGauge, pool_stat(&kiln::CompileWorkerPoolStats::queued));
  }
  std::unique_ptr<km::MetricsServer> metrics_server;
  if (!metrics_listen.empty()) {
    auto started = km::MetricsServer::Start(metrics_listen, registry, access->MetricsOptions());
    if (!started.ok()) {
      spdlog::critical("{}", std::string(started.status().message()));
      return 1;
    }
    metrics_server = std::move(*started);
    spdlog::info("metrics on {} (port {}) at /metrics", metrics_listen, metrics_server->port());
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, access->grpc_credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  auto ms = [](double seconds) { return static_cast<int>(std::min(seconds * 1000, 2e9)); };
  if (keepalive_seconds > 0) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ms(keepalive_seconds));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ms(keepalive_timeout_seconds));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  }
  // Clients may ping idle connections every 10 s without being told off (GOAWAY).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  if (max_connection_age_seconds > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, ms(max_connection_age_seconds));
    // Calls running when a connection reaches its age get the drain time to finish.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, ms(drain_seconds));
  }
  if (max_connection_idle_seconds > 0)
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ms(max_connection_idle_seconds));
  // RPCs are counted in one place: an interceptor, not each handler.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(kiln::MakeRpcMetricsInterceptor(
      kiln_metrics,
      [&models](std::string_view rpc, const std::string& model, const absl::Status& status) {
        models.RecordModelRpc(rpc, model, status);
      }));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(&compiler);
  builder.RegisterService(&runtime);
  builder.RegisterService(&kserve);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    spdlog::critical("cannot listen on {}", listen);
    return 1;
  }
  // The KServe v2 HTTP/REST API: the same service behind other routes (8000, as Triton).
  std::unique_ptr<kiln::HttpServer> http_server;
  if (!http_listen.empty()) {
    kiln::HttpServerOptions http_options = access->HttpOptions([](const httplib::Request& request) {
      return kiln::KServeRestMethod(request.method, request.path);
    });
    http_options.threads = std::max(4, workers * 2);
    // A JSON body is several times its tensors' bytes; binary data is the same size.
    http_options.max_body_bytes = max_message_bytes;
    auto started = kiln::HttpServer::Start(http_listen, http_options, [&](httplib::Server& http) {
      kiln::AddKServeRoutes(http, kserve);
    });
    if (!started.ok()) {
      spdlog::critical("{}", std::string(started.status().message()));
      return 1;
    }
    http_server = *std::move(started);
    spdlog::info("KServe v2 HTTP/REST on {} (port {})", http_listen, http_server->port());
  }
  // Not ready until the start-up models are loaded.
  server->GetHealthCheckService()->SetServingStatus(false);
  // The bound port too: with port 0 (any free one) this line is how a caller learns it.
  spdlog::info("kilnd {} listening on {} (port {}, cache {}, {} workers)", KILN_VERSION, listen,
               port, cache_dir, workers);
  // The signal thread runs from here on, so SIGTERM during start-up model loading drains too.
  std::atomic<bool> stopping{false};
  std::thread signal_thread([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    stopping = true;
    spdlog::info("received {}; draining (up to {} s)", strsignal(signal_number), drain_seconds);
    server->GetHealthCheckService()->SetServingStatus(false);
    kserve.SetReady(false);
    auto deadline = std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(drain_seconds * 1000));
    // Stops accepting calls, lets in-flight ones finish until the deadline, cancels the rest.
    server->Shutdown(deadline);
    // Compiles still running (start-up models, or calls whose cancellation is being noticed)
    // are killed: the drain time bounds them too.
    if (compile_workers) compile_workers->Shutdown();
  });
  if (!model_dir.empty()) {
    // Models load side by side, one per compile worker: each is ready (KServe ModelReady) as
    // soon as it loads, whatever the others take; --compile-timeout bounds the slowest.
    int loaded = repository.LoadAll(std::max(1, compile_options.workers));
    spdlog::info("{} model(s) loaded from {}", loaded, model_dir);
  }
  if (!stopping) {
    server->GetHealthCheckService()->SetServingStatus(true);
    kserve.SetReady(true);
  }

  server->Wait();
  signal_thread.join();
  if (http_server) http_server->Stop();
  if (metrics_server) metrics_server->Stop();
  models.Shutdown();
  spdlog::info("kilnd stopped");
  return 0;
}
