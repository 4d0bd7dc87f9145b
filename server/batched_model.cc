#include "server/batched_model.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime_service/base/status_macros.h"
#include "runtime_service/module/signature.h"
#include "runtime_service/tensor/tensor.h"
#include "spdlog/spdlog.h"

namespace kiln {

namespace mv1 = kiln::module::v1;
using Clock = std::chrono::steady_clock;

namespace {

// Bytes of one row (one batch element) of a batched tensor of `type` at batch `batch`.
uint64_t RowBytes(const mv1::TensorType& type) {
  std::vector<int64_t> row(type.shape().begin(), type.shape().end());
  if (!row.empty()) row[0] = 1;
  auto bytes = ByteLength(type.dtype(), row);
  return bytes.ok() ? static_cast<uint64_t>(*bytes) : 0;
}

bool SameArgument(const mv1::ArgumentDef& a, const mv1::ArgumentDef& b, int64_t a_batch,
                  int64_t b_batch) {
  if (a.name() != b.name() || a.batched() != b.batched() || a.type().dtype() != b.type().dtype() ||
      a.type().shape_size() != b.type().shape_size())
    return false;
  for (int d = 0; d < a.type().shape_size(); ++d) {
    const bool batch_dim = a.batched() && d == 0;
    if (batch_dim ? (a.type().shape(d) != a_batch || b.type().shape(d) != b_batch)
                  : a.type().shape(d) != b.type().shape(d))
      return false;
  }
  return true;
}

// Failures of a merged execution that one request's data can cause (rerun each alone to find
// it); not those of the server's state.
bool RetryAlone(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      return false;
    default:
      return true;
  }
}

absl::Status DeadlinePassedWhileBatching() {
  return absl::DeadlineExceededError(
      "the request's deadline passed while it waited for a batch; it was not run");
}

}  // namespace

std::vector<int64_t> BatchBuckets(const BatchingConfig& config) {
  std::vector<int64_t> buckets;
  for (int64_t b = 1; b < config.max_batch_size; b *= 2) buckets.push_back(b);
  buckets.push_back(config.max_batch_size);
  buckets.insert(buckets.end(), config.preferred_batch_sizes.begin(),
                 config.preferred_batch_sizes.end());
  std::sort(buckets.begin(), buckets.end());
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  return buckets;
}

absl::StatusOr<std::shared_ptr<BatchedModel>> BatchedModel::Create(ModelManager& runtime,
                                                                   ModuleHandle base,
                                                                   BatchingConfig config,
                                                                   BucketLoader loader) {
  const mv1::FunctionDef* function = base.module->FindFunction("");
  if (function == nullptr)
    return absl::FailedPreconditionError(
        "a batched model must have one function (or one named 'main')");
  const int64_t smallest = BatchBuckets(config).front();
  bool any = false;
  for (const mv1::ArgumentDef& input : function->inputs()) {
    if (!input.batched()) continue;
    any = true;
    if (input.type().shape_size() == 0 || input.type().shape(0) != smallest)
      return absl::FailedPreconditionError(absl::StrCat(
          "input '", input.name(), "' is batched but not compiled for batch ", smallest));
  }
  if (!any)
    return absl::FailedPreconditionError(
        "the model's max_batch_size is set, but none of its inputs has a batch dim");
  return std::shared_ptr<BatchedModel>(
      new BatchedModel(runtime, std::move(base), std::move(config), std::move(loader), *function));
}

BatchedModel::BatchedModel(ModelManager& runtime, ModuleHandle base, BatchingConfig config,
                           BucketLoader loader, mv1::FunctionDef base_function)
    : runtime_(runtime),
      base_(std::move(base)),
      config_(std::move(config)),
      buckets_(BatchBuckets(config_)),
      loader_(std::move(loader)),
      base_function_(std::move(base_function)),
      workers_(std::max(1, runtime.WorkersFor(base_))) {
  signature_ = base_function_;
  for (auto* args : {signature_.mutable_inputs(), signature_.mutable_outputs()})
    for (mv1::ArgumentDef& arg : *args)
      if (arg.batched()) arg.mutable_type()->set_shape(0, -1);
  std::promise<absl::StatusOr<ModuleHandle>> first;
  first.set_value(base_);
  bucket_modules_[buckets_.front()] = first.get_future().share();
}

