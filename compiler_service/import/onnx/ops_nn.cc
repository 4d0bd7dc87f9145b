// Convolutions, pooling, normalization and Resize: the NHWC ops. ONNX's NCHW image tensors
// enter NHWC here (once per value, see Layout) and results stay NHWC for the next op.
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler_service/import/onnx/graph_importer.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace kiln::compiler::onnx_import {
namespace {

using TP = onnx::TensorProto;
using AT = onnx::AttributeProto;
namespace tosa = mlir::tosa;

// One spatial dim of a sliding window, after ONNX's padding rules are applied.
struct Window {
  int64_t pad_begin = 0;
  int64_t pad_end = 0;
  int64_t crop_end = 0;  // input rows/cols no window reads (TOSA wants exact division)
  int64_t out = 0;
};

// `effective_k` = (k-1)*dilation + 1. ONNX floors the output size (or ceils, for pools with
// ceil_mode); TOSA wants (in + pads - k) divisible by the stride, so the end pad shrinks or
// the input's unread tail is cropped.
absl::StatusOr<Window> PlanWindow(Node& node, int64_t in, int64_t effective_k, int64_t stride,
                                  int64_t pad_begin, int64_t pad_end, const std::string& auto_pad,
                                  bool ceil_mode) {
  Window w;
  if (stride < 1) return node.Error("strides must be positive");
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((out - 1) * stride + effective_k - in, 0);
    pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pad_end = total - pad_begin;
  } else if (auto_pad == "VALID") {
    pad_begin = pad_end = 0;
  } else if (auto_pad != "NOTSET" && !auto_pad.empty()) {
    return node.Error(absl::StrCat("attribute 'auto_pad': '", auto_pad, "' is not supported"));
  }
  if (pad_begin < 0 || pad_end < 0) return node.Error("pads must not be negative");
  const int64_t span = in + pad_begin + pad_end - effective_k;
  if (span < 0)
    return node.Error(absl::StrCat("the window (", effective_k,
                                   ") is larger than the padded input (", in + pad_begin + pad_end,
                                   ")"));
  int64_t out = span / stride + 1;
  if (ceil_mode && span % stride != 0) {
    out = span / stride + 2;
    // PyTorch (and ONNX Runtime) drop a last window that would start in the end padding.
    if ((out - 1) * stride >= in + pad_begin) --out;
  }
  // The exact extent the windows cover, against what the input and begin pad provide.
  const int64_t needed_end = (out - 1) * stride + effective_k - in - pad_begin;
  w.pad_begin = pad_begin;
  w.out = out;
  if (needed_end >= 0) {
    w.pad_end = needed_end;
  } else {
    w.pad_end = 0;
    w.crop_end = -needed_end;
  }
  return w;
}

// Attribute reading shared by Conv and the pools: per-spatial-dim lists with defaults.
struct Spatial {
  std::vector<int64_t> kernel, strides, dilations, pads;
};

absl::StatusOr<Spatial> ReadSpatial(Node& node, int64_t dims, const std::vector<int64_t>& kernel) {
  Spatial s;
  s.kernel = node.Ints("kernel_shape", kernel);
  s.strides = node.Ints("strides", std::vector<int64_t>(dims, 1));
  s.dilations = node.Ints("dilations", std::vector<int64_t>(dims, 1));
  s.pads = node.Ints("pads", std::vector<int64_t>(2 * dims, 0));
  if (static_cast<int64_t>(s.kernel.size()) != dims ||
      static_cast<int64_t>(s.strides.size()) != dims ||
      static_cast<int64_t>(s.dilations.size()) != dims ||
      static_cast<int64_t>(s.pads.size()) != 2 * dims)
    return node.Error(absl::StrCat("kernel_shape, strides, dilations and pads must describe ", dims,
                                   " spatial dims"));
  if (kernel.size() == static_cast<size_t>(dims) && s.kernel != kernel)
    return node.Error(absl::StrCat("attribute 'kernel_shape' ", ShapeString(s.kernel),
                                   " differs from the weights' ", ShapeString(kernel)));
  for (int64_t d = 0; d < dims; ++d)
    if (s.kernel[d] < 1 || s.dilations[d] < 1)
      return node.Error("kernel_shape and dilations must be positive");
  return s;
}

// A rank-3 (1-D) input is run as 2-D with H = 1.
absl::StatusOr<Val*> AsImage(Node& node, Val* x, Val& storage) {
  if (x->rank() == 4) return x;
  if (x->rank() != 3)
    return node.Error(
        absl::StrCat("input ", ShapeString(x->shape), " must be NCHW (rank 4) or NCL (rank 3)"));
  GraphImporter& g = node.g();
  storage = Val();
  storage.dtype = x->dtype;
  storage.shape = {x->shape[0], x->shape[1], 1, x->shape[2]};
  if (x->is_host()) {
    HostTensor t = *x->host;
    t.shape = storage.shape;
    storage.host = std::make_shared<const HostTensor>(std::move(t));
  } else {
    storage.value = g.Reshape(g.Logical(*x), storage.shape);
  }
  return &storage;
}

// Stores an NHWC result [N,OH,OW,C] as output 0, back in rank 3 (NCL) for a 1-D op.
absl::Status SetImage(Node& node, mlir::Value nhwc, DType dtype, bool one_d) {
  auto s = llvm::cast<mlir::RankedTensorType>(nhwc.getType()).getShape();
  if (!one_d) return node.SetValue(0, nhwc, dtype, {s[0], s[3], s[1], s[2]}, Layout::kNhwc);
  GraphImporter& g = node.g();
  mlir::Value ncl = g.Transpose(g.Reshape(nhwc, {s[0], s[2], s[3]}), {0, 2, 1});
  return node.SetValue(0, ncl, dtype, {s[0], s[3], s[2]});
}

// Weights [O, I, (1,) kh, kw] as a host tensor of rank 4 (1-D kernels get kh = 1).
absl::StatusOr<HostTensor> Weights4(Node& node, int i) {
  KILN_ASSIGN_OR_RETURN(const HostTensor* w, node.ConstIn(i, "W"));
  HostTensor t = *w;
  if (t.shape.size() == 3) t.shape = {t.shape[0], t.shape[1], 1, t.shape[2]};
  if (t.shape.size() != 4) return node.Error("weights must have rank 3 or 4");
  if (t.dtype != TP::FLOAT) return node.Error("only FLOAT weights are supported");
  return t;
}

absl::StatusOr<HostTensor> Bias(Node& node, int i, int64_t channels) {
  if (!node.Has(i)) return HostTensor::Zeros(TP::FLOAT, {channels});
  KILN_ASSIGN_OR_RETURN(const HostTensor* b, node.ConstIn(i, "B"));
  if (b->shape != std::vector<int64_t>{channels})
    return node.Error(absl::StrCat("bias ", ShapeString(b->shape), " must be [", channels, "]"));
  return *b;
}

absl::Status HandleConv(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x0, node.In(0));
  Val storage;
  KILN_ASSIGN_OR_RETURN(Val * x, AsImage(node, x0, storage));
  const bool one_d = x0->rank() == 3;
  if (x->dtype != TP::FLOAT) return node.Error("only FLOAT convolutions are supported");
  KILN_ASSIGN_OR_RETURN(HostTensor w, Weights4(node, 1));
  const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
  const int64_t o = w.shape[0], ci = w.shape[1], kh = w.shape[2], kw = w.shape[3];
  const int64_t group = node.Int("group", 1);
  if (group < 1 || c % group != 0 || o % group != 0 || ci != c / group)
    return node.Error(absl::StrCat("input channels ", c, ", weights ", ShapeString(w.shape),
                                   " and group ", group, " do not match"));
  KILN_ASSIGN_OR_RETURN(HostTensor bias, Bias(node, 2, o));
  std::vector<int64_t> kernel = one_d ? std::vector<int64_t>{kw} : std::vector<int64_t>{kh, kw};
  KILN_ASSIGN_OR_RETURN(Spatial sp, ReadSpatial(node, one_d ? 1 : 2, kernel));
  if (one_d) {
    sp.strides.insert(sp.strides.begin(), 1);
    sp.dilations.insert(sp.dilations.begin(), 1);
    sp.pads = {0, sp.pads[0], 0, sp.pads[1]};
  }
  const std::string auto_pad = node.Str("auto_pad", "NOTSET");
  KILN_ASSIGN_OR_RETURN(
      Window wy, PlanWindow(node, h, (kh - 1) * sp.dilations[0] + 1, sp.strides[0], sp.pads[0],
                            sp.pads[2], auto_pad, false));
  KILN_ASSIGN_OR_RETURN(
      Window wx, PlanWindow(node, wd, (kw - 1) * sp.dilations[1] + 1, sp.strides[1], sp.pads[1],
                            sp.pads[3], auto_pad, false));
  GraphImporter& g = node.g();
  mlir::Value in = g.Nhwc(*x);
  in = g.Slice(in, {0, 0, 0, 0}, {n, h - wy.crop_end, wd - wx.crop_end, c});
  const std::vector<int64_t> pad = {wy.pad_begin, wy.pad_end, wx.pad_begin, wx.pad_end};
  const std::vector<int64_t> stride = {sp.strides[0], sp.strides[1]};
  const std::vector<int64_t> dilation = {sp.dilations[0], sp.dilations[1]};
  mlir::Type f32 = g.b().getF32Type();
  mlir::Value result;
  if (group == 1) {
    auto type = g.TensorType({n, wy.out, wx.out, o}, TP::FLOAT);
    result = tosa::Conv2DOp::create(g.b(), g.loc(), type, in, g.Const(Transpose(w, {0, 2, 3, 1})),
                                    g.Const(bias), g.b().getDenseI64ArrayAttr(pad),
                                    g.b().getDenseI64ArrayAttr(stride),
                                    g.b().getDenseI64ArrayAttr(dilation), mlir::TypeAttr::get(f32));
  } else if (group == c) {
    // Depthwise: W [C*m, 1, kh, kw] → [C, m, kh, kw] → HWCM.
    const int64_t m = o / c;
    HostTensor hw = w;
    hw.shape = {c, m, kh, kw};
    auto type = g.TensorType({n, wy.out, wx.out, o}, TP::FLOAT);
    result = tosa::DepthwiseConv2DOp::create(
        g.b(), g.loc(), type, in, g.Const(Transpose(hw, {2, 3, 0, 1})), g.Const(bias),
        g.b().getDenseI64ArrayAttr(pad), g.b().getDenseI64ArrayAttr(stride),
        g.b().getDenseI64ArrayAttr(dilation), mlir::TypeAttr::get(f32));
  } else {
    // Grouped: TOSA has no grouped convolution; linalg's named one reads the input as
    // [N][H][W][G][C/G] and the filter as [G][F/G][KH][KW][C/G] (kiln then gives the filter
    // the layout its codegen tiles: kiln-generalize-grouped-convolutions). One convolution
    // per group instead made G dispatches and a concat: 22 GFLOP/s at 1x28x28x256 -> 256 in
    // 32 groups, against 84 now.
    const int64_t cg = c / group;
    const int64_t og = o / group;
    mlir::Value padded =
        g.Pad(in, {0, 0, wy.pad_begin, wy.pad_end, wx.pad_begin, wx.pad_end, 0, 0}, 0.0);
    auto padded_shape = llvm::cast<mlir::RankedTensorType>(padded.getType()).getShape();
    mlir::Value grouped_in =
        g.Reshape(padded, {padded_shape[0], padded_shape[1], padded_shape[2], group, cg});
    HostTensor wg = w;
    wg.shape = {group, og, cg, kh, kw};
    mlir::Value filter = g.Const(Transpose(wg, {0, 1, 3, 4, 2}));  // [G][F/G][KH][KW][C/G]
    auto out_type = g.TensorType({n, wy.out, wx.out, group, og}, TP::FLOAT);
    mlir::Value empty = mlir::tensor::EmptyOp::create(g.b(), g.loc(), out_type.getShape(), f32);
    mlir::Value zero = mlir::arith::ConstantOp::create(g.b(), g.loc(), g.b().getF32FloatAttr(0));
    mlir::Value init = mlir::linalg::FillOp::create(g.b(), g.loc(), zero, empty).getResult(0);
    mlir::Value conv = mlir::linalg::Conv2DNhwgcGfhwcOp::create(
                           g.b(), g.loc(), mlir::TypeRange{out_type},
                           mlir::ValueRange{grouped_in, filter}, mlir::ValueRange{init},
                           g.b().getI64TensorAttr(stride), g.b().getI64TensorAttr(dilation))
                           .getResult(0);
    result = g.Reshape(conv, {n, wy.out, wx.out, o});
    if (node.Has(2)) result = g.Add(result, g.Const(bias, {1, 1, 1, o}));
  }
  return SetImage(node, result, TP::FLOAT, one_d);
}

