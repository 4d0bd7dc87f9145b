#include "metrics/registry.h"

#include <thread>

#include "gtest/gtest.h"

namespace kiln::metrics {
namespace {

TEST(RegistryTest, CounterTextFormat) {
  Registry registry;
  Family<Counter>& requests =
      registry.AddCounter("kiln_requests_total", "RPCs received.", {"rpc", "model"});
  requests.With({"Invoke", "mlp"}).Increment();
  requests.With({"Invoke", "mlp"}).Increment(2);
  requests.With({"Compile", ""}).Increment();
  // Label values are escaped; children are sorted by label values.
  requests.With({"Invoke", "a\"b\\c\nd"}).Increment(0.5);
  Family<Counter>& plain = registry.AddCounter("kiln_plain_total", "No labels\nhere.");
  plain.Get().Increment(7);
  EXPECT_EQ(registry.Render(),
            "# HELP kiln_requests_total RPCs received.\n"
            "# TYPE kiln_requests_total counter\n"
            "kiln_requests_total{rpc=\"Compile\",model=\"\"} 1\n"
            "kiln_requests_total{rpc=\"Invoke\",model=\"a\\\"b\\\\c\\nd\"} 0.5\n"
            "kiln_requests_total{rpc=\"Invoke\",model=\"mlp\"} 3\n"
            "# HELP kiln_plain_total No labels\\nhere.\n"
            "# TYPE kiln_plain_total counter\n"
            "kiln_plain_total 7\n");
}

TEST(RegistryTest, HistogramTextFormat) {
  Registry registry;
  Family<Histogram>& latency =
      registry.AddHistogram("kiln_latency_seconds", "Latency.", {"model"}, {0.001, 0.01, 0.1});
  Histogram& h = latency.With({"mlp"});
  h.Observe(0.0005);
  h.Observe(0.001);  // upper bounds are inclusive
  h.Observe(0.05);
  h.Observe(3);
  EXPECT_EQ(registry.Render(),
            "# HELP kiln_latency_seconds Latency.\n"
            "# TYPE kiln_latency_seconds histogram\n"
            "kiln_latency_seconds_bucket{model=\"mlp\",le=\"0.001\"} 2\n"
            "kiln_latency_seconds_bucket{model=\"mlp\",le=\"0.01\"} 2\n"
            "kiln_latency_seconds_bucket{model=\"mlp\",le=\"0.1\"} 3\n"
            "kiln_latency_seconds_bucket{model=\"mlp\",le=\"+Inf\"} 4\n"
            "kiln_latency_seconds_sum{model=\"mlp\"} 3.0515\n"
            "kiln_latency_seconds_count{model=\"mlp\"} 4\n");
}

TEST(RegistryTest, GaugesAndCallbacks) {
  Registry registry;
  registry.AddGauge("kiln_queue_depth", "Queued.").Get().Set(3);
  double bytes = 1.5e9;
  registry.AddCallback("kiln_cache_bytes", "Bytes.", Type::kGauge, [&] { return bytes; });
  bytes = 12345678901.0;
  EXPECT_EQ(registry.Render(),
            "# HELP kiln_queue_depth Queued.\n"
            "# TYPE kiln_queue_depth gauge\n"
            "kiln_queue_depth 3\n"
            "# HELP kiln_cache_bytes Bytes.\n"
            "# TYPE kiln_cache_bytes gauge\n"
            "kiln_cache_bytes 12345678901\n");
}

TEST(RegistryTest, ConcurrentIncrementsAreNotLost) {
  Registry registry;
  Family<Counter>& counter = registry.AddCounter("c_total", "c", {"k"});
  Family<Histogram>& histogram = registry.AddHistogram("h_seconds", "h", {}, {1});
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        counter.With({t % 2 ? "odd" : "even"}).Increment();
        histogram.Get().Observe(0.5);
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.With({"odd"}).value(), 20000);
  EXPECT_EQ(counter.With({"even"}).value(), 20000);
  EXPECT_EQ(histogram.Get().CumulativeCounts().back(), 40000u);
  EXPECT_EQ(histogram.Get().sum(), 20000);
}

TEST(RegistryTest, FamiliesCapTheirChildren) {
  Registry registry;
  Family<Counter>& counter = registry.AddCounter("c_total", "c", {"model"});
  for (size_t i = 0; i < Family<Counter>::kMaxChildren + 50; ++i)
    counter.With({std::to_string(i)}).Increment();
  EXPECT_EQ(counter.With({"_other"}).value(), 50);
}

TEST(RegistryTest, RemovedSeriesAreGoneAndTheirChildrenReused) {
  Registry registry;
  Family<Counter>& requests = registry.AddCounter("r_total", "r", {"rpc", "model"});
  Family<Histogram>& latency = registry.AddHistogram("l_seconds", "l", {"model"}, {1});
  registry.AddCounter("plain_total", "p").Get().Increment();
  requests.With({"Invoke", "a"}).Increment(3);
  requests.With({"Load", "a"}).Increment();
  requests.With({"Invoke", "b"}).Increment();
  Histogram& a_latency = latency.With({"a"});
  a_latency.Observe(0.5);
  registry.RemoveSeries("model", "a");
  EXPECT_EQ(registry.Render(),
            "# HELP r_total r\n"
            "# TYPE r_total counter\n"
            "r_total{rpc=\"Invoke\",model=\"b\"} 1\n"
            "# HELP l_seconds l\n"
            "# TYPE l_seconds histogram\n"
            "# HELP plain_total p\n"
            "# TYPE plain_total counter\n"
            "plain_total 1\n");
  // A new series starts from zero, in a removed child (the old reference stays valid).
  Histogram& c_latency = latency.With({"c"});
  EXPECT_EQ(&c_latency, &a_latency);
  EXPECT_EQ(c_latency.CumulativeCounts().back(), 0u);
  EXPECT_EQ(c_latency.sum(), 0);
  EXPECT_EQ(requests.With({"Invoke", "a"}).value(), 0);
  // A label the family does not have removes nothing.
  registry.RemoveSeries("code", "b");
  EXPECT_EQ(requests.With({"Invoke", "b"}).value(), 1);
}

}  // namespace
}  // namespace kiln::metrics