int64_t BatchedModel::BatchOf(std::span<const TensorView> inputs) const {
  for (int i = 0; i < signature_.inputs_size() && i < static_cast<int>(inputs.size()); ++i)
    if (signature_.inputs(i).batched() && !inputs[i].shape.empty()) return inputs[i].shape[0];
  return 0;
}

uint64_t BatchedModel::OutputBytes(int64_t batch, std::span<const int> indices) const {
  uint64_t total = 0;
  auto add = [&](const mv1::ArgumentDef& out) {
    const uint64_t bytes = out.batched() ? RowBytes(out.type()) * static_cast<uint64_t>(batch)
                                         : SignatureByteLength(out.type());
    total = total + bytes < total ? UINT64_MAX : total + bytes;
  };
  if (indices.empty()) {
    for (const mv1::ArgumentDef& out : signature_.outputs()) add(out);
  } else {
    for (int index : indices) add(signature_.outputs(index));
  }
  return total;
}

absl::StatusOr<ModuleHandle> BatchedModel::Bucket(int64_t bucket) {
  std::shared_future<absl::StatusOr<ModuleHandle>> future;
  std::promise<absl::StatusOr<ModuleHandle>> promise;
  bool load = false;
  {
    std::lock_guard<std::mutex> lock(bucket_mutex_);
    auto it = bucket_modules_.find(bucket);
    if (it == bucket_modules_.end()) {
      future = promise.get_future().share();
      bucket_modules_.emplace(bucket, future);
      load = true;
    } else {
      future = it->second;
    }
  }
  if (load) {
    absl::StatusOr<ModuleHandle> handle = loader_(bucket);
    if (handle.ok()) {
      const mv1::FunctionDef* function = handle->module->FindFunction("");
      const int64_t base_batch = buckets_.front();
      bool same = function != nullptr && function->inputs_size() == base_function_.inputs_size() &&
                  function->outputs_size() == base_function_.outputs_size();
      for (int i = 0; same && i < function->inputs_size(); ++i)
        same = SameArgument(base_function_.inputs(i), function->inputs(i), base_batch, bucket);
      for (int i = 0; same && i < function->outputs_size(); ++i)
        same = SameArgument(base_function_.outputs(i), function->outputs(i), base_batch, bucket);
      if (!same)
        handle = absl::FailedPreconditionError(
            absl::StrCat("the model compiled for batch ", bucket, " has the signature ",
                         function ? SignatureString(*function) : std::string("(none)"), ", not ",
                         SignatureString(base_function_), " at batch ", bucket));
    }
    if (!handle.ok()) {
      spdlog::warn("model '{}' for batch {}: {}", base_.name, bucket, handle.status().ToString());
      std::lock_guard<std::mutex> lock(bucket_mutex_);
      bucket_modules_.erase(bucket);  // the next request tries again
    }
    promise.set_value(std::move(handle));
  }
  return future.get();
}

bool BatchedModel::Compatible(const Request& a, const Request& b) const {
  for (int i = 0; i < signature_.inputs_size(); ++i) {
    if (signature_.inputs(i).batched()) continue;
    const TensorView& x = a.inputs[i];
    const TensorView& y = b.inputs[i];
    if (x.data.size() != y.data.size() ||
        (!x.data.empty() && std::memcmp(x.data.data(), y.data.data(), x.data.size()) != 0))
      return false;
  }
  return true;
}

