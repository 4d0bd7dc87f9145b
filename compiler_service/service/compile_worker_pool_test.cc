#include "compiler_service/service/compile_worker_pool.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr char kDense[] = R"mlir(
func.func @dense(%x: tensor<3x5xf32>, %w: tensor<5x7xf32>) -> tensor<3x7xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x7xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<3x7xf32>) -> tensor<3x7xf32>
  %m = linalg.matmul ins(%x, %w : tensor<3x5xf32>, tensor<5x7xf32>) outs(%f : tensor<3x7xf32>) -> tensor<3x7xf32>
  return %m : tensor<3x7xf32>
}
)mlir";

CompileWorkerPoolOptions Options(int workers = 1) {
  CompileWorkerPoolOptions options;
  options.workers = workers;
  options.command = {KILND_PATH, "--compile-worker"};
  return options;
}

kiln::compiler::CompileOptions Named(std::string name) {
  kiln::compiler::CompileOptions options;
  options.source_name = std::move(name);
  return options;
}

// The attack of issue 15: an attribute nested 10^5 deep overflows the MLIR parser's stack.
std::string DeeplyNested() {
  return absl::StrCat("func.func @main(%a: tensor<4xf32> {kiln.x = ", std::string(100000, '['),
                      std::string(100000, ']'),
                      "}) -> tensor<4xf32> { return %a : tensor<4xf32> }");
}

// Compile time grows super-linearly with a chain of elementwise ops: seconds for 1000.
std::string SlowToCompile(int ops = 1500) {
  std::string body;
  for (int i = 0; i < ops; ++i) {
    std::string in = i == 0 ? "%x" : absl::StrCat("%v", i - 1);
    absl::StrAppend(&body, "  %v", i, " = linalg.add ins(", in, ", %x : tensor<64xf32>, ",
                    "tensor<64xf32>) outs(%e : tensor<64xf32>) -> tensor<64xf32>\n");
  }
  return absl::StrCat(
      "func.func @main(%x: tensor<64xf32>) -> tensor<64xf32> {\n"
      "  %e = tensor.empty() : tensor<64xf32>\n",
      body, "  return %v", ops - 1, " : tensor<64xf32>\n}\n");
}

TEST(CompileWorkerPoolTest, CompilesLikeTheCompilerInProcessAndReusesTheWorker) {
  CompileWorkerPool pool(Options());
  auto in_process = kiln::compiler::Compile(kDense, Named("dense.mlir"));
  ASSERT_TRUE(in_process.ok()) << in_process.status();
  for (int i = 0; i < 2; ++i) {
    auto result = pool.Compile(kDense, Named("dense.mlir"));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->module_bytes, in_process->module_bytes);
    EXPECT_EQ(result->def.SerializeAsString(), in_process->def.SerializeAsString());
    EXPECT_FALSE(result->timings.empty());
  }
  EXPECT_EQ(pool.Stats().started, 1u);  // the second compile reused the warm worker
}

