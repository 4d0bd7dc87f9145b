// Numerical end-to-end tests across ops: each program is compiled in both executable formats
// and both execution models, run through the real runtime (async HAL or inline), and compared
// with a reference computed here with plain loops. Tolerances: 1e-4 relative + 1e-5 absolute
// for f32 (reassociated sums, polynomial exp/tanh), exact for integers.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "compiler_service/compiler.h"
#include "gtest/gtest.h"
#include "runtime_service/hal/device.h"
#include "runtime_service/loaded_module.h"

namespace kiln::compiler {
namespace {

namespace mv1 = kiln::module::v1;

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> values;  // f32 data (ints are stored as floats in the test and converted)
};
using Reference = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

struct Case {
  std::string name;
  std::string mlir;
  std::vector<std::vector<int64_t>> input_shapes;
  Reference reference;
  mv1::DataType dtype = mv1::DATA_TYPE_F32;
  // Absolute tolerance: float32 sums of K terms of size ~1 drift by ~sqrt(K) ulps of the
  // partial sums, so long reductions get more.
  float atol = 1e-5f;
};

int64_t Count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor Zeros(const std::vector<int64_t>& shape) {
  return {shape, std::vector<float>(Count(shape), 0)};
}

// ---- references ----

Tensor MatMul(const Tensor& a, const Tensor& b) {
  int64_t m = a.shape[0], k = a.shape[1], n = b.shape[1];
  Tensor c = Zeros({m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += double(a.values[i * k + p]) * b.values[p * n + j];
      c.values[i * n + j] = static_cast<float>(acc);
    }
  return c;
}

// NHWC input, HWCF filter, symmetric zero padding.
Tensor Conv2dNhwc(const Tensor& x, const Tensor& w, int64_t stride, int64_t pad) {
  int64_t n = x.shape[0], h = x.shape[1], wd = x.shape[2], c = x.shape[3];
  int64_t kh = w.shape[0], kw = w.shape[1], f = w.shape[3];
  int64_t oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
  Tensor y = Zeros({n, oh, ow, f});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t o = 0; o < f; ++o) {
          double acc = 0;
          for (int64_t p = 0; p < kh; ++p)
            for (int64_t q = 0; q < kw; ++q) {
              int64_t yi = i * stride + p - pad, xj = j * stride + q - pad;
              if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
              for (int64_t ch = 0; ch < c; ++ch)
                acc += double(x.values[((b * h + yi) * wd + xj) * c + ch]) *
                       w.values[((p * kw + q) * c + ch) * f + o];
            }
          y.values[((b * oh + i) * ow + j) * f + o] = static_cast<float>(acc);
        }
  return y;
}

// NHWC input, HWC filter, valid window, stride 1; every output starts from `init`.
Tensor DepthwiseNhwc(const Tensor& x, const Tensor& w, double init) {
  int64_t h = x.shape[1], wd = x.shape[2], c = x.shape[3], kh = w.shape[0], kw = w.shape[1];
  int64_t oh = h - kh + 1, ow = wd - kw + 1;
  Tensor y = Zeros({1, oh, ow, c});
  for (int64_t i = 0; i < oh; ++i)
    for (int64_t j = 0; j < ow; ++j)
      for (int64_t ch = 0; ch < c; ++ch) {
        double acc = init;
        for (int64_t p = 0; p < kh; ++p)
          for (int64_t q = 0; q < kw; ++q)
            acc +=
                double(x.values[((i + p) * wd + j + q) * c + ch]) * w.values[(p * kw + q) * c + ch];
        y.values[(i * ow + j) * c + ch] = static_cast<float>(acc);
      }
  return y;
}

// NHWGC input, GFHWC filter (linalg.conv_2d_nhwgc_gfhwc), valid window; every output starts
// from `init`.
Tensor GroupedNhwgc(const Tensor& x, const Tensor& w, std::array<int64_t, 2> stride,
                    std::array<int64_t, 2> dilation, double init) {
  const int64_t n = x.shape[0], h = x.shape[1], wd = x.shape[2], g = x.shape[3], c = x.shape[4];
  const int64_t f = w.shape[1], kh = w.shape[2], kw = w.shape[3];
  const int64_t oh = (h - (kh - 1) * dilation[0] - 1) / stride[0] + 1;
  const int64_t ow = (wd - (kw - 1) * dilation[1] - 1) / stride[1] + 1;
  Tensor y = Zeros({n, oh, ow, g, f});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t gi = 0; gi < g; ++gi)
          for (int64_t o = 0; o < f; ++o) {
            double acc = init;
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t yi = i * stride[0] + p * dilation[0];
                const int64_t xj = j * stride[1] + q * dilation[1];
                for (int64_t ch = 0; ch < c; ++ch)
                  acc += double(x.values[(((b * h + yi) * wd + xj) * g + gi) * c + ch]) *
                         w.values[(((gi * f + o) * kh + p) * kw + q) * c + ch];
              }
            y.values[(((b * oh + i) * ow + j) * g + gi) * f + o] = static_cast<float>(acc);
          }
  return y;
}

