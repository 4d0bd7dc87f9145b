// BatchedModel on hand-built modules (the ABI test library's scale_f32: y = 3x, one module per
// batch bucket) in a temporary artifact store: concurrent requests through the dynamic batcher
// each get their own rows, an expired request fails alone, a batch over the maximum is refused
// with the limit, a bucket whose load failed is loaded again by the next request. In the tsan
// suite: the batcher's requests hand batches and results to each other across threads.
#include "server/batched_model.h"

#include <unistd.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime_service/base/sha256.h"
#include "runtime_service/testing/test_modules.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using namespace kiln::test_modules;  // NOLINT: the shared test-module helpers

constexpr int64_t kColumns = 4;
constexpr float kScale = 3.0f;

// main(x: f32[batch x 4]) -> (y: f32[batch x 4]) = 3x, both batched.
std::string ScaleModule(int64_t batch) {
  module::ModuleBuilder builder = NewBuilder();
  mv1::FunctionDef* function = builder.def().add_functions();
  function->set_name("main");
  function->mutable_program()->set_slot_count(2);
  AddArg(function->mutable_inputs(), "x", mv1::DATA_TYPE_F32, {batch, kColumns});
  AddArg(function->mutable_outputs(), "y", mv1::DATA_TYPE_F32, {batch, kColumns});
  function->mutable_inputs(0)->set_batched(true);
  function->mutable_outputs(0)->set_batched(true);
  const uint64_t bytes = static_cast<uint64_t>(batch * kColumns) * sizeof(float);
  Program{function->mutable_program()}.BindInput(0, 0).BindOutput(1, 0).Dispatch(
      kScaleF32, {1, 1, 1}, {{0, 0, bytes}, {1, 0, bytes}}, {std::bit_cast<uint32_t>(kScale)});
  auto serialized = builder.Serialize();
  EXPECT_TRUE(serialized.ok()) << serialized.status();
  return *serialized;
}

class FixedControl : public CallControl {
 public:
  explicit FixedControl(bool deadline_passed) : deadline_passed_(deadline_passed) {}
  bool DeadlinePassed() const override { return deadline_passed_; }
  bool Cancelled() const override { return false; }

 private:
  bool deadline_passed_;
};

BatchingConfig Config(int64_t max_batch_size, std::optional<std::chrono::microseconds> delay = {}) {
  BatchingConfig config;
  config.max_batch_size = max_batch_size;
  config.dynamic = delay.has_value();  // dynamic batching with that max_queue_delay
  config.max_queue_delay = delay.value_or(std::chrono::microseconds(0));
  return config;
}

// A deadline `after` from now.
class DeadlineControl : public CallControl {
 public:
  explicit DeadlineControl(std::chrono::milliseconds after)
      : deadline_(std::chrono::steady_clock::now() + after) {}
  bool DeadlinePassed() const override { return std::chrono::steady_clock::now() >= deadline_; }
  bool Cancelled() const override { return false; }
  std::optional<std::chrono::steady_clock::time_point> Deadline() const override {
    return deadline_;
  }

 private:
  std::chrono::steady_clock::time_point deadline_;
};

class BatchedModelTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ =
        fs::temp_directory_path() / ("kiln-batched-model-test-" + std::to_string(::getpid()) + "-" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    auto store = ArtifactStore::Open(root_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::make_unique<ArtifactStore>(*store);
    runtime_ = std::make_unique<ModelManager>(*store_, nullptr, ModelManagerOptions{.workers = 2});
  }
  void TearDown() override {
    model_.reset();
    runtime_.reset();
    fs::remove_all(root_);
  }

  std::string Store(int64_t batch) {
    const std::string digest = DigestString(Sha256("scale" + std::to_string(batch)));
    EXPECT_TRUE(store_->Put(digest, ScaleModule(batch)).ok());
    return digest;
  }

  // Loads the smallest bucket as "scale" and wraps it; buckets load on first use, except that
  // the first `failing_loads` loads fail.
  void Create(const BatchingConfig& config, int failing_loads = 0) {
    failing_loads_ = failing_loads;
    const std::vector<int64_t> buckets = BatchBuckets(config);
    auto info = runtime_->LoadFromStore(Store(buckets.front()), "scale");
    ASSERT_TRUE(info.ok()) << info.status();
    auto base = runtime_->FindModule("scale");
    ASSERT_TRUE(base.ok()) << base.status();
    auto model =
        BatchedModel::Create(*runtime_, *base, config,
                             [this, base = *base](int64_t batch) -> absl::StatusOr<ModuleHandle> {
                               loads_.fetch_add(1);
                               if (failing_loads_.fetch_sub(1) > 0)
                                 return absl::UnavailableError("the compiler is busy");
                               return runtime_->LoadVariant(Store(batch), base);
                             });
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *model;
  }

  // `rows` rows of ones under `control`.
  absl::StatusOr<BatchedRun> RunOnes(int64_t rows, const CallControl* control) {
    const std::vector<float> x(static_cast<size_t>(rows * kColumns), 1.0f);
    const std::vector<int64_t> shape = {rows, kColumns};
    TensorView inputs[] = {{"x", mv1::DATA_TYPE_F32, shape, Bytes(x)}};
    return model_->Run(inputs, control);
  }

  // Runs `rows` rows starting at `start` (row i holds start + i in each column) and checks the
  // result is 3x, row for row.
  void RunAndCheck(int64_t rows, float start, const CallControl* control = nullptr) {
    std::vector<float> x(static_cast<size_t>(rows * kColumns));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < kColumns; ++c) x[r * kColumns + c] = start + static_cast<float>(r);
    const std::vector<int64_t> shape = {rows, kColumns};
    TensorView inputs[] = {{"x", mv1::DATA_TYPE_F32, shape, Bytes(x)}};
    auto run = model_->Run(inputs, control);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(run->result.outputs.size(), 1u);
    EXPECT_EQ(run->result.outputs[0].shape, shape);
    std::vector<float> expected(x);
    for (float& v : expected) v *= kScale;
    EXPECT_EQ(Values<float>(run->result.outputs[0].data), expected);
    executed_rows_ += run->executed_batch;
    max_executed_ = std::max<int64_t>(max_executed_, run->executed_batch);
  }

  fs::path root_;
  std::unique_ptr<ArtifactStore> store_;
  std::unique_ptr<ModelManager> runtime_;
  std::shared_ptr<BatchedModel> model_;
  std::atomic<int> failing_loads_{0};
  std::atomic<int> loads_{0};
  std::atomic<int64_t> executed_rows_{0};
  std::atomic<int64_t> max_executed_{0};
};

