// kiln's metrics: the families the services record into, in a registry the server owns and
// passes to each service (nothing here is process-wide).
//
// Model labels name loaded models only (kUnknownModel stands for every other name a client
// sends), and an unloaded model's series are removed, so what clients send cannot grow the
// registry.
#ifndef KILN_METRICS_KILN_METRICS_H_
#define KILN_METRICS_KILN_METRICS_H_

#include <string_view>

#include "absl/status/status.h"
#include "metrics/registry.h"

namespace kiln::metrics {

// The model label of RPCs about a name that is not a loaded model's.
inline constexpr char kUnknownModel[] = "<unknown>";

// kiln's metrics in their own registry. kilnd makes one and hands it to each service; tests make
// their own.
struct KilnMetrics {
  Registry registry;
  // RPCs by name and model ("" for RPCs about no model), and failures with their status code:
  // counted once, by the server's RPC interceptor (server/rpc_metrics.h).
  Family<Counter>& requests;
  Family<Counter>& failures;
  // Invoke latency by model: waiting for a worker, running, and the whole request.
  Family<Histogram>& queue_seconds;
  Family<Histogram>& compute_seconds;
  Family<Histogram>& request_seconds;
  // Batched models: the batch of each execution (requests merged and padding excluded), and the
  // time requests waited for the dynamic batcher to form their batch.
  Family<Histogram>& batch_size;
  Family<Histogram>& batch_wait_seconds;
  // Compiler runs (cache misses that compiled), requests merged into a running identical
  // compile, failed compiler runs, and the latency of compiler runs.
  Family<Counter>& compiles;
  Family<Counter>& merged_compiles;
  Family<Counter>& compile_failures;
  Family<Histogram>& compile_seconds;
  // Compile RPC latency on a cache hit.
  Family<Histogram>& cache_hit_seconds;

  KilnMetrics();
  KilnMetrics(const KilnMetrics&) = delete;
  KilnMetrics& operator=(const KilnMetrics&) = delete;

  // Counts one RPC, and its failure by status code name (StatusCodeToString's spelling, which
  // is gRPC's). `model`: a loaded model's name, kUnknownModel, or "" for RPCs about no model.
  void RecordRpc(std::string_view rpc, std::string_view model, const absl::Status& status);
  // Removes an unloaded model's series.
  void RemoveModelSeries(std::string_view model) { registry.RemoveSeries("model", model); }
};

}  // namespace kiln::metrics

#endif  // KILN_METRICS_KILN_METRICS_H_