absl::Status HandleConvTranspose(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x0, node.In(0));
  Val storage;
  KILN_ASSIGN_OR_RETURN(Val * x, AsImage(node, x0, storage));
  const bool one_d = x0->rank() == 3;
  if (x->dtype != TP::FLOAT) return node.Error("only FLOAT convolutions are supported");
  KILN_ASSIGN_OR_RETURN(HostTensor w, Weights4(node, 1));
  const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
  const int64_t group = node.Int("group", 1);
  const int64_t mg = w.shape[1], kh = w.shape[2], kw = w.shape[3];
  if (group < 1 || c % group != 0 || w.shape[0] != c)
    return node.Error(absl::StrCat("input channels ", c, ", weights ", ShapeString(w.shape),
                                   " and group ", group, " do not match"));
  const int64_t o = mg * group;
  KILN_ASSIGN_OR_RETURN(HostTensor bias, Bias(node, 2, o));
  const int64_t dims = one_d ? 1 : 2;
  std::vector<int64_t> kernel = one_d ? std::vector<int64_t>{kw} : std::vector<int64_t>{kh, kw};
  KILN_ASSIGN_OR_RETURN(Spatial sp, ReadSpatial(node, dims, kernel));
  std::vector<int64_t> out_pad = node.Ints("output_padding", std::vector<int64_t>(dims, 0));
  std::vector<int64_t> out_shape = node.Ints("output_shape");
  if (static_cast<int64_t>(out_pad.size()) != dims)
    return node.Error("attribute 'output_padding' must describe every spatial dim");
  if (one_d) {
    sp.strides.insert(sp.strides.begin(), 1);
    sp.dilations.insert(sp.dilations.begin(), 1);
    sp.pads = {0, sp.pads[0], 0, sp.pads[1]};
    out_pad.insert(out_pad.begin(), 0);
    if (!out_shape.empty()) out_shape.insert(out_shape.begin(), 1);
  }
  const std::string auto_pad = node.Str("auto_pad", "NOTSET");
  const int64_t in_size[2] = {h, wd};
  const int64_t ks[2] = {kh, kw};
  if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    if (out_shape.empty()) out_shape = {h * sp.strides[0], wd * sp.strides[1]};
    if (out_shape.size() != 2) return node.Error("attribute 'output_shape' has the wrong length");
    for (int d = 0; d < 2; ++d) {
      const int64_t total = sp.strides[d] * (in_size[d] - 1) + out_pad[d] +
                            (ks[d] - 1) * sp.dilations[d] + 1 - out_shape[d];
      const int64_t half = total / 2;
      sp.pads[d] = auto_pad == "SAME_UPPER" ? half : total - half;
      sp.pads[d + 2] = total - sp.pads[d];
    }
  } else if (auto_pad == "VALID") {
    sp.pads = {0, 0, 0, 0};
  } else if (auto_pad != "NOTSET") {
    return node.Error(absl::StrCat("attribute 'auto_pad': '", auto_pad, "' is not supported"));
  }
  for (int d = 0; d < 2; ++d)
    if (out_pad[d] < 0 || out_pad[d] >= std::max(sp.strides[d], sp.dilations[d]))
      return node.Error("attribute 'output_padding' must be below the stride or dilation");
  GraphImporter& g = node.g();
  // 1. Zero insertion: [N,H,W,C] → [N,(H-1)s+1,(W-1)s+1,C].
  mlir::Value in = g.Nhwc(*x);
  const int64_t sy = sp.strides[0], sx = sp.strides[1];
  if (sy > 1 || sx > 1) {
    in = g.Reshape(in, {n, h, 1, wd, 1, c});
    in = g.Pad(in, {0, 0, 0, 0, 0, sy - 1, 0, 0, 0, sx - 1, 0, 0}, 0.0);
    in = g.Reshape(in, {n, h * sy, wd * sx, c});
    in = g.Slice(in, {0, 0, 0, 0}, {n, (h - 1) * sy + 1, (wd - 1) * sx + 1, c});
  }
  // 2. A stride-1 convolution with the flipped kernel and pads K'-1-pad (negative: crop).
  const int64_t zh = (h - 1) * sy + 1, zw = (wd - 1) * sx + 1;
  int64_t before[2], after[2], crop_b[2], crop_e[2];
  for (int d = 0; d < 2; ++d) {
    const int64_t eff = (ks[d] - 1) * sp.dilations[d] + 1;
    before[d] = eff - 1 - sp.pads[d];
    after[d] = eff - 1 - sp.pads[d + 2] + out_pad[d];
    crop_b[d] = std::max<int64_t>(-before[d], 0);
    crop_e[d] = std::max<int64_t>(-after[d], 0);
    before[d] = std::max<int64_t>(before[d], 0);
    after[d] = std::max<int64_t>(after[d], 0);
  }
  const int64_t ch = zh - crop_b[0] - crop_e[0], cw = zw - crop_b[1] - crop_e[1];
  if (ch <= 0 || cw <= 0) return node.Error("pads remove the whole output");
  in = g.Slice(in, {0, crop_b[0], crop_b[1], 0}, {n, ch, cw, c});
  const int64_t oh = ch + before[0] + after[0] - ((kh - 1) * sp.dilations[0] + 1) + 1;
  const int64_t ow = cw + before[1] + after[1] - ((kw - 1) * sp.dilations[1] + 1) + 1;
  if (oh <= 0 || ow <= 0) return node.Error("the output would be empty");
  const int64_t cg = c / group;
  std::vector<mlir::Value> parts;
  for (int64_t gi = 0; gi < group; ++gi) {
    // W [C, M/G, kh, kw] → W'[m, ky, kx, c] = W[c, m, kh-1-ky, kw-1-kx] (OHWI).
    HostTensor wf = HostTensor::Zeros(TP::FLOAT, {mg, kh, kw, cg});
    for (int64_t m = 0; m < mg; ++m)
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int64_t kx = 0; kx < kw; ++kx)
          for (int64_t ci = 0; ci < cg; ++ci)
            wf.f[((m * kh + ky) * kw + kx) * cg + ci] =
                w.f[(((gi * cg + ci) * mg + m) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)];
    HostTensor bg = SliceTensor(bias, {gi * mg}, {mg}, {1});
    mlir::Value part = group == 1 ? in : g.Slice(in, {0, 0, 0, gi * cg}, {n, ch, cw, cg});
    auto type = g.TensorType({n, oh, ow, mg}, TP::FLOAT);
    parts.push_back(tosa::Conv2DOp::create(
        g.b(), g.loc(), type, part, g.Const(wf), g.Const(bg),
        g.b().getDenseI64ArrayAttr({before[0], after[0], before[1], after[1]}),
        g.b().getDenseI64ArrayAttr({1, 1}),
        g.b().getDenseI64ArrayAttr({sp.dilations[0], sp.dilations[1]}),
        mlir::TypeAttr::get(g.b().getF32Type())));
  }
  return SetImage(node, g.Concat(parts, 3), TP::FLOAT, one_d);
}

