#include "metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace kiln::metrics {

namespace {

// Prometheus' float spelling: integers without a fraction, otherwise the shortest round trip.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0)
    return std::to_string(static_cast<int64_t>(value));
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, end);
}

void AppendEscaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// A metric without labels whose value is read at scrape time.
class CallbackFamily final : public FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, Type type, std::function<double()> read)
      : FamilyBase(std::move(name), std::move(help), {}, type), read_(std::move(read)) {}
  void Render(std::string& out) const override {
    RenderHeader(out);
    absl::StrAppend(&out, name_, " ", FormatValue(read_()), "\n");
  }
  void RemoveSeries(std::string_view, std::string_view) override {}

 private:
  std::function<double()> read_;
};

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

void Histogram::Reset() {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> cumulative(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    cumulative[i] = total;
  }
  return cumulative;
}

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

void FamilyBase::RenderHeader(std::string& out) const {
  absl::StrAppend(&out, "# HELP ", name_, " ");
  AppendEscaped(out, help_, /*quotes=*/false);
  absl::StrAppend(&out, "\n# TYPE ", name_, " ", TypeName(type_), "\n");
}

std::string FamilyBase::LabelText(const std::vector<std::string>& values,
                                  std::string_view extra) const {
  if (label_names_.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppend(&out, label_names_[i], "=\"");
    AppendEscaped(out, i < values.size() ? values[i] : std::string(), /*quotes=*/true);
    out += "\"";
  }
  if (!extra.empty()) {
    if (!label_names_.empty()) out += ",";
    out.append(extra.data(), extra.size());
  }
  out += "}";
  return out;
}

template <>
void Family<Counter>::Render(std::string& out) const {
  RenderHeader(out);
  std::shared_lock lock(mutex_);
  for (const auto& [labels, child] : children_)
    absl::StrAppend(&out, name_, LabelText(labels), " ", FormatValue(child->value()), "\n");
}

template <>
void Family<Gauge>::Render(std::string& out) const {
  RenderHeader(out);
  std::shared_lock lock(mutex_);
  for (const auto& [labels, child] : children_)
    absl::StrAppend(&out, name_, LabelText(labels), " ", FormatValue(child->value()), "\n");
}

template <>
void Family<Histogram>::Render(std::string& out) const {
  RenderHeader(out);
  std::shared_lock lock(mutex_);
  for (const auto& [labels, child] : children_) {
    std::vector<uint64_t> counts = child->CumulativeCounts();
    const std::vector<double>& bounds = child->upper_bounds();
    for (size_t i = 0; i < counts.size(); ++i) {
      std::string le = absl::StrCat(
          "le=\"", i < bounds.size() ? FormatValue(bounds[i]) : std::string("+Inf"), "\"");
      absl::StrAppend(&out, name_, "_bucket", LabelText(labels, le), " ", counts[i], "\n");
    }
    absl::StrAppend(&out, name_, "_sum", LabelText(labels), " ", FormatValue(child->sum()), "\n");
    absl::StrAppend(&out, name_, "_count", LabelText(labels), " ", counts.back(), "\n");
  }
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> labels) {
  auto family =
      std::make_unique<Family<Counter>>(std::move(name), std::move(help), std::move(labels),
                                        Type::kCounter, [] { return std::make_unique<Counter>(); });
  Family<Counter>& ref = *family;
  if (ref.label_names().empty()) ref.Get();  // exposed as 0 before anything is recorded
  std::lock_guard<std::mutex> lock(mutex_);
  families_.push_back(std::move(family));
  return ref;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> labels) {
  auto family =
      std::make_unique<Family<Gauge>>(std::move(name), std::move(help), std::move(labels),
                                      Type::kGauge, [] { return std::make_unique<Gauge>(); });
  Family<Gauge>& ref = *family;
  if (ref.label_names().empty()) ref.Get();  // exposed as 0 before anything is recorded
  std::lock_guard<std::mutex> lock(mutex_);
  families_.push_back(std::move(family));
  return ref;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> labels,
                                          std::vector<double> buckets) {
  auto family = std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(labels), Type::kHistogram,
      [buckets = std::move(buckets)] { return std::make_unique<Histogram>(buckets); });
  Family<Histogram>& ref = *family;
  if (ref.label_names().empty()) ref.Get();  // exposed as 0 before anything is recorded
  std::lock_guard<std::mutex> lock(mutex_);
  families_.push_back(std::move(family));
  return ref;
}

void Registry::AddCallback(std::string name, std::string help, Type type,
                           std::function<double()> read) {
  auto family =
      std::make_unique<CallbackFamily>(std::move(name), std::move(help), type, std::move(read));
  std::lock_guard<std::mutex> lock(mutex_);
  // Re-registering a name (a second server in one process, tests) replaces the reader.
  std::erase_if(families_, [&](const auto& f) { return f->name() == family->name(); });
  families_.push_back(std::move(family));
}

std::string Registry::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& family : families_) family->Render(out);
  return out;
}

void Registry::RemoveSeries(std::string_view label, std::string_view value) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& family : families_) family->RemoveSeries(label, value);
}

}  // namespace kiln::metrics
