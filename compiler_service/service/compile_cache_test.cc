// The compile cache with no transport: real compiles of a small program (in this process) into
// an artifact store in a temporary directory.
#include "compiler_service/service/compile_cache.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime_service/base/sha256.h"

namespace kiln {
namespace {

namespace cv1 = kiln::compiler::v1;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kDouble[] =
    "func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
    "  %e = tensor.empty() : tensor<4xf32>\n"
    "  %y = linalg.add ins(%x, %x : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> "
    "tensor<4xf32>\n"
    "  return %y : tensor<4xf32>\n"
    "}\n";

cv1::CompileRequest Request(bool do_not_cache = false) {
  cv1::CompileRequest request;
  request.set_source(kDouble);
  request.set_source_name("double.mlir");
  request.mutable_options()->set_do_not_cache(do_not_cache);
  return request;
}

// The stored module's bytes (authenticated by the store).
std::string StoredBytes(const ArtifactStore& store, const std::string& digest) {
  auto module = store.OpenModule(digest);
  EXPECT_TRUE(module.ok()) << module.status();
  if (!module.ok()) return "";
  return std::string(reinterpret_cast<const char*>((*module)->bytes().data()),
                     (*module)->bytes().size());
}

class CompileCacheTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ =
        fs::temp_directory_path() / ("kiln-compile-cache-test-" + std::to_string(::getpid()) + "-" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    auto store = ArtifactStore::Open(root_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::make_unique<ArtifactStore>(*std::move(store));
    cache_ = std::make_unique<CompileCache>(*store_);
  }
  void TearDown() override {
    cache_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  fs::path root_;
  std::unique_ptr<ArtifactStore> store_;
  std::unique_ptr<CompileCache> cache_;
};

TEST_F(CompileCacheTest, AMissCompilesAndStoresAndTheSameRequestThenHits) {
  auto miss = cache_->Compile(Request());
  ASSERT_TRUE(miss.ok()) << miss.status();
  EXPECT_FALSE(miss->cache_hit());
  EXPECT_FALSE(miss->merged());
  EXPECT_TRUE(IsValidDigestString(miss->digest())) << miss->digest();
  ASSERT_EQ(miss->functions_size(), 1);
  EXPECT_EQ(miss->functions(0).name(), "main");
  EXPECT_EQ(cache_->compiles(), 1u);
  EXPECT_EQ(store_->Stats().entries, 1u);
  const std::string stored = StoredBytes(*store_, miss->digest());
  EXPECT_EQ(stored.size(), miss->module_size());

  auto hit = cache_->Compile(Request());
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_TRUE(hit->cache_hit());
  EXPECT_FALSE(hit->merged());
  EXPECT_EQ(hit->digest(), miss->digest());
  EXPECT_EQ(hit->module_size(), miss->module_size());
  EXPECT_EQ(hit->executable_format(), miss->executable_format());
  ASSERT_EQ(hit->functions_size(), 1);
  EXPECT_EQ(hit->functions(0).SerializeAsString(), miss->functions(0).SerializeAsString());
  ASSERT_EQ(hit->timings_size(), 1);
  EXPECT_EQ(hit->timings(0).phase(), "cache");
  // Answered from the store: no second compile, and the artifact is the bytes the miss stored.
  EXPECT_EQ(cache_->compiles(), 1u);
  EXPECT_EQ(store_->Stats().entries, 1u);
  EXPECT_EQ(StoredBytes(*store_, hit->digest()), stored);
}

TEST_F(CompileCacheTest, ConcurrentIdenticalCompilesAreMergedIntoOne) {
  constexpr int kCallers = 4;
  // The compile does not get past its first check until every caller has missed the cache, and
  // then waits a little longer, so that each of them finds it in flight rather than stored.
  std::atomic<bool> released{false};
  const compiler::ContinueCheck gate = [&]() -> absl::Status {
    if (!released.load()) {
      const auto until = std::chrono::steady_clock::now() + 60s;
      while (store_->Stats().misses < kCallers && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(1ms);
      std::this_thread::sleep_for(100ms);
      released = true;
    }
    return absl::OkStatus();
  };
  std::vector<absl::StatusOr<cv1::CompileResponse>> results(kCallers);
  std::vector<std::thread> callers;
  callers.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i)
    callers.emplace_back([&, i] { results[i] = cache_->Compile(Request(), gate); });
  for (std::thread& caller : callers) caller.join();

  EXPECT_EQ(cache_->compiles(), 1u);
  EXPECT_EQ(cache_->merged_compiles(), uint64_t{kCallers - 1});
  int leaders = 0;
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_FALSE(result->cache_hit());
    EXPECT_EQ(result->digest(), results[0]->digest());
    EXPECT_EQ(result->module_size(), results[0]->module_size());
    if (!result->merged()) ++leaders;
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_EQ(store_->Stats().entries, 1u);
}

TEST_F(CompileCacheTest, ASourceDigestIsAnsweredFromTheCacheOnly) {
  const std::string source_digest = DigestString(Sha256Tree(kDouble, 1));
  cv1::CompileRequest probe;
  probe.set_source_digest(source_digest);
  probe.set_source_name("double.mlir");

  auto miss = cache_->Compile(probe);
  EXPECT_EQ(miss.status(),
            absl::NotFoundError("no artifact compiled from source " + source_digest +
                                " with these options: send the source to compile it"));
  EXPECT_EQ(cache_->compiles(), 0u);
  EXPECT_EQ(store_->Stats().entries, 0u);

  // With the source as well, or do_not_cache: refused, nothing compiled.
  cv1::CompileRequest both = probe;
  both.set_source(kDouble);
  EXPECT_EQ(cache_->Compile(both).status(),
            absl::InvalidArgumentError(
                "the request sets both source and source_digest: send one of them"));
  cv1::CompileRequest uncached = probe;
  uncached.mutable_options()->set_do_not_cache(true);
  EXPECT_EQ(cache_->Compile(uncached).status(),
            absl::InvalidArgumentError("a request with source_digest is answered from the "
                                       "artifact cache only; do_not_cache needs the source"));

  auto compiled = cache_->Compile(Request());
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  auto hit = cache_->Compile(probe);
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_TRUE(hit->cache_hit());
  EXPECT_EQ(hit->digest(), compiled->digest());
  EXPECT_EQ(hit->module_size(), compiled->module_size());
  EXPECT_EQ(cache_->compiles(), 1u);

  // Other options name another artifact: a miss again.
  cv1::CompileRequest other = probe;
  other.mutable_options()->set_execution_model(kiln::module::v1::EXECUTION_MODEL_INLINE_DYNAMIC);
  EXPECT_EQ(cache_->Compile(other).status().code(), absl::StatusCode::kNotFound);
}

// do_not_cache skips the lookup, never the store: the program is compiled again each time, and
// its artifact is (re)written, so a later cached request hits it.
TEST_F(CompileCacheTest, DoNotCacheCompilesAgainEvenWhenStored) {
  auto first = cache_->Compile(Request(/*do_not_cache=*/true));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->cache_hit());
  EXPECT_EQ(cache_->compiles(), 1u);
  EXPECT_TRUE(store_->Contains(first->digest()));

  auto again = cache_->Compile(Request(/*do_not_cache=*/true));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->cache_hit());
  EXPECT_EQ(again->digest(), first->digest());
  EXPECT_EQ(cache_->compiles(), 2u);
  EXPECT_EQ(store_->Stats().entries, 1u);

  auto cached = cache_->Compile(Request());
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_TRUE(cached->cache_hit());
  EXPECT_EQ(cache_->compiles(), 2u);
}

TEST_F(CompileCacheTest, MalformedOptionsAreRefusedBeforeAnyCompile) {
  cv1::CompileRequest request = Request();
  request.mutable_options()->set_execution_model(static_cast<kiln::module::v1::ExecutionModel>(9));
  EXPECT_EQ(cache_->Compile(request).status(),
            absl::InvalidArgumentError(
                "unknown execution_model 9 (0 = choose, 1 = EXECUTION_MODEL_ASYNC, 2 = "
                "EXECUTION_MODEL_INLINE_DYNAMIC)"));
  EXPECT_EQ(cache_->compiles(), 0u);
  EXPECT_EQ(store_->Stats().entries, 0u);
}

}  // namespace
}  // namespace kiln