absl::Status HandlePool(Node& node, bool is_max) {
  KILN_ASSIGN_OR_RETURN(Val * x0, node.In(0));
  Val storage;
  KILN_ASSIGN_OR_RETURN(Val * x, AsImage(node, x0, storage));
  const bool one_d = x0->rank() == 3;
  if (!IsFloatType(x->dtype) || x->dtype != TP::FLOAT)
    return node.Error("only FLOAT pooling is supported");
  if (node.OutputUsed(1)) return node.Error("output 'Indices' is not supported");
  if (node.Int("storage_order", 0) != 0)
    return node.Error("attribute 'storage_order': only 0 (row major) is supported");
  const int64_t dims = one_d ? 1 : 2;
  if (!node.HasAttr("kernel_shape")) return node.Error("attribute 'kernel_shape' is required");
  KILN_ASSIGN_OR_RETURN(Spatial sp, ReadSpatial(node, dims, {}));
  for (int64_t d : sp.dilations)
    if (d != 1) return node.Error("attribute 'dilations': only 1 is supported");
  if (one_d) {
    sp.kernel.insert(sp.kernel.begin(), 1);
    sp.strides.insert(sp.strides.begin(), 1);
    sp.pads = {0, sp.pads[0], 0, sp.pads[1]};
  }
  const bool ceil_mode = node.Int("ceil_mode", 0) != 0;
  const bool include_pad = node.Int("count_include_pad", 0) != 0;
  const std::string auto_pad = node.Str("auto_pad", "NOTSET");
  const int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
  KILN_ASSIGN_OR_RETURN(Window wy, PlanWindow(node, h, sp.kernel[0], sp.strides[0], sp.pads[0],
                                              sp.pads[2], auto_pad, ceil_mode));
  KILN_ASSIGN_OR_RETURN(Window wx, PlanWindow(node, wd, sp.kernel[1], sp.strides[1], sp.pads[1],
                                              sp.pads[3], auto_pad, ceil_mode));
  GraphImporter& g = node.g();
  mlir::Value in = g.Nhwc(*x);
  in = g.Slice(in, {0, 0, 0, 0}, {n, h - wy.crop_end, wd - wx.crop_end, c});
  std::vector<int64_t> pad = {wy.pad_begin, wy.pad_end, wx.pad_begin, wx.pad_end};
  if (!is_max && include_pad) {
    // Padding counts in the divisor: pad with zeros explicitly; only the ceil-mode overhang
    // (outside ONNX's pads) stays with TOSA, which leaves it out of the divisor as PyTorch does.
    const int64_t onnx_end[2] = {
        std::min(wy.pad_end, auto_pad == "NOTSET" ? sp.pads[2] : wy.pad_end),
        std::min(wx.pad_end, auto_pad == "NOTSET" ? sp.pads[3] : wx.pad_end)};
    in = g.Pad(in, {0, 0, pad[0], onnx_end[0], pad[2], onnx_end[1], 0, 0}, 0.0);
    pad = {0, wy.pad_end - onnx_end[0], 0, wx.pad_end - onnx_end[1]};
  }
  // TOSA wants pads smaller than the kernel; larger ones are explicit (never read by max,
  // which pads with the lowest value).
  if (pad[0] >= sp.kernel[0] || pad[1] >= sp.kernel[0] || pad[2] >= sp.kernel[1] ||
      pad[3] >= sp.kernel[1]) {
    if (!is_max) return node.Error("pads as large as the kernel are not supported for AveragePool");
    in = g.Pad(in, {0, 0, pad[0], pad[1], pad[2], pad[3], 0, 0},
               -std::numeric_limits<double>::infinity());
    pad = {0, 0, 0, 0};
  }
  auto type = g.TensorType({n, wy.out, wx.out, c}, TP::FLOAT);
  mlir::Value r;
  if (is_max)
    r = tosa::MaxPool2dOp::create(g.b(), g.loc(), type, in, sp.kernel, sp.strides, pad);
  else
    r = tosa::AvgPool2dOp::create(g.b(), g.loc(), type, in, g.b().getDenseI64ArrayAttr(sp.kernel),
                                  g.b().getDenseI64ArrayAttr(sp.strides),
                                  g.b().getDenseI64ArrayAttr(pad),
                                  mlir::TypeAttr::get(g.b().getF32Type()));
  return SetImage(node, r, TP::FLOAT, one_d);
}

