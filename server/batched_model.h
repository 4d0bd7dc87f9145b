// A model served for every batch from 1 to its max_batch_size. kiln's code is specialized to
// static shapes, so a batched model is a set of modules, one per batch bucket (powers of two up
// to the maximum, the maximum, and the preferred batch sizes), each compiled on its first use
// through the artifact cache; a request runs in the smallest bucket that holds it, padded with
// zero rows, and gets its own rows of the results back. With dynamic batching, concurrent
// requests are merged into one execution (Triton's dynamic batcher: as many as fit, sent at once
// when they make a preferred size or the maximum, else when the oldest has waited
// max_queue_delay, once a worker of the model is free: while every worker is busy, requests
// batch up behind the executions) and split back; each request keeps its own deadline and
// cancellation until its batch is formed, and a batch that fails on its data is rerun request by
// request so that a bad request fails alone.
#ifndef KILN_SERVER_BATCHED_MODEL_H_
#define KILN_SERVER_BATCHED_MODEL_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "kiln/module/v1/module.pb.h"
#include "runtime_service/service/model_manager.h"

namespace kiln {

struct BatchingConfig {
  int64_t max_batch_size = 0;                  // at least 1
  std::vector<int64_t> preferred_batch_sizes;  // each in 1..max_batch_size
  bool dynamic = false;                        // merge concurrent requests
  std::chrono::microseconds max_queue_delay{0};
  size_t max_queued = 1024;  // requests waiting for their batch to form; more are refused
};

// The batches modules are compiled for: powers of two below the maximum, the maximum and the
// preferred sizes, ascending.
std::vector<int64_t> BatchBuckets(const BatchingConfig& config);

// Compiles (through the artifact cache) and loads the model's module for one batch.
using BucketLoader = std::function<absl::StatusOr<ModuleHandle>(int64_t batch)>;

struct BatchedRun {
  InvocationResult result;
  int64_t executed_batch = 0;  // the batch of the execution this request led; 0 if it did not
};

class BatchedModel {
 public:
  // `base` is the model's module for the smallest bucket (loaded under the model's name); its
  // only (or "main") function must have at least one batched input. FAILED_PRECONDITION
  // otherwise.
  static absl::StatusOr<std::shared_ptr<BatchedModel>> Create(ModelManager& runtime,
                                                              ModuleHandle base,
                                                              BatchingConfig config,
                                                              BucketLoader loader);
  BatchedModel(const BatchedModel&) = delete;
  BatchedModel& operator=(const BatchedModel&) = delete;

  // The function as clients see it: every batched dim -1. Requests are matched against it
  // (MatchInputs), and ModelMetadata reports it.
  const kiln::module::v1::FunctionDef& signature() const { return signature_; }
  const BatchingConfig& config() const { return config_; }
  const std::vector<int64_t>& buckets() const { return buckets_; }
  // The batch of matched inputs (MatchInputs against signature()).
  int64_t BatchOf(std::span<const TensorView> inputs) const;
  // The bytes of the outputs at `indices` (all when empty) for a request of `batch`.
  uint64_t OutputBytes(int64_t batch, std::span<const int> indices) const;

  // Runs one request: INVALID_ARGUMENT naming the limit for a batch over max_batch_size;
  // otherwise the model's outputs for the request's rows, or what failed.
  absl::StatusOr<BatchedRun> Run(std::span<const TensorView> inputs, const CallControl* control);

 private:
  struct Request {
    std::span<const TensorView> inputs;
    int64_t batch = 0;
    const CallControl* control = nullptr;
    std::chrono::steady_clock::time_point arrived;
    // The control's deadline: a waiting request wakes then, and leaves the queue failed.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    // Set under mutex_ by the scheduler: this request runs `group` (itself first).
    bool lead = false;
    std::vector<Request*> group;
    bool done = false;
    absl::StatusOr<BatchedRun> result = absl::UnknownError("not run");
    // Its own: waking every waiting request on each change cost more than the batching saved.
    std::condition_variable cv;
  };

  BatchedModel(ModelManager& runtime, ModuleHandle base, BatchingConfig config, BucketLoader loader,
               kiln::module::v1::FunctionDef base_function);
  // The module of `bucket`: loaded once (concurrent callers wait for the one load), checked to
  // have the base's signature at that batch; a failed load is retried by the next request.
  absl::StatusOr<ModuleHandle> Bucket(int64_t bucket);
  // Runs the requests as one execution (padded to a bucket) and sets each one's result.
  void Execute(const std::vector<Request*>& group);
  absl::StatusOr<std::vector<InvocationResult>> ExecuteOnce(const std::vector<Request*>& group);
  // Requests whose non-batched inputs are equal can share an execution.
  bool Compatible(const Request& a, const Request& b) const;
  // Called by the oldest waiting request: sends the batch it heads (setting `self.lead`) when a
  // worker is free and the batch is full, of a preferred size, or `self` has waited
  // max_queue_delay; otherwise waits (on self.cv) for something to change. Fails requests whose
  // deadline passed or whose client went away.
  void FormBatch(Request& self, std::unique_lock<std::mutex>& lock);

  ModelManager& runtime_;
  const ModuleHandle base_;
  const BatchingConfig config_;
  const std::vector<int64_t> buckets_;
  const BucketLoader loader_;
  const kiln::module::v1::FunctionDef base_function_;  // at buckets_.front()
  kiln::module::v1::FunctionDef signature_;

  std::mutex bucket_mutex_;
  std::map<int64_t, std::shared_future<absl::StatusOr<ModuleHandle>>> bucket_modules_;

  // The dynamic batcher (no thread of its own: the requests that wait run it). A model is
  // destroyed only once no request holds it, so nothing waits then.
  std::mutex mutex_;
  std::deque<Request*> queue_;
  int executing_ = 0;  // batches formed and not yet finished
  const int workers_;  // threads that run the model: more executions at once only queue
};

}  // namespace kiln

#endif  // KILN_SERVER_BATCHED_MODEL_H_