TEST(CompileWorkerPoolTest, CompilerErrorsPassThroughAndKeepTheWorker) {
  CompileWorkerPool pool(Options());
  auto result = pool.Compile("func.func @f(", Named("broken.mlir"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("broken.mlir:1:"));
  EXPECT_TRUE(pool.Compile(kDense, Named("dense.mlir")).ok());
  EXPECT_EQ(pool.Stats().started, 1u);
  EXPECT_EQ(pool.Stats().failed, 0u);
}

TEST(CompileWorkerPoolTest, ParserStackOverflowFailsOnlyThatCompile) {
  CompileWorkerPool pool(Options());
  auto crashed = pool.Compile(DeeplyNested(), Named("nested.mlir"));
  EXPECT_EQ(crashed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(crashed.status().message()),
              HasSubstr("the compiler crashed on this program (SIGSEGV)"));
  auto next = pool.Compile(kDense, Named("dense.mlir"));
  EXPECT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(pool.Stats().failed, 1u);
  EXPECT_EQ(pool.Stats().started, 2u);  // the crashed worker was replaced
}

TEST(CompileWorkerPoolTest, AddressSpaceLimitIsResourceExhausted) {
  CompileWorkerPoolOptions options = Options();
  options.memory_limit_bytes = uint64_t{1536} << 20;
  CompileWorkerPool pool(options);
  // 1.6 GB of weights, written into the module: more than 1.5 GiB of address space holds (in
  // process and without a limit this compiles, peaking at 1.7 GB resident).
  constexpr char kHuge[] = R"mlir(
func.func @main(%x: tensor<20000xf32>) -> tensor<20000xf32> {
  %w = arith.constant dense<1.5> : tensor<20000x20000xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<20000xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<20000xf32>) -> tensor<20000xf32>
  %y = linalg.vecmat ins(%x, %w : tensor<20000xf32>, tensor<20000x20000xf32>) outs(%f : tensor<20000xf32>) -> tensor<20000xf32>
  return %y : tensor<20000xf32>
}
)mlir";
  auto result = pool.Compile(kHuge, Named("huge.mlir"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << result.status();
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("the compile ran out of memory (each compile may use 1.5 GiB of address "
                        "space: --compile-memory-limit)"));
  EXPECT_EQ(pool.Stats().failed, 1u);
  EXPECT_TRUE(pool.Compile(kDense, Named("dense.mlir")).ok());
}

TEST(CompileWorkerPoolTest, TimeoutKillsTheCompile) {
  CompileWorkerPoolOptions options = Options();
  options.timeout_seconds = 1;
  CompileWorkerPool pool(options);
  auto start = Clock::now();
  auto result = pool.Compile(SlowToCompile(), Named("slow.mlir"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("--compile-timeout"));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(pool.Stats().killed, 1u);
  EXPECT_TRUE(pool.Compile(kDense, Named("dense.mlir")).ok());
}

TEST(CompileWorkerPoolTest, CancellationKillsTheCompile) {
  CompileWorkerPool pool(Options());
  auto start = Clock::now();
  auto result = pool.Compile(SlowToCompile(), Named("slow.mlir"), [start]() -> absl::Status {
    if (Clock::now() - start > std::chrono::milliseconds(300))
      return absl::CancelledError("the client cancelled the compile");
    return absl::OkStatus();
  });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(pool.Stats().running, 0u);
}

TEST(CompileWorkerPoolTest, FullQueueIsResourceExhaustedAndShutdownIsUnavailable) {
  CompileWorkerPoolOptions options = Options();
  options.max_queued = 0;
  CompileWorkerPool pool(options);
  absl::Status slow_status;
  std::thread slow(
      [&] { slow_status = pool.Compile(SlowToCompile(), Named("slow.mlir")).status(); });
  while (pool.Stats().running == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto refused = pool.Compile(kDense, Named("dense.mlir"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("compile queue is full"));
  auto start = Clock::now();
  pool.Shutdown();
  slow.join();
  EXPECT_EQ(slow_status.code(), absl::StatusCode::kUnavailable) << slow_status;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(pool.Compile(kDense, Named("dense.mlir")).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(CompileWorkerPoolTest, WorkerDirectoriesAreRemoved) {
  std::filesystem::path root =
      std::filesystem::temp_directory_path() / absl::StrCat("kiln-pool-test-", getpid());
  std::filesystem::create_directories(root);
  {
    CompileWorkerPoolOptions options = Options();
    options.temp_root = root.string();
    CompileWorkerPool pool(options);
    ASSERT_TRUE(pool.Compile(kDense, Named("dense.mlir")).ok());
    EXPECT_FALSE(std::filesystem::is_empty(root));  // the idle worker's private directory
  }
  EXPECT_TRUE(std::filesystem::is_empty(root));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace kiln