absl::Status HandleGlobalPool(Node& node, bool is_max) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  if (!IsFloatType(x->dtype)) return node.Error("input must be floating-point");
  if (x->rank() < 3) return node.Error("input must have spatial dims (rank 3 or more)");
  GraphImporter& g = node.g();
  std::vector<int64_t> shape = x->shape;
  int64_t count = 1;
  for (int64_t d = 2; d < x->rank(); ++d) {
    count *= shape[d];
    shape[d] = 1;
  }
  const bool nhwc = x->rank() == 4;
  mlir::Value v = nhwc ? g.Nhwc(*x) : g.Logical(*x);
  std::vector<int64_t> axes;
  if (nhwc)
    axes = {1, 2};
  else
    for (int64_t d = 2; d < x->rank(); ++d) axes.push_back(d);
  for (int64_t a : axes) v = is_max ? g.ReduceMax(v, a) : g.ReduceSum(v, a);
  if (!is_max) v = g.Mul(v, g.Scalar(1.0 / static_cast<double>(count), x->dtype, x->rank()));
  return node.SetValue(0, v, x->dtype, shape, nhwc ? Layout::kNhwc : Layout::kLogical);
}

absl::Status HandleBatchNorm(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  if (node.Int("training_mode", 0) != 0)
    return node.Error("attribute 'training_mode': kiln runs inference (0 only)");
  for (int i = 1; i < 5; ++i)
    if (node.OutputUsed(i)) return node.Error("the running-statistics outputs are not supported");
  if (x->rank() < 2) return node.Error("input must have a channel dim");
  const int64_t c = x->shape[1];
  const HostTensor* p[4];
  const char* names[4] = {"scale", "B", "input_mean", "input_var"};
  for (int i = 0; i < 4; ++i) {
    KILN_ASSIGN_OR_RETURN(p[i], node.ConstIn(i + 1, names[i]));
    if (p[i]->shape != std::vector<int64_t>{c})
      return node.Error(absl::StrCat("'", names[i], "' must be [", c, "]"));
  }
  const double eps = node.Float("epsilon", 1e-5F);
  // y = x*a + b with a = scale/sqrt(var+eps), b = B - mean*a, folded here.
  std::vector<int64_t> shape(x->rank() - 1, 1);
  shape[0] = c;
  HostTensor a = HostTensor::OfFloats(x->dtype, shape, std::vector<double>(c));
  HostTensor b = a;
  for (int64_t k = 0; k < c; ++k) {
    a.f[k] = p[0]->AsDouble(k) / std::sqrt(p[3]->AsDouble(k) + eps);
    b.f[k] = p[1]->AsDouble(k) - p[2]->AsDouble(k) * a.f[k];
  }
  Val av, bv;
  av.dtype = bv.dtype = x->dtype;
  av.shape = bv.shape = shape;
  av.host = std::make_shared<const HostTensor>(CastTo(a, x->dtype));
  bv.host = std::make_shared<const HostTensor>(CastTo(b, x->dtype));
  GraphImporter& g = node.g();
  std::vector<Val*> ins = {x, &av, &bv};
  return g.Elementwise(node, ins, x->dtype,
                       [&](mlir::RankedTensorType, llvm::ArrayRef<mlir::Value> v) {
                         return g.Add(g.Mul(v[0], v[1]), v[2]);
                       });
}

