// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered
// in the text exposition format.
//
// Recording is lock-free (atomics); only looking up a labelled child takes a shared lock, and a
// family caps its children.
#ifndef KILN_METRICS_REGISTRY_H_
#define KILN_METRICS_REGISTRY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::metrics {

class Counter {
 public:
  void Increment(double amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }
  void Reset() { value_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }
  void Reset() { value_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  void ObserveDuration(std::chrono::nanoseconds duration) {
    Observe(std::chrono::duration<double>(duration).count());
  }
  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Cumulative counts per bucket, the last one +Inf (== count).
  std::vector<uint64_t> CumulativeCounts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  void Reset();

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds from 50 µs to 10 s, for request and compile latencies.
std::vector<double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, Type type)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        type_(type) {}
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual void Render(std::string& out) const = 0;
  // Removes every child whose label `label` has `value` (no-op without such a label).
  virtual void RemoveSeries(std::string_view label, std::string_view value) = 0;

 protected:
  void RenderHeader(std::string& out) const;
  // `{a="x",b="y"}` (empty without labels); `extra` is appended as one more label (le="...").
  std::string LabelText(const std::vector<std::string>& values, std::string_view extra = {}) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const Type type_;
};

// The children of one metric name, one per combination of label values.
template <typename T>
class Family final : public FamilyBase {
 public:
  // Beyond this many children, new label combinations all share one child whose labels are
  // "_other".
  static constexpr size_t kMaxChildren = 1000;

  Family(std::string name, std::string help, std::vector<std::string> label_names, Type type,
         std::function<std::unique_ptr<T>()> make)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), type),
        make_(std::move(make)) {}

  // Values in label_names order. The reference stays valid for the registry's lifetime: a
  // removed child is kept and reused (reset) for the next new label values, so a holder that
  // raced with RemoveSeries may count into another series, never into freed memory.
  T& With(std::initializer_list<std::string_view> values) {
    std::vector<std::string> key(values.begin(), values.end());
    {
      std::shared_lock lock(mutex_);
      auto it = children_.find(key);
      if (it != children_.end()) return *it->second;
    }
    std::unique_lock lock(mutex_);
    if (children_.size() >= kMaxChildren && !children_.count(key))
      key.assign(label_names_.size(), "_other");
    auto& child = children_[key];
    if (!child) {
      if (removed_.empty()) {
        child = make_();
      } else {
        child = std::move(removed_.back());
        removed_.pop_back();
        child->Reset();
      }
    }
    return *child;
  }
  T& Get() { return With({}); }

  void Render(std::string& out) const override;
  void RemoveSeries(std::string_view label, std::string_view value) override {
    size_t index = 0;
    while (index < label_names_.size() && label_names_[index] != label) ++index;
    if (index == label_names_.size()) return;
    std::unique_lock lock(mutex_);
    for (auto it = children_.begin(); it != children_.end();) {
      if (it->first[index] == value) {
        removed_.push_back(std::move(it->second));
        it = children_.erase(it);
      } else {
        ++it;
      }
    }
  }

 private:
  std::function<std::unique_ptr<T>()> make_;
  mutable std::shared_mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
  std::vector<std::unique_ptr<T>> removed_;  // for reuse; at most kMaxChildren
};

class Registry {
 public:
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> labels = {});
  Family<Gauge>& AddGauge(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> labels, std::vector<double> buckets);
  // A metric read at scrape time (e.g. sizes owned by another component).
  void AddCallback(std::string name, std::string help, Type type, std::function<double()> read);

  // The text exposition format (version 0.0.4), families in registration order.
  std::string Render() const;
  // Removes, in every family, the series whose label `label` has `value`.
  void RemoveSeries(std::string_view label, std::string_view value);

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

}  // namespace kiln::metrics

#endif  // KILN_METRICS_REGISTRY_H_
