#include "server/metrics.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <thread>

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

KilnMetrics& Kiln() {
  static KilnMetrics* metrics = new KilnMetrics();  // never destroyed: used until exit
  return *metrics;
}

void RecordRpc(std::string_view rpc, std::string_view model, const absl::Status& status) {
  KilnMetrics& m = Kiln();
  m.requests.With({rpc, model}).Increment();
  if (!status.ok())
    m.failures.With({rpc, model, absl::StatusCodeToString(status.code())}).Increment();
}

void RemoveModelSeries(std::string_view model) { Kiln().registry.RemoveSeries("model", model); }

struct MetricsServer::Impl {
  std::unique_ptr<httplib::Server> http;  // an httplib::SSLServer with TLS
  std::thread thread;
  std::atomic<bool> finished{false};
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const Registry& registry, const MetricsServerOptions& options) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    std::string port_text = listen.substr(colon + 1);
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size()) port = -1;
  }
  if (colon == std::string::npos || port < 0 || port > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen '", listen, "' is not host:port"));
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);

  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->impl_ = std::make_unique<Impl>();
  if (options.tls_cert.empty()) {
    server->impl_->http = std::make_unique<httplib::Server>();
  } else {
    auto https = std::make_unique<httplib::SSLServer>(
        options.tls_cert.c_str(), options.tls_key.c_str(),
        options.tls_client_ca.empty() ? nullptr : options.tls_client_ca.c_str());
    if (!https->is_valid())
      return absl::InvalidArgumentError(absl::StrCat("cannot serve metrics over TLS with ",
                                                     options.tls_cert, " and ", options.tls_key));
    server->impl_->http = std::move(https);
  }
  httplib::Server& http = *server->impl_->http;
  if (options.authorize) {
    http.set_pre_routing_handler([authorize = options.authorize](const httplib::Request& request,
                                                                 httplib::Response& response) {
      std::optional<std::string> header;
      if (request.has_header("Authorization")) header = request.get_header_value("Authorization");
      absl::Status status =
          authorize(header ? std::optional<std::string_view>(*header) : std::nullopt);
      if (status.ok()) return httplib::Server::HandlerResponse::Unhandled;
      bool unauthenticated = status.code() == absl::StatusCode::kUnauthenticated;
      response.status = unauthenticated ? 401 : 403;
      if (unauthenticated) response.set_header("WWW-Authenticate", "Bearer");
      response.set_content(absl::StrCat(status.message(), "\n"), "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  // Scrapes are rare: one handler thread instead of httplib's default pool of eight.
  http.new_task_queue = [] { return new httplib::ThreadPool(1); };
  // httplib's default also sets SO_REUSEPORT, which would let a second kilnd share (and
  // silently split) the port instead of failing to start.
  http.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("kilnd: metrics at /metrics\n", "text/plain");
  });
  if (port == 0) {
    port = http.bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!http.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0)
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", listen, ": ", std::strerror(errno)));
  server->port_ = port;
  std::atomic<bool>& finished = server->impl_->finished;
  server->impl_->thread = std::thread([&http, &finished] {
    http.listen_after_bind();
    finished = true;
  });
  // stop() before the thread marks the server running would be lost (and Stop would hang).
  while (!http.is_running() && !finished) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (!impl_ || !impl_->http) return;
  impl_->http->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace kiln::metrics
