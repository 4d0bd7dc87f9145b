// The oneDNN peer of benchmarks/bench_kernels.py: times one f32 matmul or convolution with
// oneDNN (libdnnl, Debian) and prints {"seconds": best} as JSON. Threads come from
// OMP_NUM_THREADS (Debian's oneDNN uses OpenMP). Layouts match kiln's programs: row-major
// matmul; convolutions NHWC without padding (the input is pre-padded), weights reordered once,
// outside the timing, into the layout oneDNN prefers (as a framework would do at load).
//
//   kiln-onednn-peer matmul M K N [min_seconds]
//   kiln-onednn-peer conv N H W C F KH KW S [min_seconds]     (H, W: padded input; S: stride)
//   kiln-onednn-peer depthwise N H W C KH KW S [min_seconds]
//   kiln-onednn-peer gconv N H W C F KH KW S G [min_seconds]  (G groups of C/G -> F/G channels)
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

void Fill(memory& m) {
  auto* data = static_cast<float*>(m.get_data_handle());
  const size_t n = m.get_desc().get_size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
}

// Runs `primitive` until `min_seconds` have passed (at least 3 times); the best time.
double Time(dnnl::stream& stream, dnnl::primitive& primitive, std::unordered_map<int, memory>& args,
            double min_seconds) {
  primitive.execute(stream, args);
  stream.wait();
  double best = std::numeric_limits<double>::infinity();
  const auto start = std::chrono::steady_clock::now();
  for (int runs = 0;; ++runs) {
    const auto t = std::chrono::steady_clock::now();
    primitive.execute(stream, args);
    stream.wait();
    const auto now = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(now - t).count());
    if (runs >= 3 && std::chrono::duration<double>(now - start).count() >= min_seconds) break;
  }
  return best;
}

// The whole of `text` as a number (strtol/strtod), else false.
bool ParseLong(const char* text, long* out) {
  char* end = nullptr;
  errno = 0;
  *out = std::strtol(text, &end, 10);
  return end != text && *end == '\0' && errno == 0;
}
bool ParseDouble(const char* text, double* out) {
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(text, &end);
  return end != text && *end == '\0' && errno == 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: kiln-onednn-peer matmul M K N [min_seconds]\n"
               "       kiln-onednn-peer conv N H W C F KH KW S [min_seconds]\n"
               "       kiln-onednn-peer depthwise N H W C KH KW S [min_seconds]\n"
               "       kiln-onednn-peer gconv N H W C F KH KW S G [min_seconds]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string op = argv[1];
  const size_t want = op == "matmul"      ? 3
                      : op == "conv"      ? 8
                      : op == "depthwise" ? 7
                      : op == "gconv"     ? 9
                                          : 0;
  const size_t given = static_cast<size_t>(argc - 2);
  if (want == 0 || (given != want && given != want + 1)) return Usage();
  std::vector<long> dims(want);
  for (size_t i = 0; i < want; ++i)
    if (!ParseLong(argv[2 + i], &dims[i])) return Usage();
  double min_seconds = 0.3;
  if (given > want && !ParseDouble(argv[2 + want], &min_seconds)) return Usage();

  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const auto f32 = memory::data_type::f32;
  std::unordered_map<int, memory> args;
  dnnl::primitive primitive;

  if (op == "matmul") {
    const long m = dims[0], k = dims[1], n = dims[2];
    memory::desc a({m, k}, f32, Tag::ab), b({k, n}, f32, Tag::ab), c({m, n}, f32, Tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
    args = {{DNNL_ARG_SRC, memory(a, engine)},
            {DNNL_ARG_WEIGHTS, memory(b, engine)},
            {DNNL_ARG_DST, memory(c, engine)}};
    primitive = dnnl::matmul(pd);
  } else {
    const bool depthwise = op == "depthwise";
    const long n = dims[0], h = dims[1], w = dims[2], c = dims[3];
    const long f = depthwise ? c : dims[4];
    const long kh = dims[depthwise ? 4 : 5], kw = dims[depthwise ? 5 : 6];
    const long stride = dims[depthwise ? 6 : 7];
    const long groups = op == "gconv" ? dims[8] : 1;
    if (stride < 1 || h < kh || w < kw || groups < 1 || c % groups != 0 || f % groups != 0)
      return Usage();
    const long oh = (h - kh) / stride + 1, ow = (w - kw) / stride + 1;
    memory::desc src({n, c, h, w}, f32, Tag::nhwc), dst({n, f, oh, ow}, f32, Tag::nhwc);
    memory::dims weight_dims = depthwise    ? memory::dims{c, 1, 1, kh, kw}
                               : groups > 1 ? memory::dims{groups, f / groups, c / groups, kh, kw}
                                            : memory::dims{f, c, kh, kw};
    memory::desc weights_any(weight_dims, f32, Tag::any);
    memory::desc weights_user(weight_dims, f32, depthwise || groups > 1 ? Tag::goihw : Tag::hwio);
    // The oneDNN 2.x API (Debian 12 ships 2.6): an op descriptor, then the primitive's.
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                         dnnl::algorithm::convolution_direct, src, weights_any, dst,
                                         {stride, stride}, {0, 0}, {0, 0});
    dnnl::convolution_forward::primitive_desc pd(desc, engine);
    memory user(weights_user, engine);
    Fill(user);
    memory weights(pd.weights_desc(), engine);
    dnnl::reorder(user, weights).execute(stream, user, weights);
    stream.wait();
    args = {{DNNL_ARG_SRC, memory(src, engine)},
            {DNNL_ARG_WEIGHTS, weights},
            {DNNL_ARG_DST, memory(dst, engine)}};
    primitive = dnnl::convolution_forward(pd);
  }
  for (auto& [id, m] : args)
    if (id != DNNL_ARG_WEIGHTS || op == "matmul") Fill(m);
  std::printf("{\"seconds\": %.9g}\n", Time(stream, primitive, args, min_seconds));
  return 0;
}