absl::StatusOr<std::vector<InvocationResult>> BatchedModel::ExecuteOnce(
    const std::vector<Request*>& group) {
  int64_t total = 0;
  for (const Request* r : group) total += r->batch;
  const int64_t bucket = *std::lower_bound(buckets_.begin(), buckets_.end(), total);
  KILN_ASSIGN_OR_RETURN(ModuleHandle handle, Bucket(bucket));
  const mv1::FunctionDef& function = *handle.module->FindFunction("");

  // Batched inputs: each request's rows in order, then zero rows up to the bucket.
  std::vector<std::string> storage;
  std::vector<TensorView> inputs(function.inputs_size());
  storage.reserve(function.inputs_size());
  for (int i = 0; i < function.inputs_size(); ++i) {
    const mv1::ArgumentDef& arg = function.inputs(i);
    inputs[i] = group.front()->inputs[i];
    inputs[i].shape = SignatureShape(arg.type());
    if (!arg.batched() || (group.size() == 1 && total == bucket)) {
      inputs[i].shape = group.front()->inputs[i].shape;
      continue;
    }
    std::string& buffer = storage.emplace_back(SignatureByteLength(arg.type()), '\0');
    size_t offset = 0;
    for (const Request* r : group) {
      std::span<const uint8_t> rows = r->inputs[i].data;
      if (!rows.empty()) std::memcpy(buffer.data() + offset, rows.data(), rows.size());
      offset += rows.size();
    }
    inputs[i].data = {reinterpret_cast<const uint8_t*>(buffer.data()), buffer.size()};
  }
  // The dynamic batcher keeps at most one execution per worker in flight, so it runs the batch
  // on the sending request's thread; without it, requests go through the worker pool.
  const CallControl* control = group.size() == 1 ? group.front()->control : nullptr;
  KILN_ASSIGN_OR_RETURN(InvocationResult run,
                        config_.dynamic ? runtime_.RunHere(handle, function, inputs)
                                        : runtime_.Run(handle, function, inputs, control));

  std::vector<InvocationResult> results(group.size());
  int64_t row = 0;
  for (size_t g = 0; g < group.size(); ++g) {
    InvocationResult& out = results[g];
    out.queue_time = run.queue_time;
    out.compute_time = run.compute_time;
    const int64_t batch = group[g]->batch;
    for (int o = 0; o < function.outputs_size(); ++o) {
      HostTensor& full = run.outputs[o];
      if (!function.outputs(o).batched()) {
        out.outputs.push_back(g + 1 == group.size() ? std::move(full) : full);
        continue;
      }
      HostTensor part{full.name, full.dtype, full.shape, {}};
      part.shape[0] = batch;
      if (group.size() == 1 && batch == bucket) {
        part.data = std::move(full.data);
      } else {
        const uint64_t row_bytes = RowBytes(function.outputs(o).type());
        part.data = full.data.substr(row * row_bytes, batch * row_bytes);
      }
      out.outputs.push_back(std::move(part));
    }
    row += batch;
  }
  return results;
}

void BatchedModel::Execute(const std::vector<Request*>& group) {
  int64_t total = 0;
  for (const Request* r : group) total += r->batch;
  auto results = ExecuteOnce(group);
  if (!results.ok() && group.size() > 1 && RetryAlone(results.status())) {
    // One request's data may have failed the batch: each runs alone and gets its own answer.
    for (Request* r : group) {
      auto alone = ExecuteOnce({r});
      if (alone.ok()) {
        r->result = BatchedRun{std::move(alone->front()), r == group.front() ? r->batch : 0};
      } else {
        r->result = alone.status();
      }
    }
    return;
  }
  for (size_t g = 0; g < group.size(); ++g) {
    if (!results.ok()) {
      group[g]->result = results.status();
    } else {
      group[g]->result = BatchedRun{std::move((*results)[g]), g == 0 ? total : 0};
    }
  }
}