int64_t Gcd(int64_t a, int64_t b) { return std::gcd(a, b); }

absl::Status HandleResize(Node& node) {
  KILN_ASSIGN_OR_RETURN(Val * x, node.In(0));
  if (x->rank() != 4) return node.Error("only rank-4 (NCHW) inputs are supported");
  if (x->dtype != TP::FLOAT) return node.Error("only FLOAT inputs are supported");
  const std::string mode = node.Str("mode", "nearest");
  if (mode != "nearest" && mode != "linear")
    return node.Error(
        absl::StrCat("attribute 'mode': '", mode, "' is not supported (nearest and linear are)"));
  const std::string coord = node.Str("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = node.Str("nearest_mode", "round_prefer_floor");
  if (node.Int("exclude_outside", 0) != 0)
    return node.Error("attribute 'exclude_outside': only 0 is supported");
  std::vector<int64_t> out = x->shape;
  const int sizes_input = node.g().opset() >= 11 ? 3 : -1;
  const int scales_input = node.g().opset() >= 11 ? 2 : 1;
  if (sizes_input > 0 && node.Has(sizes_input)) {
    KILN_ASSIGN_OR_RETURN(const HostTensor* s, node.ConstIn(sizes_input, "sizes"));
    if (s->size() != 4) return node.Error("'sizes' must have 4 entries");
    out = s->Ints();
  } else if (node.Has(scales_input)) {
    KILN_ASSIGN_OR_RETURN(const HostTensor* s, node.ConstIn(scales_input, "scales"));
    if (s->size() != 4) return node.Error("'scales' must have 4 entries");
    for (int d = 0; d < 4; ++d) {
      if (s->AsDouble(d) <= 0) return node.Error("'scales' must be positive");
      out[d] = static_cast<int64_t>(std::floor(static_cast<double>(x->shape[d]) * s->AsDouble(d)));
    }
  } else {
    return node.Error("needs 'scales' or 'sizes'");
  }
  if (out[0] != x->shape[0] || out[1] != x->shape[1])
    return node.Error("only the spatial dims (H, W) can be resized");
  if (out[2] < 1 || out[3] < 1) return node.Error("the output would be empty");
  // TOSA: in = (o*d + offset)/n. Computed with n, d doubled so every rounding rule is exact.
  std::vector<int64_t> scale(4), offset(2), border(2);
  for (size_t k = 0; k < 2; ++k) {
    const int64_t i = x->shape[2 + k];
    const int64_t o = out[2 + k];
    int64_t num = 0, den = 0, off = 0;  // in = (o*den + off)/num
    if (coord == "align_corners") {
      num = o > 1 ? o - 1 : 1;
      den = o > 1 ? i - 1 : 0;
      off = 0;
    } else if (coord == "asymmetric") {
      num = o;
      den = i;
      off = 0;
    } else if (coord == "half_pixel" || (coord == "pytorch_half_pixel" && o > 1)) {
      num = 2 * o;
      den = 2 * i;
      off = i - o;
    } else if (coord == "pytorch_half_pixel") {
      num = 1;
      den = 0;
      off = 0;
    } else {
      return node.Error(absl::StrCat("attribute 'coordinate_transformation_mode': '", coord,
                                     "' is not supported"));
    }
    num *= 2;
    den *= 2;
    off *= 2;
    if (mode == "nearest") {
      // TOSA rounds halves up (round_prefer_ceil); shift the grid for the other rules.
      if (nearest == "round_prefer_floor")
        off -= 1;
      else if (nearest == "floor")
        off -= num / 2;
      else if (nearest == "ceil")
        off += num / 2 - 1;
      else if (nearest != "round_prefer_ceil")
        return node.Error(
            absl::StrCat("attribute 'nearest_mode': '", nearest, "' is not supported"));
    }
    if (den == 0) den = 1;  // a single output at position 0 (align_corners with o = 1)
    const int64_t common = Gcd(Gcd(num, den), std::abs(off) == 0 ? num : std::abs(off));
    num /= common;
    den /= common;
    off /= common;
    scale[2 * k] = num;
    scale[2 * k + 1] = den;
    offset[k] = off;
    border[k] = (o - 1) * den - (i - 1) * num + off;
  }
  GraphImporter& g = node.g();
  auto type = g.TensorType({out[0], out[2], out[3], out[1]}, TP::FLOAT);
  mlir::Value r = tosa::ResizeOp::create(
      g.b(), g.loc(), type, g.Nhwc(*x), g.ConstShape(scale), g.ConstShape(offset),
      g.ConstShape(border),
      mode == "nearest" ? tosa::ResizeMode::NEAREST_NEIGHBOR : tosa::ResizeMode::BILINEAR);
  return node.SetValue(0, r, TP::FLOAT, out, Layout::kNhwc);
}

}  // namespace

