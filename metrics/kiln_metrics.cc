#include "metrics/kiln_metrics.h"

#include "absl/status/status.h"

namespace kiln::metrics {

KilnMetrics::KilnMetrics()
    : requests(registry.AddCounter("kiln_requests_total", "RPCs received, by RPC and model.",
                                   {"rpc", "model"})),
      failures(registry.AddCounter("kiln_request_failures_total",
                                   "RPCs that failed, by RPC, model and status code.",
                                   {"rpc", "model", "code"})),
      queue_seconds(registry.AddHistogram("kiln_invoke_queue_seconds",
                                          "Time inference requests waited for a worker.", {"model"},
                                          LatencyBuckets())),
      compute_seconds(registry.AddHistogram("kiln_invoke_compute_seconds",
                                            "Time inference requests ran on a worker.", {"model"},
                                            LatencyBuckets())),
      request_seconds(
          registry.AddHistogram("kiln_invoke_request_seconds",
                                "Inference requests from receipt to response, inside the server.",
                                {"model"}, LatencyBuckets())),
      batch_size(registry.AddHistogram(
          "kiln_batch_size", "Batch of each execution of a batched model (padding excluded).",
          {"model"}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})),
      batch_wait_seconds(registry.AddHistogram(
          "kiln_batch_wait_seconds",
          "Time requests to a dynamically batched model waited for their batch to form.", {"model"},
          LatencyBuckets())),
      compiles(registry.AddCounter("kiln_compiles_total",
                                   "Compiler runs (cache misses and uncached compiles).")),
      merged_compiles(registry.AddCounter(
          "kiln_compiles_merged_total",
          "Compile requests that waited for an identical compile already in progress.")),
      compile_failures(
          registry.AddCounter("kiln_compile_failures_total", "Compiler runs that failed.")),
      compile_seconds(registry.AddHistogram("kiln_compile_seconds", "Latency of compiler runs.", {},
                                            LatencyBuckets())),
      cache_hit_seconds(registry.AddHistogram("kiln_compile_cache_hit_seconds",
                                              "Latency of Compile requests served from the cache.",
                                              {}, LatencyBuckets())) {}

void KilnMetrics::RecordRpc(std::string_view rpc, std::string_view model,
                            const absl::Status& status) {
  requests.With({rpc, model}).Increment();
  if (!status.ok())
    failures.With({rpc, model, absl::StatusCodeToString(status.code())}).Increment();
}

}  // namespace kiln::metrics