absl::StatusOr<BatchedRun> BatchedModel::Run(std::span<const TensorView> inputs,
                                             const CallControl* control) {
  Request request;
  request.inputs = inputs;
  request.batch = BatchOf(inputs);
  request.control = control;
  request.arrived = Clock::now();
  if (control != nullptr) request.deadline = control->Deadline();
  if (request.batch > config_.max_batch_size)
    return absl::InvalidArgumentError(absl::StrCat(
        "a batch of ", request.batch, " is over model '", base_.name, "''s max_batch_size of ",
        config_.max_batch_size, "; split the request; signature: ", SignatureString(signature_)));
  if (!config_.dynamic) {
    Execute({&request});
    if (request.result.ok()) runtime_.ObserveBatch(base_.name, request.batch, std::nullopt);
    return std::move(request.result);
  }

  std::unique_lock<std::mutex> lock(mutex_);
  if (queue_.size() >= config_.max_queued)
    return absl::ResourceExhaustedError(
        absl::StrCat("model '", base_.name, "' already has ", queue_.size(),
                     " requests waiting for a batch; try again later"));
  queue_.push_back(&request);
  // The oldest waiting request forms the batches (no thread of the batcher's own: each hand-off
  // between threads costs more than running this tiny MLP). One more request may fill its batch.
  if (queue_.front() != &request) queue_.front()->cv.notify_one();
  while (!request.done && !request.lead) {
    if (queue_.front() != &request) {
      auto queued = std::find(queue_.begin(), queue_.end(), &request);
      // Still queued (not yet taken into a batch another request leads): wake at the deadline.
      if (queued == queue_.end() || !request.deadline) {
        request.cv.wait(lock);
        continue;
      }
      if (Clock::now() < *request.deadline) {
        request.cv.wait_until(lock, *request.deadline);
        continue;
      }
      queue_.erase(queued);
      request.result = DeadlinePassedWhileBatching();
      request.done = true;
      continue;
    }
    FormBatch(request, lock);
  }
  if (request.lead) {
    lock.unlock();
    const auto formed = Clock::now();
    Execute(request.group);
    for (Request* r : request.group) {
      const int64_t executed = r->result.ok() ? r->result->executed_batch : 0;
      runtime_.ObserveBatch(base_.name, executed, formed - r->arrived);
    }
    lock.lock();
    for (Request* r : request.group) {
      r->done = true;
      if (r != &request) r->cv.notify_one();
    }
    --executing_;
    // A worker is free: the oldest waiting request may send its batch now.
    if (!queue_.empty()) queue_.front()->cv.notify_one();
  }
  return std::move(request.result);
}

void BatchedModel::FormBatch(Request& self, std::unique_lock<std::mutex>& lock) {
  // Requests whose deadline passed or whose client left while they waited fail alone.
  for (auto it = queue_.begin(); it != queue_.end();) {
    Request* r = *it;
    const bool expired = r->control != nullptr && r->control->DeadlinePassed();
    const bool cancelled = r->control != nullptr && !expired && r->control->Cancelled();
    if (!expired && !cancelled) {
      ++it;
      continue;
    }
    r->result = expired ? DeadlinePassedWhileBatching()
                        : absl::CancelledError("the client cancelled the request");
    r->done = true;
    it = queue_.erase(it);
    if (r != &self) r->cv.notify_one();
  }
  if (self.done) {
    if (!queue_.empty()) queue_.front()->cv.notify_one();  // the next oldest takes over
    return;
  }

  // As many queued requests as fit, oldest first, that can share the oldest one's execution.
  std::vector<Request*> group;
  int64_t total = 0;
  for (Request* r : queue_) {
    if (total + r->batch > config_.max_batch_size || !Compatible(self, *r)) continue;
    group.push_back(r);
    total += r->batch;
  }
  const auto deadline = self.arrived + config_.max_queue_delay;
  // Waits end at this request's own deadline too (FormBatch then fails it, above).
  auto wait = [&](Clock::time_point until) {
    if (self.deadline && *self.deadline < until) until = *self.deadline;
    if (until == Clock::time_point::max())
      self.cv.wait(lock);
    else
      self.cv.wait_until(lock, until);
  };
  const bool preferred =
      std::find(config_.preferred_batch_sizes.begin(), config_.preferred_batch_sizes.end(),
                total) != config_.preferred_batch_sizes.end();
  const bool worker_free = executing_ < workers_;
  if (!worker_free) {
    // Every worker runs a batch of this model: wait for one (the batch grows meanwhile).
    wait(Clock::time_point::max());
    return;
  }
  if (total < config_.max_batch_size && !preferred && Clock::now() < deadline) {
    // Wait for more requests, at most until this one has waited max_queue_delay.
    wait(deadline);
    return;
  }
  for (Request* r : group) queue_.erase(std::find(queue_.begin(), queue_.end(), r));
  ++executing_;
  self.group = std::move(group);
  self.lead = true;
  if (!queue_.empty()) queue_.front()->cv.notify_one();  // the next oldest forms the next batch
}

}  // namespace kiln