void AddNnOps(OpTable& t) {
  const std::vector<AttrSpec> conv = {{"auto_pad", AT::STRING}, {"dilations", AT::INTS},
                                      {"group", AT::INT},       {"kernel_shape", AT::INTS},
                                      {"pads", AT::INTS},       {"strides", AT::INTS}};
  t["Conv"] = {HandleConv, conv};
  std::vector<AttrSpec> convt = conv;
  convt.push_back({"output_padding", AT::INTS});
  convt.push_back({"output_shape", AT::INTS});
  t["ConvTranspose"] = {HandleConvTranspose, convt};
  t["MaxPool"] = {[](Node& n) { return HandlePool(n, true); },
                  {{"auto_pad", AT::STRING},
                   {"ceil_mode", AT::INT},
                   {"dilations", AT::INTS},
                   {"kernel_shape", AT::INTS},
                   {"pads", AT::INTS},
                   {"storage_order", AT::INT},
                   {"strides", AT::INTS}}};
  t["AveragePool"] = {[](Node& n) { return HandlePool(n, false); },
                      {{"auto_pad", AT::STRING},
                       {"ceil_mode", AT::INT},
                       {"count_include_pad", AT::INT},
                       {"kernel_shape", AT::INTS},
                       {"pads", AT::INTS},
                       {"strides", AT::INTS}}};
  t["GlobalAveragePool"] = {[](Node& n) { return HandleGlobalPool(n, false); }, {}};
  t["GlobalMaxPool"] = {[](Node& n) { return HandleGlobalPool(n, true); }, {}};
  t["BatchNormalization"] = {HandleBatchNorm,
                             {{"epsilon", AT::FLOAT},
                              {"momentum", AT::FLOAT},
                              {"training_mode", AT::INT},
                              {"spatial", AT::INT}}};
  t["Resize"] = {HandleResize,
                 {{"mode", AT::STRING},
                  {"coordinate_transformation_mode", AT::STRING},
                  {"nearest_mode", AT::STRING},
                  {"cubic_coeff_a", AT::FLOAT},
                  {"exclude_outside", AT::INT},
                  {"extrapolation_value", AT::FLOAT}}};
}

}  // namespace kiln::compiler::onnx_import