// NGCHW input, GFCHW filter (or FGCHW with `filter_fg`), valid window, unit dilation.
Tensor GroupedNgchw(const Tensor& x, const Tensor& w, std::array<int64_t, 2> stride,
                    bool filter_fg) {
  const int64_t n = x.shape[0], g = x.shape[1], c = x.shape[2], h = x.shape[3], wd = x.shape[4];
  const int64_t f = filter_fg ? w.shape[0] : w.shape[1], kh = w.shape[3], kw = w.shape[4];
  const int64_t oh = (h - kh) / stride[0] + 1, ow = (wd - kw) / stride[1] + 1;
  Tensor y = Zeros({n, g, f, oh, ow});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t gi = 0; gi < g; ++gi)
      for (int64_t o = 0; o < f; ++o)
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j) {
            double acc = 0;
            for (int64_t ch = 0; ch < c; ++ch)
              for (int64_t p = 0; p < kh; ++p)
                for (int64_t q = 0; q < kw; ++q) {
                  const int64_t filter_index =
                      filter_fg ? (o * g + gi) * c + ch : (gi * f + o) * c + ch;
                  acc += double(x.values[(((b * g + gi) * c + ch) * h + i * stride[0] + p) * wd +
                                         j * stride[1] + q]) *
                         w.values[(filter_index * kh + p) * kw + q];
                }
            y.values[(((b * g + gi) * f + o) * oh + i) * ow + j] = static_cast<float>(acc);
          }
  return y;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto matmul_case = [&](int64_t m, int64_t k, int64_t n, float atol = 1e-5f) {
    std::string s = std::to_string(m) + "x" + std::to_string(k) + "xf32";
    std::string t = std::to_string(k) + "x" + std::to_string(n) + "xf32";
    std::string r = std::to_string(m) + "x" + std::to_string(n) + "xf32";
    cases.push_back(
        {"matmul_" + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n),
         "func.func @main(%a: tensor<" + s + ">, %b: tensor<" + t + ">) -> tensor<" + r +
             "> {\n"
             "  %z = arith.constant 0.0 : f32\n"
             "  %e = tensor.empty() : tensor<" +
             r +
             ">\n"
             "  %f = linalg.fill ins(%z : f32) outs(%e : tensor<" +
             r + ">) -> tensor<" + r +
             ">\n"
             "  %c = linalg.matmul ins(%a, %b : tensor<" +
             s + ">, tensor<" + t +
             ">) outs(%f : "
             "tensor<" +
             r + ">) -> tensor<" + r +
             ">\n"
             "  return %c : tensor<" +
             r + ">\n}\n",
         {{m, k}, {k, n}},
         [](const std::vector<Tensor>& in) { return std::vector<Tensor>{MatMul(in[0], in[1])}; },
         mv1::DATA_TYPE_F32,
         atol});
  };
  // tosa.matmul: a batch of 1, rewritten to a plain matmul on buffers (kiln-drop-unit-batch)
  // or split on tensors, so that it takes the matmul paths.
  auto tosa_matmul_case = [&](int64_t m, int64_t k, int64_t n, float atol) {
    std::string s = "1x" + std::to_string(m) + "x" + std::to_string(k) + "xf32";
    std::string t = "1x" + std::to_string(k) + "x" + std::to_string(n) + "xf32";
    std::string r = "1x" + std::to_string(m) + "x" + std::to_string(n) + "xf32";
    cases.push_back(
        {"tosa_matmul_" + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n),
         "func.func @main(%a: tensor<" + s + ">, %b: tensor<" + t + ">) -> tensor<" + r +
             "> {\n"
             "  %zp = \"tosa.const\"() <{values = dense<0.0> : tensor<1xf32>}> : () -> "
             "tensor<1xf32>\n"
             "  %c = tosa.matmul %a, %b, %zp, %zp : (tensor<" +
             s + ">, tensor<" + t + ">, tensor<1xf32>, tensor<1xf32>) -> tensor<" + r +
             ">\n"
             "  return %c : tensor<" +
             r + ">\n}\n",
         {{1, m, k}, {1, k, n}},
         [m, k, n](const std::vector<Tensor>& in) {
           Tensor a{{m, k}, in[0].values}, b{{k, n}, in[1].values};
           Tensor c = MatMul(a, b);
           c.shape = {1, m, n};
           return std::vector<Tensor>{c};
         },
         mv1::DATA_TYPE_F32,
         atol});
  };
  tosa_matmul_case(13, 19, 17, 1e-5f);
  tosa_matmul_case(260, 1100, 512, 1e-4f);  // B packed into panels (2.2 MB, 260 rows)
  tosa_matmul_case(1, 1053, 1024, 1e-4f);   // the reduction split into 13 parts

  matmul_case(64, 64, 64);
  matmul_case(13, 19, 17);
  matmul_case(1, 513, 1000);
  // A vector times 1.2 MB: async (memory-bound), 4 workgroups of 256 columns, a ragged
  // reduction (301 = 75 x 4 + 1).
  matmul_case(1, 301, 1024);
  // Vectors times 4 MB and more: the reduction split into parts of whole rows of B
  // (kiln-split-vector-matrix-reduction), 13 of 81 rows (ragged against the 4-step reduction
  // tiles) and 16 of 128 for three rows; 1031 rows (prime) cannot split evenly and keep the
  // column workgroups.
  matmul_case(1, 1053, 1024, /*atol=*/1e-4f);
  matmul_case(3, 2048, 512, /*atol=*/1e-4f);
  matmul_case(1, 1031, 1024, /*atol=*/1e-4f);
  matmul_case(96, 128, 256);
  // Cache-blocked (codegen/strategy.cc): K and N beyond one block, both ragged.
  matmul_case(40, 300, 1000);
  // Cache-blocked with B packed into panels (rows 8 KB apart), 4 leftover rows, ragged K.
  matmul_case(20, 300, 2048);
  // B (2.2 MB) packed into panels once by its own dispatch (kiln-pack-matmul-operands), then
  // cache-blocked over the panels; ragged rows (260) and reduction blocks (1100).
  matmul_case(260, 1100, 512, /*atol=*/1e-4f);
  // B of 570 KB: packed into 16-column panels for AVX2 only (its haswell variant; AVX-512
  // packs from 2 MB), 25 register tiles of 6 rows, columns split over workgroups.
  matmul_case(150, 700, 208, /*atol=*/1e-4f);
  // Ragged edges (issue 17): 77 columns as 2 tiles of 32 and 13; 87 as 2 x 32, then 23 cut
  // into 16 and 7 with the fused fill cut alike (ragged_split), both in one reduction loop
  // with their accumulators in registers; 33 rows (3 workgroups of 11 when async) as tiles of 11,
  // 10 rows as one tile of 10 (TargetInfo::RowTileFor); 7 rows a matrix product (register
  // tiles, not few-row streaming) with 1001 = 31 x 32 + 9 columns.
  matmul_case(33, 100, 77);
  matmul_case(10, 64, 87);
  matmul_case(7, 300, 1001, /*atol=*/1e-4f);
  matmul_case(100, 300, 257, /*atol=*/1e-4f);
  // B (1.2 MB) would be streamed by each of 2 row workgroups; 15 workgroups of 20 columns
  // (16 + 4) read A instead (codegen/workgroup_tiles.cc).
  matmul_case(16, 1024, 300, /*atol=*/1e-4f);
  {
    // Constant weights of 2 MB: packed at compile time into a global of their own (the
    // original dropped), read by the product directly.
    constexpr int64_t m = 256, k = 1024, n = 512;
    auto weights = std::make_shared<Tensor>(Zeros({k, n}));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::string hex = "0x";
    hex.reserve(2 + weights->values.size() * 8);
    for (float& v : weights->values) {
      v = dist(rng);
      uint8_t bytes[4];
      std::memcpy(bytes, &v, 4);
      for (uint8_t byte : bytes) {
        hex += "0123456789ABCDEF"[byte >> 4];
        hex += "0123456789ABCDEF"[byte & 15];
      }
    }
    cases.push_back(
        {"matmul_constant_packed_weights",
         "func.func @main(%a: tensor<256x1024xf32>) -> tensor<256x512xf32> {\n"
         "  %w = arith.constant dense<\"" +
             hex +
             "\"> : tensor<1024x512xf32>\n"
             "  %z = arith.constant 0.0 : f32\n"
             "  %e = tensor.empty() : tensor<256x512xf32>\n"
             "  %f = linalg.fill ins(%z : f32) outs(%e : tensor<256x512xf32>) -> "
             "tensor<256x512xf32>\n"
             "  %c = linalg.matmul ins(%a, %w : tensor<256x1024xf32>, tensor<1024x512xf32>) "
             "outs(%f : tensor<256x512xf32>) -> tensor<256x512xf32>\n"
             "  return %c : tensor<256x512xf32>\n}\n",
         {{m, k}},
         [weights](const std::vector<Tensor>& in) {
           return std::vector<Tensor>{MatMul(in[0], *weights)};
         },
         mv1::DATA_TYPE_F32,
         /*atol=*/1e-4f});
  }

  cases.push_back(
      {"batch_matmul",
       R"mlir(
func.func @main(%a: tensor<3x8x12xf32>, %b: tensor<3x12x20xf32>) -> tensor<3x8x20xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3x8x20xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3x8x20xf32>) -> tensor<3x8x20xf32>
  %c = linalg.batch_matmul ins(%a, %b : tensor<3x8x12xf32>, tensor<3x12x20xf32>) outs(%f : tensor<3x8x20xf32>) -> tensor<3x8x20xf32>
  return %c : tensor<3x8x20xf32>
})mlir",
       {{3, 8, 12}, {3, 12, 20}},
       [](const std::vector<Tensor>& in) {
         Tensor out = Zeros({3, 8, 20});
         for (int64_t b = 0; b < 3; ++b) {
           Tensor a{{8, 12}, {in[0].values.begin() + b * 96, in[0].values.begin() + (b + 1) * 96}};
           Tensor w{{12, 20},
                    {in[1].values.begin() + b * 240, in[1].values.begin() + (b + 1) * 240}};
           Tensor c = MatMul(a, w);
           std::copy(c.values.begin(), c.values.end(), out.values.begin() + b * 160);
         }
         return std::vector<Tensor>{out};
       }});

  cases.push_back({"matvec",
                   R"mlir(
func.func @main(%a: tensor<33x65xf32>, %x: tensor<65xf32>) -> tensor<33xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<33xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<33xf32>) -> tensor<33xf32>
  %y = linalg.matvec ins(%a, %x : tensor<33x65xf32>, tensor<65xf32>) outs(%f : tensor<33xf32>) -> tensor<33xf32>
  return %y : tensor<33xf32>
})mlir",
                   {{33, 65}, {65}},
                   [](const std::vector<Tensor>& in) {
                     Tensor x{{65, 1}, in[1].values};
                     Tensor y = MatMul(in[0], x);
                     y.shape = {33};
                     return std::vector<Tensor>{y};
                   }});

  cases.push_back({"conv2d_nhwc_pad_stride",
                   R"mlir(
func.func @main(%x: tensor<1x9x9x3xf32>, %w: tensor<3x3x3x4xf32>) -> tensor<1x5x5x4xf32> {
  %z = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %z : f32
  } : tensor<1x9x9x3xf32> to tensor<1x11x11x3xf32>
  %e = tensor.empty() : tensor<1x5x5x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x5x5x4xf32>) -> tensor<1x5x5x4xf32>
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
       ins(%p, %w : tensor<1x11x11x3xf32>, tensor<3x3x3x4xf32>) outs(%f : tensor<1x5x5x4xf32>) -> tensor<1x5x5x4xf32>
  return %y : tensor<1x5x5x4xf32>
})mlir",
                   {{1, 9, 9, 3}, {3, 3, 3, 4}},
                   [](const std::vector<Tensor>& in) {
                     return std::vector<Tensor>{Conv2dNhwc(in[0], in[1], 2, 1)};
                   }});

  // A 3x3 convolution (dense, F output channels, or depthwise) on an unpadded 1 x h x w x c
  // input, accumulating into an output filled with `fill`.
  auto filled_conv_case = [&](const std::string& name, int64_t h, int64_t w, int64_t c,
                              std::optional<int64_t> f, float fill) {
    const int64_t channels = f.value_or(c);
    const std::string x =
        "1x" + std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(c) + "xf32";
    const std::string wt =
        "3x3x" + std::to_string(c) + (f ? "x" + std::to_string(*f) : "") + "xf32";
    const std::string y = "1x" + std::to_string(h - 2) + "x" + std::to_string(w - 2) + "x" +
                          std::to_string(channels) + "xf32";
    const std::string op = f ? "linalg.conv_2d_nhwc_hwcf" : "linalg.depthwise_conv_2d_nhwc_hwc";
    std::vector<int64_t> weight_shape = {3, 3, c};
    if (f) weight_shape.push_back(*f);
    cases.push_back(
        {name,
         "func.func @main(%x: tensor<" + x + ">, %w: tensor<" + wt + ">) -> tensor<" + y +
             "> {\n"
             "  %b = arith.constant " +
             std::to_string(fill) + " : f32\n  %e = tensor.empty() : tensor<" + y +
             ">\n  %f = linalg.fill ins(%b : f32) outs(%e : tensor<" + y + ">) -> tensor<" + y +
             ">\n  %y = " + op +
             " {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}\n"
             "       ins(%x, %w : tensor<" +
             x + ">, tensor<" + wt + ">) outs(%f : tensor<" + y + ">) -> tensor<" + y +
             ">\n  return %y : tensor<" + y + ">\n}\n",
         {{1, h, w, c}, weight_shape},
         [f, fill](const std::vector<Tensor>& in) {
           if (!f) return std::vector<Tensor>{DepthwiseNhwc(in[0], in[1], fill)};
           Tensor out = Conv2dNhwc(in[0], in[1], 1, 0);
           for (float& v : out.values) v += fill;
           return std::vector<Tensor>{out};
         }});
  };
  // Big enough for the register-tiled path and workgroups: 13 output columns (an 8-column
  // tile and a peeled 5), 40 output channels (32 and a peeled 8), and a non-zero fill that
  // moves into the tiles' accumulators.
  filled_conv_case("conv2d_nhwc_register_tiles", 15, 15, 5, 40, 0.5f);
  // 56 output channels: a tile of 32 and a ragged 24, cut into a whole vector of 16 and 8
  // (ragged_split); 3 input channels, 11-column output rows (8 + 3).
  filled_conv_case("conv2d_nhwc_ragged_channels", 9, 13, 3, 56, 0.25f);
  filled_conv_case("depthwise_conv_ragged_channels", 6, 12, 56, std::nullopt, 1.0f);
  filled_conv_case("depthwise_conv_register_tiles", 12, 13, 48, std::nullopt, 1.0f);

  // Grouped convolutions (kiln-generalize-grouped-convolutions, then per group the NHWC
  // register tiles): [n, h, w, g, c] input, [g, f, kh, kw, c] filter (a runtime filter, so
  // the transpose to [g][kh][kw][c][f] is a dispatch too).
  // A grouped convolution `op` on f32 tensors x and w into y filled with `fill`.
  auto grouped_module = [](const std::string& op, const std::vector<int64_t>& x_dims,
                           const std::vector<int64_t>& w_dims, const std::vector<int64_t>& y_dims,
                           std::array<int64_t, 2> stride, std::array<int64_t, 2> dilation,
                           float fill) {
    auto type = [](const std::vector<int64_t>& dims) {
      std::string text;
      for (int64_t d : dims) text += std::to_string(d) + "x";
      return text + "f32";
    };
    const std::string x = type(x_dims), wt = type(w_dims), y = type(y_dims);
    auto pair = [](std::array<int64_t, 2> v) {
      return "dense<[" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + "]> : tensor<2xi64>";
    };
    return "func.func @main(%x: tensor<" + x + ">, %w: tensor<" + wt + ">) -> tensor<" + y +
           "> {\n  %b = arith.constant " + std::to_string(fill) +
           " : f32\n  %e = tensor.empty() : tensor<" + y +
           ">\n  %f = linalg.fill ins(%b : f32) outs(%e : tensor<" + y + ">) -> tensor<" + y +
           ">\n  %y = " + op + " {dilations = " + pair(dilation) + ", strides = " + pair(stride) +
           "}\n       ins(%x, %w : tensor<" + x + ">, tensor<" + wt + ">) outs(%f : tensor<" + y +
           ">) -> tensor<" + y + ">\n  return %y : tensor<" + y + ">\n}\n";
  };
  // linalg.conv_2d_nhwgc_gfhwc: [n, h, w, g, c] input, [g, f, kh, kw, c] filter.
  auto grouped_case = [&](const std::string& name, std::vector<int64_t> in_shape,
                          std::vector<int64_t> w_shape, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> dilation, float fill) {
    const int64_t oh = (in_shape[1] - (w_shape[2] - 1) * dilation[0] - 1) / stride[0] + 1;
    const int64_t ow = (in_shape[2] - (w_shape[3] - 1) * dilation[1] - 1) / stride[1] + 1;
    cases.push_back(
        {name,
         grouped_module("linalg.conv_2d_nhwgc_gfhwc", in_shape, w_shape,
                        {in_shape[0], oh, ow, in_shape[3], w_shape[1]}, stride, dilation, fill),
         {in_shape, w_shape},
         [stride, dilation, fill](const std::vector<Tensor>& in) {
           return std::vector<Tensor>{GroupedNhwgc(in[0], in[1], stride, dilation, fill)};
         }});
  };
  // 4 groups of 6 -> 40 channels (a tile of 32 and a ragged 8), 13 output columns (8 + 5).
  grouped_case("grouped_conv_register_tiles", {1, 11, 15, 4, 6}, {4, 40, 3, 3, 6}, {1, 1}, {1, 1},
               0.5f);
  // Batch 2, 3 groups of 5 -> 8, stride 2 down and dilation 2 across.
  grouped_case("grouped_conv_strided_dilated", {2, 12, 13, 3, 5}, {3, 8, 3, 3, 5}, {2, 1}, {1, 2},
               0.0f);
  // 32 groups of 4 -> 4 (ResNeXt's first stage), 1x1.
  grouped_case("grouped_conv_32_groups_1x1", {1, 5, 9, 32, 4}, {32, 4, 1, 1, 4}, {1, 1}, {1, 1},
               0.0f);

  // torch-mlir's grouped forms (NGCHW activations; GFCHW or FGCHW filters): transposed to and
  // from kiln's grouped form around it.
  auto ngchw_case = [&](const std::string& name, bool filter_fg, std::vector<int64_t> in_shape,
                        std::vector<int64_t> w_shape, std::array<int64_t, 2> stride) {
    const int64_t oh = (in_shape[3] - w_shape[3]) / stride[0] + 1;
    const int64_t ow = (in_shape[4] - w_shape[4]) / stride[1] + 1;
    const int64_t f = filter_fg ? w_shape[0] : w_shape[1];
    cases.push_back(
        {name,
         grouped_module(filter_fg ? "linalg.conv_2d_ngchw_fgchw" : "linalg.conv_2d_ngchw_gfchw",
                        in_shape, w_shape, {in_shape[0], in_shape[1], f, oh, ow}, stride, {1, 1},
                        0.0f),
         {in_shape, w_shape},
         [stride, filter_fg](const std::vector<Tensor>& in) {
           return std::vector<Tensor>{GroupedNgchw(in[0], in[1], stride, filter_fg)};
         }});
  };
  ngchw_case("grouped_conv_ngchw_gfchw", false, {1, 3, 4, 9, 11}, {3, 5, 4, 3, 3}, {1, 2});
  ngchw_case("grouped_conv_ngchw_fgchw", true, {2, 2, 3, 6, 6}, {6, 2, 3, 3, 3}, {1, 1});

  cases.push_back({"conv2d_nchw",
                   R"mlir(
func.func @main(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x6x6xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%x, %w : tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) outs(%f : tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
})mlir",
                   {{1, 3, 8, 8}, {4, 3, 3, 3}},
                   [](const std::vector<Tensor>& in) {
                     Tensor y = Zeros({1, 4, 6, 6});
                     for (int64_t o = 0; o < 4; ++o)
                       for (int64_t i = 0; i < 6; ++i)
                         for (int64_t j = 0; j < 6; ++j) {
                           double acc = 0;
                           for (int64_t c = 0; c < 3; ++c)
                             for (int64_t p = 0; p < 3; ++p)
                               for (int64_t q = 0; q < 3; ++q)
                                 acc += double(in[0].values[(c * 8 + i + p) * 8 + j + q]) *
                                        in[1].values[((o * 3 + c) * 3 + p) * 3 + q];
                           y.values[(o * 6 + i) * 6 + j] = static_cast<float>(acc);
                         }
                     return std::vector<Tensor>{y};
                   }});

  cases.push_back({"depthwise_conv",
                   R"mlir(
func.func @main(%x: tensor<1x8x8x4xf32>, %w: tensor<3x3x4xf32>) -> tensor<1x6x6x4xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x6x6x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
  %y = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
       ins(%x, %w : tensor<1x8x8x4xf32>, tensor<3x3x4xf32>) outs(%f : tensor<1x6x6x4xf32>) -> tensor<1x6x6x4xf32>
  return %y : tensor<1x6x6x4xf32>
})mlir",
                   {{1, 8, 8, 4}, {3, 3, 4}},
                   [](const std::vector<Tensor>& in) {
                     return std::vector<Tensor>{DepthwiseNhwc(in[0], in[1], 0.0)};
                   }});

  cases.push_back({"max_and_avg_pool",
                   R"mlir(
func.func @main(%x: tensor<1x8x8x2xf32>) -> (tensor<1x4x4x2xf32>, tensor<1x4x4x2xf32>) {
  %ninf = arith.constant -3.4e38 : f32
  %z = arith.constant 0.0 : f32
  %quarter = arith.constant 0.25 : f32
  %k = tensor.empty() : tensor<2x2xf32>
  %e = tensor.empty() : tensor<1x4x4x2xf32>
  %fm = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %max = linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
         ins(%x, %k : tensor<1x8x8x2xf32>, tensor<2x2xf32>) outs(%fm : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %fs = linalg.fill ins(%z : f32) outs(%e : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %sum = linalg.pooling_nhwc_sum {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
         ins(%x, %k : tensor<1x8x8x2xf32>, tensor<2x2xf32>) outs(%fs : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %avg = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                         iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
         ins(%sum : tensor<1x4x4x2xf32>) outs(%e : tensor<1x4x4x2xf32>) {
  ^bb0(%s: f32, %o: f32):
    %m = arith.mulf %s, %quarter : f32
    linalg.yield %m : f32
  } -> tensor<1x4x4x2xf32>
  return %max, %avg : tensor<1x4x4x2xf32>, tensor<1x4x4x2xf32>
})mlir",
                   {{1, 8, 8, 2}},
                   [](const std::vector<Tensor>& in) {
                     Tensor mx = Zeros({1, 4, 4, 2}), av = Zeros({1, 4, 4, 2});
                     for (int64_t i = 0; i < 4; ++i)
                       for (int64_t j = 0; j < 4; ++j)
                         for (int64_t c = 0; c < 2; ++c) {
                           float m = -3.4e38f;
                           double s = 0;
                           for (int64_t p = 0; p < 2; ++p)
                             for (int64_t q = 0; q < 2; ++q) {
                               float v = in[0].values[((2 * i + p) * 8 + 2 * j + q) * 2 + c];
                               m = std::max(m, v);
                               s += v;
                             }
                           mx.values[(i * 4 + j) * 2 + c] = m;
                           av.values[(i * 4 + j) * 2 + c] = static_cast<float>(s / 4);
                         }
                     return std::vector<Tensor>{mx, av};
                   }});

  cases.push_back({"softmax",
                   R"mlir(
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
func.func @main(%x: tensor<4x33xf32>) -> tensor<4x33xf32> {
  %ninf = arith.constant -3.4e38 : f32
  %z = arith.constant 0.0 : f32
  %er = tensor.empty() : tensor<4xf32>
  %e = tensor.empty() : tensor<4x33xf32>
  %m0 = linalg.fill ins(%ninf : f32) outs(%er : tensor<4xf32>) -> tensor<4xf32>
  %m = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
       ins(%x : tensor<4x33xf32>) outs(%m0 : tensor<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %ex = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
       ins(%x, %m : tensor<4x33xf32>, tensor<4xf32>) outs(%e : tensor<4x33xf32>) {
  ^bb0(%a: f32, %mx: f32, %o: f32):
    %d = arith.subf %a, %mx : f32
    %r = math.exp %d : f32
    linalg.yield %r : f32
  } -> tensor<4x33xf32>
  %s0 = linalg.fill ins(%z : f32) outs(%er : tensor<4xf32>) -> tensor<4xf32>
  %s = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
       ins(%ex : tensor<4x33xf32>) outs(%s0 : tensor<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
       ins(%ex, %s : tensor<4x33xf32>, tensor<4xf32>) outs(%e : tensor<4x33xf32>) {
  ^bb0(%a: f32, %t: f32, %o: f32):
    %r = arith.divf %a, %t : f32
    linalg.yield %r : f32
  } -> tensor<4x33xf32>
  return %y : tensor<4x33xf32>
})mlir",
                   {{4, 33}},
                   [](const std::vector<Tensor>& in) {
                     Tensor y = Zeros({4, 33});
                     for (int64_t i = 0; i < 4; ++i) {
                       double m = -1e30, s = 0;
                       for (int64_t j = 0; j < 33; ++j)
                         m = std::max(m, double(in[0].values[i * 33 + j]));
                       for (int64_t j = 0; j < 33; ++j) s += std::exp(in[0].values[i * 33 + j] - m);
                       for (int64_t j = 0; j < 33; ++j)
                         y.values[i * 33 + j] =
                             static_cast<float>(std::exp(in[0].values[i * 33 + j] - m) / s);
                     }
                     return std::vector<Tensor>{y};
                   }});

  cases.push_back({"layernorm",
                   R"mlir(
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
func.func @main(%x: tensor<6x40xf32>) -> tensor<6x40xf32> {
  %z = arith.constant 0.0 : f32
  %n = arith.constant 40.0 : f32
  %eps = arith.constant 1.0e-5 : f32
  %er = tensor.empty() : tensor<6xf32>
  %e = tensor.empty() : tensor<6x40xf32>
  %s0 = linalg.fill ins(%z : f32) outs(%er : tensor<6xf32>) -> tensor<6xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
       ins(%x : tensor<6x40xf32>) outs(%s0 : tensor<6xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<6xf32>
  %q = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
       ins(%x : tensor<6x40xf32>) outs(%s0 : tensor<6xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %sq = arith.mulf %a, %a : f32
    %r = arith.addf %sq, %acc : f32
    linalg.yield %r : f32
  } -> tensor<6xf32>
  %y = linalg.generic {indexing_maps = [#id, #row, #row, #id], iterator_types = ["parallel", "parallel"]}
       ins(%x, %sum, %q : tensor<6x40xf32>, tensor<6xf32>, tensor<6xf32>) outs(%e : tensor<6x40xf32>) {
  ^bb0(%a: f32, %s: f32, %ss: f32, %o: f32):
    %mean = arith.divf %s, %n : f32
    %msq = arith.divf %ss, %n : f32
    %m2 = arith.mulf %mean, %mean : f32
    %var = arith.subf %msq, %m2 : f32
    %ve = arith.addf %var, %eps : f32
    %inv = math.rsqrt %ve : f32
    %c = arith.subf %a, %mean : f32
    %r = arith.mulf %c, %inv : f32
    linalg.yield %r : f32
  } -> tensor<6x40xf32>
  return %y : tensor<6x40xf32>
})mlir",
                   {{6, 40}},
                   [](const std::vector<Tensor>& in) {
                     Tensor y = Zeros({6, 40});
                     for (int64_t i = 0; i < 6; ++i) {
                       double s = 0, q = 0;
                       for (int64_t j = 0; j < 40; ++j) {
                         double v = in[0].values[i * 40 + j];
                         s += v;
                         q += v * v;
                       }
                       double mean = s / 40, var = q / 40 - mean * mean;
                       for (int64_t j = 0; j < 40; ++j)
                         y.values[i * 40 + j] = static_cast<float>(
                             (in[0].values[i * 40 + j] - mean) / std::sqrt(var + 1e-5));
                     }
                     return std::vector<Tensor>{y};
                   }});

  cases.push_back({"transpose_reshape",
                   R"mlir(
func.func @main(%x: tensor<3x5x7xf32>) -> tensor<7x15xf32> {
  %e = tensor.empty() : tensor<7x3x5xf32>
  %t = linalg.transpose ins(%x : tensor<3x5x7xf32>) outs(%e : tensor<7x3x5xf32>) permutation = [2, 0, 1]
  %r = tensor.collapse_shape %t [[0], [1, 2]] : tensor<7x3x5xf32> into tensor<7x15xf32>
  return %r : tensor<7x15xf32>
})mlir",
                   {{3, 5, 7}},
                   [](const std::vector<Tensor>& in) {
                     Tensor y = Zeros({7, 15});
                     for (int64_t a = 0; a < 3; ++a)
                       for (int64_t b = 0; b < 5; ++b)
                         for (int64_t c = 0; c < 7; ++c)
                           y.values[c * 15 + a * 5 + b] = in[0].values[(a * 5 + b) * 7 + c];
                     return std::vector<Tensor>{y};
                   }});

  cases.push_back({"mlp_tanh",
                   R"mlir(
#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @main(%x: tensor<4x32xf32>, %w: tensor<32x48xf32>, %b: tensor<48xf32>) -> tensor<4x48xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x48xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x48xf32>) -> tensor<4x48xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x32xf32>, tensor<32x48xf32>) outs(%f : tensor<4x48xf32>) -> tensor<4x48xf32>
  %y = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
       ins(%m, %b : tensor<4x48xf32>, tensor<48xf32>) outs(%e : tensor<4x48xf32>) {
  ^bb0(%a: f32, %bb: f32, %o: f32):
    %s = arith.addf %a, %bb : f32
    %t = math.tanh %s : f32
    linalg.yield %t : f32
  } -> tensor<4x48xf32>
  return %y : tensor<4x48xf32>
})mlir",
                   {{4, 32}, {32, 48}, {48}},
                   [](const std::vector<Tensor>& in) {
                     Tensor y = MatMul(in[0], in[1]);
                     for (int64_t i = 0; i < 4; ++i)
                       for (int64_t j = 0; j < 48; ++j)
                         y.values[i * 48 + j] = std::tanh(y.values[i * 48 + j] + in[2].values[j]);
                     return std::vector<Tensor>{y};
                   }});

  cases.push_back({"i32_elementwise",
                   R"mlir(
func.func @main(%a: tensor<5x9xi32>, %b: tensor<5x9xi32>) -> tensor<5x9xi32> {
  %e = tensor.empty() : tensor<5x9xi32>
  %s = linalg.add ins(%a, %b : tensor<5x9xi32>, tensor<5x9xi32>) outs(%e : tensor<5x9xi32>) -> tensor<5x9xi32>
  %m = linalg.mul ins(%s, %a : tensor<5x9xi32>, tensor<5x9xi32>) outs(%e : tensor<5x9xi32>) -> tensor<5x9xi32>
  return %m : tensor<5x9xi32>
})mlir",
                   {{5, 9}, {5, 9}},
                   [](const std::vector<Tensor>& in) {
                     Tensor y = Zeros({5, 9});
                     for (int64_t i = 0; i < 45; ++i)
                       y.values[i] = (in[0].values[i] + in[1].values[i]) * in[0].values[i];
                     return std::vector<Tensor>{y};
                   },
                   mv1::DATA_TYPE_I32});

  // The same value as several results (kiln-distinct-results copies the repeats; upstream
  // buffer-results-to-out-params crashed on them), arguments and constants as results (copied
  // into their outputs: inputs are read-only to the runtime), and a result computed "in place"
  // of an argument that is returned too. Each result checked against its own reference.
  cases.push_back({"result_returned_three_times",
                   R"mlir(
func.func @main(%a: tensor<3x5xi32>, %b: tensor<3x5xi32>)
    -> (tensor<3x5xi32>, tensor<3x5xi32>, tensor<3x5xi32>, tensor<3x5xi32>) {
  %e = tensor.empty() : tensor<3x5xi32>
  %r = linalg.sub ins(%a, %b : tensor<3x5xi32>, tensor<3x5xi32>) outs(%e : tensor<3x5xi32>) -> tensor<3x5xi32>
  return %r, %a, %r, %r : tensor<3x5xi32>, tensor<3x5xi32>, tensor<3x5xi32>, tensor<3x5xi32>
})mlir",
                   {{3, 5}, {3, 5}},
                   [](const std::vector<Tensor>& in) {
                     Tensor r = Zeros({3, 5});
                     for (int64_t i = 0; i < 15; ++i)
                       r.values[i] = in[0].values[i] - in[1].values[i];
                     return std::vector<Tensor>{r, in[0], r, r};
                   },
                   mv1::DATA_TYPE_I32});
  cases.push_back({"arguments_and_constants_returned",
                   R"mlir(
func.func @main(%a: tensor<2x3xi32>, %b: tensor<2x3xi32>)
    -> (tensor<2x3xi32>, tensor<2x3xi32>, tensor<2x3xi32>, tensor<2x3xi32>, tensor<2x3xi32>,
        tensor<2x3xi32>) {
  %k = arith.constant dense<[[1, -2, 3], [-4, 5, -6]]> : tensor<2x3xi32>
  %r = linalg.mul ins(%a, %b : tensor<2x3xi32>, tensor<2x3xi32>) outs(%a : tensor<2x3xi32>) -> tensor<2x3xi32>
  return %a, %b, %a, %k, %r, %k
      : tensor<2x3xi32>, tensor<2x3xi32>, tensor<2x3xi32>, tensor<2x3xi32>, tensor<2x3xi32>,
        tensor<2x3xi32>
})mlir",
                   {{2, 3}, {2, 3}},
                   [](const std::vector<Tensor>& in) {
                     const Tensor k{{2, 3}, {1, -2, 3, -4, 5, -6}};
                     Tensor r = Zeros({2, 3});
                     for (int64_t i = 0; i < 6; ++i)
                       r.values[i] = in[0].values[i] * in[1].values[i];
                     return std::vector<Tensor>{in[0], in[1], in[0], k, r, k};
                   },
                   mv1::DATA_TYPE_I32});
  // What the ONNX importer makes of a graph with an output twice or an Identity of an output:
  // tosa.identity folds away, leaving one value returned three times.
  cases.push_back({"tosa_identity_of_result",
                   R"mlir(
func.func @main(%a: tensor<2x4xi32>, %b: tensor<2x4xi32>)
    -> (tensor<2x4xi32>, tensor<2x4xi32>, tensor<2x4xi32>, tensor<2x4xi32>) {
  %s = tosa.add %a, %b : (tensor<2x4xi32>, tensor<2x4xi32>) -> tensor<2x4xi32>
  %t = tosa.identity %s : (tensor<2x4xi32>) -> tensor<2x4xi32>
  %u = tosa.identity %a : (tensor<2x4xi32>) -> tensor<2x4xi32>
  return %s, %t, %s, %u : tensor<2x4xi32>, tensor<2x4xi32>, tensor<2x4xi32>, tensor<2x4xi32>
})mlir",
                   {{2, 4}, {2, 4}},
                   [](const std::vector<Tensor>& in) {
                     Tensor s = Zeros({2, 4});
                     for (int64_t i = 0; i < 8; ++i)
                       s.values[i] = in[0].values[i] + in[1].values[i];
                     return std::vector<Tensor>{s, s, s, in[0]};
                   },
                   mv1::DATA_TYPE_I32});
  // f32, big enough for several workgroups in the async model, so that the copy of the
  // repeated result depends on the dispatch computing it.
  cases.push_back({"result_returned_twice_f32",
                   R"mlir(
func.func @main(%a: tensor<64x96xf32>, %b: tensor<64x96xf32>)
    -> (tensor<64x96xf32>, tensor<64x96xf32>) {
  %e = tensor.empty() : tensor<64x96xf32>
  %r = linalg.add ins(%a, %b : tensor<64x96xf32>, tensor<64x96xf32>) outs(%e : tensor<64x96xf32>) -> tensor<64x96xf32>
  return %r, %r : tensor<64x96xf32>, tensor<64x96xf32>
})mlir",
                   {{64, 96}, {64, 96}},
                   [](const std::vector<Tensor>& in) {
                     Tensor r = Zeros({64, 96});
                     for (size_t i = 0; i < r.values.size(); ++i)
                       r.values[i] = in[0].values[i] + in[1].values[i];
                     return std::vector<Tensor>{r, r};
                   }});

  // TOSA depthwise (kiln-normalize-convolutions drops its channel multiplier of 1 into the
  // plain depthwise form): 8 output columns (register tiles), 48 channels.
  cases.push_back({"tosa_depthwise",
                   R"mlir(
func.func @main(%x: tensor<1x9x10x48xf32>, %w: tensor<3x3x48x1xf32>) -> tensor<1x7x8x48xf32> {
  %b = "tosa.const"() <{values = dense<0.0> : tensor<48xf32>}> : () -> tensor<48xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tosa.depthwise_conv2d %x, %w, %b, %zp, %zp {acc_type = f32, dilation = array<i64: 1, 1>, pad = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x9x10x48xf32>, tensor<3x3x48x1xf32>, tensor<48xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x7x8x48xf32>
  return %c : tensor<1x7x8x48xf32>
})mlir",
                   {{1, 9, 10, 48}, {3, 3, 48, 1}},
                   [](const std::vector<Tensor>& in) {
                     // [3][3][48][1] has the [3][3][48] layout the reference reads.
                     return std::vector<Tensor>{DepthwiseNhwc(in[0], in[1], 0.0)};
                   }});
  {
    // TOSA conv with constant OHWI weights: transposed to HWCF at compile time
    // (kiln-normalize-convolutions), then the conv register tiles.
    constexpr int64_t kO = 32, kH = 3, kW = 3, kI = 16;
    auto weight = [](int64_t o, int64_t h, int64_t w, int64_t i) {
      return 0.01f * static_cast<float>((o * 7 + h * 5 + w * 3 + i * 11) % 23) - 0.1f;
    };
    // The elements as MLIR's hex form of a dense literal: raw little-endian bytes.
    std::string values = "0x";
    for (int64_t o = 0; o < kO; ++o)
      for (int64_t h = 0; h < kH; ++h)
        for (int64_t w = 0; w < kW; ++w)
          for (int64_t i = 0; i < kI; ++i) {
            const float value = weight(o, h, w, i);
            uint8_t bytes[4];
            std::memcpy(bytes, &value, 4);
            for (uint8_t byte : bytes) values += absl::StrFormat("%02X", byte);
          }
    cases.push_back(
        {"tosa_conv_constant_filter",
         "func.func @main(%x: tensor<1x7x9x16xf32>) -> tensor<1x5x7x32xf32> {\n"
         "  %w = \"tosa.const\"() <{values = dense<\"" +
             values +
             "\"> : tensor<32x3x3x16xf32>}> : () -> tensor<32x3x3x16xf32>\n"
             "  %b = \"tosa.const\"() <{values = dense<0.0> : tensor<32xf32>}> : () -> "
             "tensor<32xf32>\n"
             "  %zp = \"tosa.const\"() <{values = dense<0.0> : tensor<1xf32>}> : () -> "
             "tensor<1xf32>\n"
             "  %c = tosa.conv2d %x, %w, %b, %zp, %zp {acc_type = f32, dilation = array<i64: 1, "
             "1>, pad = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : "
             "(tensor<1x7x9x16xf32>, "
             "tensor<32x3x3x16xf32>, tensor<32xf32>, tensor<1xf32>, tensor<1xf32>) -> "
             "tensor<1x5x7x32xf32>\n"
             "  return %c : tensor<1x5x7x32xf32>\n"
             "}\n",
         {{1, 7, 9, 16}},
         [weight](const std::vector<Tensor>& in) {
           Tensor hwcf = Zeros({kH, kW, kI, kO});
           for (int64_t o = 0; o < kO; ++o)
             for (int64_t h = 0; h < kH; ++h)
               for (int64_t w = 0; w < kW; ++w)
                 for (int64_t i = 0; i < kI; ++i)
                   hwcf.values[((h * kW + w) * kI + i) * kO + o] = weight(o, h, w, i);
           return std::vector<Tensor>{Conv2dNhwc(in[0], hwcf, 1, 0)};
         }});
  }

  // A small TOSA CNN: conv (pad 1) + bias, ReLU via clamp, 2x2 max pool.
  cases.push_back({"tosa_cnn",
                   R"mlir(
func.func @main(%x: tensor<1x8x8x2xf32>, %w: tensor<3x3x3x2xf32>) -> tensor<1x4x4x3xf32> {
  %b = "tosa.const"() <{values = dense<[0.1, -0.1, 0.05]> : tensor<3xf32>}> : () -> tensor<3xf32>
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tosa.conv2d %x, %w, %b, %zp, %zp {acc_type = f32, dilation = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : (tensor<1x8x8x2xf32>, tensor<3x3x3x2xf32>, tensor<3xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x8x8x3xf32>
  %r = tosa.clamp %c {max_val = 3.4e38 : f32, min_val = 0.0 : f32} : (tensor<1x8x8x3xf32>) -> tensor<1x8x8x3xf32>
  %p = tosa.max_pool2d %r {kernel = array<i64: 2, 2>, pad = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : (tensor<1x8x8x3xf32>) -> tensor<1x4x4x3xf32>
  return %p : tensor<1x4x4x3xf32>
})mlir",
                   {{1, 8, 8, 2}, {3, 3, 3, 2}},
                   [](const std::vector<Tensor>& in) {
                     // TOSA weights are OHWI; the reference conv takes HWCF.
                     Tensor hwcf = Zeros({3, 3, 2, 3});
                     for (int64_t o = 0; o < 3; ++o)
                       for (int64_t h = 0; h < 3; ++h)
                         for (int64_t w = 0; w < 3; ++w)
                           for (int64_t i = 0; i < 2; ++i)
                             hwcf.values[((h * 3 + w) * 2 + i) * 3 + o] =
                                 in[1].values[((o * 3 + h) * 3 + w) * 2 + i];
                     Tensor c = Conv2dNhwc(in[0], hwcf, 1, 1);
                     const float bias[3] = {0.1f, -0.1f, 0.05f};
                     Tensor y = Zeros({1, 4, 4, 3});
                     for (int64_t i = 0; i < 4; ++i)
                       for (int64_t j = 0; j < 4; ++j)
                         for (int64_t o = 0; o < 3; ++o) {
                           float m = 0;  // ReLU output is >= 0
                           for (int64_t p = 0; p < 2; ++p)
                             for (int64_t q = 0; q < 2; ++q)
                               m = std::max(
                                   m, c.values[((2 * i + p) * 8 + 2 * j + q) * 3 + o] + bias[o]);
                           y.values[(i * 4 + j) * 3 + o] = m;
                         }
                     return std::vector<Tensor>{y};
                   }});
  return cases;
}

struct Param {
  Case test_case;
  mv1::ExecutableFormat format;
  mv1::ExecutionModel model;
  std::string target_cpu;  // empty: the host
};

std::string ParamName(const testing::TestParamInfo<Param>& info) {
  return info.param.test_case.name +
         (info.param.format == mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF ? "_elf" : "_so") +
         (info.param.model == mv1::EXECUTION_MODEL_ASYNC ? "_async" : "_inline") +
         (info.param.target_cpu.empty() ? "" : "_" + info.param.target_cpu);
}

std::vector<Param> Params() {
  std::vector<Param> params;
  __builtin_cpu_init();
  // The AVX2 code (16 vector registers, other register tiles) too, on AVX-512 hosts (on AVX2
  // hosts the host variants are that code already).
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("avx512f");
  for (const Case& c : Cases()) {
    for (auto format : {mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF, mv1::EXECUTABLE_FORMAT_SYSTEM_LIBRARY})
      for (auto model : {mv1::EXECUTION_MODEL_INLINE_DYNAMIC, mv1::EXECUTION_MODEL_ASYNC})
        params.push_back({c, format, model, ""});
    if (avx2)
      params.push_back(
          {c, mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF, mv1::EXECUTION_MODEL_ASYNC, "haswell"});
  }
  return params;
}

class OpsEndToEnd : public testing::TestWithParam<Param> {};

TEST_P(OpsEndToEnd, MatchesReference) {
  const Param& param = GetParam();
  CompileOptions options;
  options.source_name = param.test_case.name + ".mlir";
  options.executable_format = param.format;
  options.execution_model = param.model;
  options.target_cpu = param.target_cpu.empty() ? options.target_cpu : param.target_cpu;
  auto compiled = Compile(param.test_case.mlir, options);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  auto file = module::ModuleFile::FromBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(compiled->module_bytes.data()),
                               compiled->module_bytes.size()));
  ASSERT_TRUE(file.ok()) << file.status();
  hal::DeviceOptions device_options;
  device_options.worker_count = 2;
  auto device = hal::Device::Create(device_options);
  ASSERT_TRUE(device.ok()) << device.status();
  auto loaded = LoadedModule::Load(std::move(*file), *device);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const mv1::FunctionDef* fn = (*loaded)->FindFunction("main");
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(fn->execution_model(), param.model);

  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<Tensor> inputs;
  std::vector<std::string> storage;
  std::vector<TensorView> views;
  inputs.reserve(param.test_case.input_shapes.size());
  storage.reserve(param.test_case.input_shapes.size());
  for (const auto& shape : param.test_case.input_shapes) {
    Tensor t = Zeros(shape);
    std::string bytes(t.values.size() * 4, '\0');
    for (size_t i = 0; i < t.values.size(); ++i) {
      if (param.test_case.dtype == mv1::DATA_TYPE_I32) {
        int32_t v = static_cast<int32_t>(rng() % 201) - 100;
        t.values[i] = static_cast<float>(v);
        std::memcpy(&bytes[i * 4], &v, 4);
      } else {
        t.values[i] = dist(rng);
        std::memcpy(&bytes[i * 4], &t.values[i], 4);
      }
    }
    inputs.push_back(std::move(t));
    storage.push_back(std::move(bytes));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    TensorView view;
    view.dtype = param.test_case.dtype;
    view.shape = inputs[i].shape;
    view.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(storage[i].data()),
                                         storage[i].size());
    views.push_back(view);
  }
  auto outputs = (*loaded)->Invoke(*fn, views);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  std::vector<Tensor> expected = param.test_case.reference(inputs);
  ASSERT_EQ(outputs->size(), expected.size());
  for (size_t o = 0; o < expected.size(); ++o) {
    const HostTensor& got = (*outputs)[o];
    EXPECT_EQ(got.shape, expected[o].shape);
    ASSERT_EQ(got.data.size(), expected[o].values.size() * 4);
    int mismatches = 0;
    for (size_t i = 0; i < expected[o].values.size() && mismatches < 5; ++i) {
      float want = expected[o].values[i];
      if (param.test_case.dtype == mv1::DATA_TYPE_I32) {
        int32_t v;
        std::memcpy(&v, &got.data[i * 4], 4);
        if (v != static_cast<int32_t>(want)) {
          ADD_FAILURE() << "output " << o << "[" << i << "] = " << v << ", want " << want;
          ++mismatches;
        }
      } else {
        float v;
        std::memcpy(&v, &got.data[i * 4], 4);
        if (!(std::fabs(v - want) <= param.test_case.atol + 1e-4f * std::fabs(want))) {
          ADD_FAILURE() << "output " << o << "[" << i << "] = " << v << ", want " << want;
          ++mismatches;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpsEndToEnd, testing::ValuesIn(Params()), ParamName);

// ---- kiln-approximate-math, numerically ----
// Every op the pass approximates runs in an embedded ELF (freestanding: its approximations are
// the only math it has) over a sweep of inputs: a 1/128 grid over [-10, 10], zeros, denormals,
// tiny and huge magnitudes of both signs, ±inf and NaN. Each result is compared with libm's, in
// double precision, rounded to float:
// - where libm's is NaN or ±inf, exactly (NaN for NaN, the same infinity);
// - elsewhere within the op's tolerance: so many ulps of the float reference, or an absolute
//   error for ops whose form cancels near a zero of the function; a reference below the
//   smallest normal float may come out 0 (the approximations flush denormal results).
// Inputs outside an op's checked domain are named where the op is listed, with the reason.

struct ApproxCase {
  std::string name;
  std::string body;  // computes %v from %a (and %b for two operands)
  bool binary = false;
  std::function<double(double, double)> reference;
  // Allowed absolute error for inputs (x, y) whose float reference is `want`.
  std::function<double(double x, double y, double want)> tolerance;
  std::function<bool(float x, float y)> checked = [](float, float) { return true; };
};

void PrintTo(const ApproxCase& c, std::ostream* out) { *out << c.name; }

double UlpOf(double want) {
  const float f = static_cast<float>(std::fabs(want));
  return std::nextafter(f, std::numeric_limits<float>::infinity()) - f;
}

// n ulps of the reference, and at least `atol`.
std::function<double(double, double, double)> Ulps(double n, double atol = 0) {
  return [n, atol](double, double, double want) { return std::max(n * UlpOf(want), atol); };
}

constexpr double kInfinity = std::numeric_limits<double>::infinity();

std::function<double(double, double, double)> TrigTolerance(bool tan) {
  return [tan](double x, double, double want) {
    const double argument = 1.5e-7 + 1e-7 * std::fabs(x);
    return std::max(4 * UlpOf(want), argument * (tan ? 1 + want * want : 1));
  };
}

bool Denormal(float x) { return x != 0 && std::fabs(x) < std::numeric_limits<float>::min(); }

std::vector<ApproxCase> ApproxCases() {
  auto unary = [](const std::string& op, std::function<double(double)> f, auto tolerance) {
    return ApproxCase{op, "%v = math." + op + " %a : f32", false,
                      [f = std::move(f)](double x, double) { return f(x); }, std::move(tolerance)};
  };
  std::vector<ApproxCase> cases = {
      unary(
          "tanh", [](double x) { return std::tanh(x); }, Ulps(8)),
      unary(
          "exp", [](double x) { return std::exp(x); }, Ulps(6)),
      unary(
          "expm1", [](double x) { return std::expm1(x); }, Ulps(6)),
      // exp(x ln 2): the product's rounding is amplified by its magnitude.
      unary(
          "exp2", [](double x) { return std::exp2(x); },
          [](double x, double, double want) { return (4 + 0.5 * std::fabs(x)) * UlpOf(want); }),
      unary(
          "log", [](double x) { return std::log(x); }, Ulps(4)),
      unary(
          "log2", [](double x) { return std::log2(x); }, Ulps(4)),
      unary(
          "log1p", [](double x) { return std::log1p(x); }, Ulps(4)),
      unary(
          "erf", [](double x) { return std::erf(x); }, Ulps(6)),
      unary(
          "erfc", [](double x) { return std::erfc(x); }, Ulps(6)),
      // (e^x - e^-x) / 2 cancels near 0: an absolute error.
      unary(
          "sinh", [](double x) { return std::sinh(x); }, Ulps(6, 1.2e-7)),
      unary(
          "cosh", [](double x) { return std::cosh(x); }, Ulps(6)),
      // One-constant range reduction: the reduced argument is off by up to ~1e-7 |x| (and an
      // ulp of pi/2), which tan's slope (1 + tan^2) amplifies near its poles.
      unary(
          "sin", [](double x) { return std::sin(x); }, TrigTolerance(false)),
      unary(
          "cos", [](double x) { return std::cos(x); }, TrigTolerance(false)),
      unary(
          "tan", [](double x) { return std::tan(x); }, TrigTolerance(true)),
      unary(
          "atan", [](double x) { return std::atan(x); }, Ulps(48)),
      unary(
          "asin", [](double x) { return std::asin(x); }, Ulps(4)),
      unary(
          "acos", [](double x) { return std::acos(x); }, Ulps(4)),
      unary(
          "cbrt", [](double x) { return std::cbrt(x); }, Ulps(16)),
      unary(
          "rsqrt", [](double x) { return 1 / std::sqrt(x); }, Ulps(4)),
      unary(
          "asinh", [](double x) { return std::asinh(x); }, Ulps(4)),
      unary(
          "acosh", [](double x) { return std::acosh(x); }, Ulps(4)),
      // 0.5 log((1 + x) / (1 - x)) cancels near 0.
      unary(
          "atanh", [](double x) { return std::atanh(x); }, Ulps(4, 1.2e-7)),
  };
  auto domain = [&](const std::string& name, const std::function<bool(float, float)>& checked) {
    for (ApproxCase& c : cases)
      if (c.name == name) c.checked = checked;
  };
  // Overflow to inf from 88.72 on (e^x is computed whole), where libm's stays finite to 89.4.
  domain("sinh", [](float x, float) { return std::fabs(x) <= 88.5f; });
  domain("cosh", [](float x, float) { return std::fabs(x) <= 88.5f; });
  // One-constant range reduction: the error grows with |x| (covered by the tolerance up to
  // 1e4); beyond ~1e7 the result is meaningless, even inf or NaN.
  for (const char* name : {"sin", "cos", "tan"})
    domain(name, [](float x, float) { return std::fabs(x) <= 1e4f; });
  // These read the exponent field, which a denormal does not use.
  for (const char* name : {"log", "log2", "cbrt"})
    domain(name, [](float x, float) { return !Denormal(x); });

  cases.push_back({"powf", "%v = math.powf %a, %b : f32", true,
                   [](double x, double y) { return std::pow(x, y); },
                   // exp(y log|x|): the rounding of y log|x| is amplified by its magnitude.
                   [](double x, double y, double want) {
                     const double exponent = std::fabs(y * std::log(std::fabs(x)));
                     return (4 + 2 * (std::isfinite(exponent) ? exponent : 0)) * UlpOf(want);
                   }});
  cases.push_back({"fpowi",
                   "%n = arith.fptosi %b : f32 to i32\n    %v = math.fpowi %a, %n : f32, i32", true,
                   [](double x, double y) { return std::pow(x, static_cast<int>(y)); },
                   [](double x, double y, double want) {
                     const double exponent = std::fabs(std::trunc(y) * std::log(std::fabs(x)));
                     return (4 + 2 * (std::isfinite(exponent) ? exponent : 0)) * UlpOf(want);
                   },
                   // The exponent converted to i32 must fit.
                   [](float, float y) { return std::fabs(y) < 1e9f; }});
  cases.push_back({"atan2", "%v = math.atan2 %a, %b : f32", true,
                   [](double x, double y) { return std::atan2(x, y); }, Ulps(48),
                   // Where y / x rounds to 0 (y = -0, a tiny y, x = ±inf), the sign of a
                   // negative y is lost: +pi instead of -pi for x < 0.
                   [](float y, float x) { return !(y / x == 0 && std::signbit(y)); }});
  return cases;
}

std::vector<float> ApproxSweep() {
  std::vector<float> xs;
  for (int i = -1280; i <= 1280; ++i) xs.push_back(static_cast<float>(i) / 128);
  const float max = std::numeric_limits<float>::max();
  for (float m : {1.4e-45f, 1e-40f, 1e-38f, 1e-30f, 1e-20f, 1e-10f, 1e-7f, 1e-5f, 3e-4f,
                  1e-3f,    0.999f, 1.001f, 12.f,   16.f,   20.f,   30.f,  44.f,  50.f,
                  80.f,     87.f,   88.f,   88.7f,  89.f,   90.f,   100.f, 104.f, 110.f,
                  200.f,    1e3f,   4096.f, 5000.f, 1e5f,   1e10f,  1e20f, 1e30f, max}) {
    xs.push_back(m);
    xs.push_back(-m);
  }
  xs.push_back(-0.f);
  xs.push_back(std::numeric_limits<float>::infinity());
  xs.push_back(-std::numeric_limits<float>::infinity());
  xs.push_back(std::numeric_limits<float>::quiet_NaN());
  return xs;
}

class ApproximateMath : public testing::TestWithParam<ApproxCase> {};

TEST_P(ApproximateMath, MatchesLibm) {
  const ApproxCase& c = GetParam();
  // x: the sweep; y (second operands): the sweep reversed, so pairs mix magnitudes and signs.
  const std::vector<float> xs = ApproxSweep();
  const std::vector<float> ys(xs.rbegin(), xs.rend());
  const std::string t = absl::StrFormat("tensor<%dxf32>", xs.size());
  const std::string mlir = absl::StrFormat(
      R"mlir(
#id = affine_map<(i) -> (i)>
func.func @main(%%x: %s%s) -> %s {
  %%e = tensor.empty() : %s
  %%r = linalg.generic {indexing_maps = [#id, %s#id], iterator_types = ["parallel"]}
      ins(%%x%s : %s%s) outs(%%e : %s) {
  ^bb0(%%a: f32, %s%%o: f32):
    %s
    linalg.yield %%v : f32
  } -> %s
  return %%r : %s
})mlir",
      t, c.binary ? ", %y: " + t : "", t, t, c.binary ? "#id, " : "", c.binary ? ", %y" : "", t,
      c.binary ? ", " + t : "", t, c.binary ? "%b: f32, " : "", c.body, t, t);
  CompileOptions options;
  options.source_name = c.name + ".mlir";
  options.executable_format = mv1::EXECUTABLE_FORMAT_EMBEDDED_ELF;
  options.execution_model = mv1::EXECUTION_MODEL_INLINE_DYNAMIC;
  auto compiled = Compile(mlir, options);
  ASSERT_TRUE(compiled.ok()) << compiled.status() << "\n" << mlir;
  auto file = module::ModuleFile::FromBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(compiled->module_bytes.data()),
                               compiled->module_bytes.size()));
  ASSERT_TRUE(file.ok()) << file.status();
  auto device = hal::Device::Create(hal::DeviceOptions{});
  ASSERT_TRUE(device.ok()) << device.status();
  auto loaded = LoadedModule::Load(std::move(*file), *device);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const mv1::FunctionDef* fn = (*loaded)->FindFunction("main");
  ASSERT_NE(fn, nullptr);
  const std::vector<int64_t> shape = {static_cast<int64_t>(xs.size())};
  std::vector<TensorView> views;
  for (const std::vector<float>* values : {&xs, &ys}) {
    if (values == &ys && !c.binary) break;
    TensorView view;
    view.dtype = mv1::DATA_TYPE_F32;
    view.shape = shape;
    view.data = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values->data()),
                                         values->size() * sizeof(float));
    views.push_back(view);
  }
  auto outputs = (*loaded)->Invoke(*fn, views);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 1u);
  ASSERT_EQ((*outputs)[0].data.size(), xs.size() * sizeof(float));
  std::vector<float> got(xs.size());
  std::memcpy(got.data(), (*outputs)[0].data.data(), got.size() * sizeof(float));

  // Every mismatch counts; the first few are reported one by one, then the worst.
  int failures = 0;
  double worst_ratio = 0;
  std::string worst;
  auto fail = [&](const std::string& message, double ratio) {
    if (++failures <= 5) ADD_FAILURE() << message;
    if (ratio >= worst_ratio) {
      worst_ratio = ratio;
      worst = message;
    }
  };
  for (size_t i = 0; i < xs.size(); ++i) {
    const float x = xs[i], y = c.binary ? ys[i] : 0.f;
    if (!c.checked(x, y)) continue;
    const double want = c.reference(x, y);
    const float want_f = static_cast<float>(want);
    const std::string where = c.binary ? absl::StrFormat("%s(%.9g, %.9g)", c.name, x, y)
                                       : absl::StrFormat("%s(%.9g)", c.name, x);
    if (std::isnan(want_f) || std::isinf(want_f)) {
      const bool same = std::isnan(want_f) ? std::isnan(got[i]) : got[i] == want_f;
      if (!same) fail(absl::StrFormat("%s = %.9g, want %.9g", where, got[i], want_f), kInfinity);
      continue;
    }
    double allowed = c.tolerance(x, y, want);
    if (std::fabs(want_f) < std::numeric_limits<float>::min())
      allowed = std::max(allowed, double{std::numeric_limits<float>::min()});
    const double error = std::fabs(double{got[i]} - want);
    if (!(error <= allowed)) {  // NaN too
      fail(absl::StrFormat("%s = %.9g, want %.9g: error %.3g (%.3g ulp), allowed %.3g", where,
                           got[i], want, error, error / UlpOf(want), allowed),
           std::isnan(error) ? kInfinity : error / allowed);
    }
  }
  EXPECT_EQ(failures, 0) << "the worst: " << worst;
}

INSTANTIATE_TEST_SUITE_P(Ops, ApproximateMath, testing::ValuesIn(ApproxCases()),
                         [](const testing::TestParamInfo<ApproxCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace kiln::compiler