TEST_F(BatchedModelTest, ConcurrentRequestsAreMergedAndEachGetsItsOwnRows) {
  // Two workers, a 2 ms delay: while both are busy, requests batch up behind them.
  Create(Config(8, std::chrono::microseconds(2000)));
  EXPECT_EQ(model_->buckets(), (std::vector<int64_t>{1, 2, 4, 8}));
  constexpr int kThreads = 12, kRequests = 40;
  std::atomic<int64_t> rows_sent{0};
  std::atomic<int> expired_failed{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        if (i % 7 == 3) {
          // An expired request fails alone; its batch-mates are unaffected (checked by theirs).
          const FixedControl expired(/*deadline_passed=*/true);
          auto run = RunOnes(1, &expired);
          EXPECT_EQ(run.status().code(), absl::StatusCode::kDeadlineExceeded) << run.status();
          expired_failed.fetch_add(1);
          continue;
        }
        const int64_t rows = 1 + (t + i) % 3;
        rows_sent += rows;
        RunAndCheck(rows, static_cast<float>(1000 * t + 10 * i));
      }
    });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(expired_failed.load(), kThreads * 6);
  // Every row ran in exactly one execution, and some executions merged requests (a single
  // request is at most 3 rows).
  EXPECT_EQ(executed_rows_.load(), rows_sent.load());
  EXPECT_GT(max_executed_.load(), 3);
}

TEST_F(BatchedModelTest, WaitingRequestsFailAtTheirOwnDeadlineNotTheBatchDelay) {
  // A 60 s delay: nothing but the requests' own deadlines ends their wait.
  Create(Config(8, std::chrono::seconds(60)));
  const auto start = std::chrono::steady_clock::now();
  auto expire = [&](std::chrono::milliseconds after) {
    const DeadlineControl control(after);
    auto run = RunOnes(1, &control);
    EXPECT_EQ(run.status().code(), absl::StatusCode::kDeadlineExceeded) << run.status();
    EXPECT_EQ(std::string(run.status().message()),
              "the request's deadline passed while it waited for a batch; it was not run");
  };
  // The first forms the batch and waits for company; the second waits behind it and expires
  // first.
  std::thread first(expire, std::chrono::milliseconds(400));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::thread second(expire, std::chrono::milliseconds(100));
  first.join();
  second.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  // The model still serves (a full batch goes at once).
  RunAndCheck(8, 2.0f);
}

TEST_F(BatchedModelTest, ABatchOverTheMaximumIsInvalidArgument) {
  Create(Config(8));
  auto run = RunOnes(9, nullptr);
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(run.status().message()),
            "a batch of 9 is over model 'scale''s max_batch_size of 8; split the request; "
            "signature: main(x: f32[?x4]) -> (y: f32[?x4])");
  RunAndCheck(8, 5.0f);
}

TEST_F(BatchedModelTest, ABucketWhoseLoadFailedIsLoadedByTheNextRequest) {
  Create(Config(4), /*failing_loads=*/1);
  auto failed = RunOnes(3, nullptr);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(), "the compiler is busy");
  // Concurrent requests for the bucket share its one load.
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] { RunAndCheck(3, static_cast<float>(t)); });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(loads_.load(), 2);
  RunAndCheck(1, 7.0f);  // the smallest bucket is the base module: no load
  EXPECT_EQ(loads_.load(), 2);
}

}  // namespace
}  // namespace kiln
