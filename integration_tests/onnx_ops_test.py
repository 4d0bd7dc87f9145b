#!/usr/bin/python3
"""End-to-end, op by op: the ONNX importer (issue 14) through a real kilnd.

For every ONNX op and attribute variant kiln supports, a small graph is built with onnx.helper
(opset 13 unless the op needs a later one), compiled through the Compile RPC with
SOURCE_FORMAT_ONNX, loaded, invoked with random inputs (the seed derives from the case's
name) and compared with a numpy reference written here, independently of the importer (float64,
from the ONNX operator definitions; where ONNX leaves a choice, PyTorch's, since the models kiln
serves come from torch.onnx). `ReferenceSelfCheck` checks those references against
torch.nn.functional first, so a failure in `OnnxOps` is kiln's, not the reference's.

Executable formats (embedded ELF, system library) x execution models (async, inline-dynamic):
the cases marked `matrix` (conv, gemm, softmax, gather, resize) run in all four; every other
case runs in one of the four, taken in turn, so each combination sees a quarter of the ops.

Tolerances: data movement, selection, max/min and integer results are exact; elementwise
arithmetic is within a few float32 ulps (kiln's exp/tanh/erf/log are polynomials within 8 ulp,
see e2e_ops_test's ApproxCases: 1e-5 relative + 1e-5 absolute covers them and their
compositions); accumulations (conv, matmul, pooling, normalisation, reductions) are within
1e-4 of the output's scale (its largest magnitude).

Bad input (truncated and non-ONNX bytes, an unsupported op, an unknown opset, an unsupported
attribute value, a dynamic dim without a shape, ...) is INVALID_ARGUMENT naming the op type, the
node and the attribute or input, and kilnd keeps serving.
"""
import concurrent.futures
import math
import os
import sys
import unittest
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, RpcAssertions, suite_args  # noqa: E402

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ARGS = None
grpc = None
KilnClient = None
compiler_pb2 = None
module_pb2 = None

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

# ---------------------------------------------------------------------------------------------
# Tolerances: |got - want| <= atol + rtol * |want| + stol * max|want|, elementwise.
EXACT = dict(rtol=0.0, atol=0.0, stol=0.0)
ARITH = dict(rtol=2e-6, atol=1e-6, stol=0.0)      # a few float32 roundings (of O(1) terms)
MATH = dict(rtol=1e-5, atol=1e-5, stol=0.0)       # polynomial exp/log/tanh/erf and compositions
ACC = dict(rtol=0.0, atol=1e-6, stol=1e-4)        # sums of products: 1e-4 of the output's scale
SOFTMAX = dict(rtol=1e-4, atol=1e-7, stol=0.0)    # probabilities, small ones relative too


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def f32(a):
    return np.asarray(a, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# numpy references (float64). Layouts as ONNX: NCHW activations, OIHW conv weights.

def same_pads(in_hw, kernel, strides, dilations, upper=True):
    """ONNX auto_pad SAME_UPPER/SAME_LOWER: output ceil(in/stride); the odd pad goes to the end
    (UPPER) or the beginning (LOWER). Returns ONNX order [h_begin, w_begin, h_end, w_end]."""
    begin, end = [], []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begin.append(small if upper else total - small)
        end.append(total - small if upper else small)
    return begin + end


def conv_ref(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1):
    """ONNX Conv (2-D): x [N,C,H,W], w [M,C/group,kh,kw], pads [hb,wb,he,we]; floors."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c, _, _ = x.shape
    m, cg, kh, kw = w.shape
    assert cg * group == c and m % group == 0
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    (sh, sw), (dh, dw) = strides, dilations
    oh = (xp.shape[2] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[3] - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * mg:(g + 1) * mg]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                           j * dw:j * dw + (ow - 1) * sw + 1:sw]
                out[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, wg[:, :, i, j])
    if b is not None:
        out += np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return out


def conv_transpose_ref(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                       output_padding=(0, 0), group=1):
    """ONNX ConvTranspose (2-D), by its definition: every input pixel scatters its kernel
    (w [C, M/group, kh, kw]) at stride `strides`; then `pads` are cropped and `output_padding`
    extends the end. Output (H-1)*s + (k-1)*d + 1 + op - pb - pe."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    n, c, h, wd = x.shape
    _, mg, kh, kw = w.shape
    cg = c // group
    (sh, sw), (dh, dw) = strides, dilations
    full_h = (h - 1) * sh + (kh - 1) * dh + 1 + output_padding[0]
    full_w = (wd - 1) * sw + (kw - 1) * dw + 1 + output_padding[1]
    out = np.zeros((n, mg * group, full_h, full_w))
    for g in range(group):
        xg = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                out[:, g * mg:(g + 1) * mg, i * dh:i * dh + (h - 1) * sh + 1:sh,
                    j * dw:j * dw + (wd - 1) * sw + 1:sw] += np.einsum(
                        "nchw,cm->nmhw", xg, w[g * cg:(g + 1) * cg, :, i, j])
    out = out[:, :, pads[0]:full_h - pads[2], pads[1]:full_w - pads[3]]
    if b is not None:
        out += np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    return out


def pool_out_size(size, k, s, pb, pe, ceil_mode):
    span = size + pb + pe - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    # PyTorch (and ONNX Runtime): no window may start in the end padding.
    if ceil_mode and (out - 1) * s >= size + pb:
        out -= 1
    return out


def pool_ref(x, kind, kernel, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=False,
             count_include_pad=False):
    """MaxPool / AveragePool (2-D) with PyTorch's window rules: window [start, start+k) clipped
    to the padded extent for count_include_pad's divisor, to the input for the elements (and
    for the divisor without count_include_pad)."""
    x = np.asarray(x, np.float64)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, strides
    oh = pool_out_size(h, kh, sh, pads[0], pads[2], ceil_mode)
    ow = pool_out_size(w, kw, sw, pads[1], pads[3], ceil_mode)
    out = np.zeros((n, c, oh, ow))
    for oy in range(oh):
        hs = oy * sh - pads[0]
        he = min(hs + kh, h + pads[2])
        for ox in range(ow):
            ws = ox * sw - pads[1]
            we = min(ws + kw, w + pads[3])
            window = x[:, :, max(hs, 0):min(he, h), max(ws, 0):min(we, w)]
            if kind == "max":
                out[:, :, oy, ox] = window.max(axis=(2, 3))
            else:
                count = ((he - hs) * (we - ws) if count_include_pad
                         else window.shape[2] * window.shape[3])
                out[:, :, oy, ox] = window.sum(axis=(2, 3)) / count
    return out


def resize_source(out_size, in_size, scale, mode):
    """ONNX Resize coordinate_transformation_mode: the input coordinate of each output index.
    scale None: sizes were given, the scale is out/in (applied as the exact fraction in/out)."""
    o = np.arange(out_size, dtype=np.float64)
    inverse = (lambda v: v * in_size / out_size) if scale is None else (lambda v: v / scale)
    if mode == "half_pixel":
        return inverse(o + 0.5) - 0.5
    if mode == "asymmetric":
        return inverse(o)
    if mode == "align_corners":
        return o * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros(out_size)
    raise ValueError(mode)


def resize_axis(x, axis, out_size, scale, mode, ctm, nearest_mode="floor"):
    in_size = x.shape[axis]
    src = resize_source(out_size, in_size, scale, ctm)
    if mode == "nearest":
        if nearest_mode == "floor":
            idx = np.floor(src)
        elif nearest_mode == "round_prefer_floor":
            idx = np.ceil(src - 0.5)
        else:
            raise ValueError(nearest_mode)
        return np.take(x, np.clip(idx, 0, in_size - 1).astype(np.int64), axis=axis)
    # linear: outside the input, the edge value (ONNX's reference pads with the edge).
    src = np.clip(src, 0, in_size - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, in_size - 1)
    t = src - i0
    shape = [1] * x.ndim
    shape[axis] = out_size
    t = t.reshape(shape)
    return np.take(x, i0, axis=axis) * (1 - t) + np.take(x, i1, axis=axis) * t


def resize_ref(x, out_hw, mode, ctm, scales=None, nearest_mode="floor"):
    """ONNX Resize of an NCHW tensor on H and W. scales: the given [sh, sw] (else out/in)."""
    y = np.asarray(x, np.float64)
    for axis, size in zip((2, 3), out_hw):
        scale = scales[axis - 2] if scales is not None else None
        y = resize_axis(y, axis, size, scale, mode, ctm, nearest_mode)
    return y


def batchnorm_ref(x, scale, bias, mean, var, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    x = np.asarray(x, np.float64)
    r = lambda a: np.asarray(a, np.float64).reshape(shape)  # noqa: E731
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(scale) + r(bias)


def layernorm_ref(x, scale, bias=None, axis=-1, eps=1e-5):
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    axes = tuple(range(axis, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps) * np.asarray(scale, np.float64)
    return y + np.asarray(bias, np.float64) if bias is not None else y


def softmax_ref(x, axis):
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_ref(x, axis):
    x = np.asarray(x, np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def gemm_ref(a, b, c=None, alpha=1.0, beta=1.0, trans_a=0, trans_b=0):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    y = alpha * ((a.T if trans_a else a) @ (b.T if trans_b else b))
    return y + beta * np.asarray(c, np.float64) if c is not None else y


def argmax_ref(x, axis, keepdims=1, select_last_index=0):
    x = np.asarray(x)
    if select_last_index:
        flipped = np.flip(x, axis=axis)
        idx = x.shape[axis] - 1 - np.argmax(flipped, axis=axis)
    else:
        idx = np.argmax(x, axis=axis)
    return np.expand_dims(idx, axis).astype(np.int64) if keepdims else idx.astype(np.int64)


def slice_ref(x, starts, ends, axes=None, steps=None):
    """ONNX Slice: per axis, starts/ends clamped (negative + dim), steps of either sign."""
    axes = list(range(len(starts))) if axes is None else [a % x.ndim for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        dim = x.shape[a]
        s = s + dim if s < 0 else s
        e = e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            index[a] = slice(s, e, st)
        else:
            s, e = min(max(s, -1), dim - 1), min(max(e, -1), dim - 1)
            index[a] = slice(s, e if e >= 0 else None, st)
    return x[tuple(index)]


def erf(x):
    return np.vectorize(math.erf)(np.asarray(x, np.float64))


SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


# ---------------------------------------------------------------------------------------------
# Cases

_ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.FLOAT,
               np.dtype(np.int64): TensorProto.INT64, np.dtype(np.int32): TensorProto.INT32,
               np.dtype(np.bool_): TensorProto.BOOL}
_OUT_NUMPY = {TensorProto.FLOAT: np.float32, TensorProto.INT64: np.int64,
              TensorProto.INT32: np.int32, TensorProto.BOOL: np.bool_}

FORMATS = ("EXECUTABLE_FORMAT_EMBEDDED_ELF", "EXECUTABLE_FORMAT_SYSTEM_LIBRARY")
MODELS = ("EXECUTION_MODEL_ASYNC", "EXECUTION_MODEL_INLINE_DYNAMIC")
COMBOS = [(f, m) for f in FORMATS for m in MODELS]


def node(op, inputs, outputs, name="", **attrs):
    return helper.make_node(op, inputs, outputs, name=name, **attrs)


def const_node(name, value):
    """A Constant node producing `name` (value: numpy array)."""
    return helper.make_node("Constant", [], [name], name=f"const_{name}",
                            value=numpy_helper.from_array(np.asarray(value), name))


class Case:
    """One ONNX graph, its inputs and the expected outputs.

    inputs: {graph input name: array} (in order); expected: {graph output name: array}, float
    references in float64 (declared FLOAT), integers and bools with their own dtype; inits:
    {initializer name: array}; input_dims / output_dims: declared dims (a str is a dim_param)
    where they differ from the arrays'; input_shapes: CompileOptions.input_shapes."""

    def __init__(self, name, nodes, inputs, expected, inits=None, opset=13, tol=ACC,
                 matrix=False, input_dims=None, output_dims=None, input_shapes=None):
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.expected = expected
        self.inits = inits or {}
        self.opset = opset
        self.tol = tol
        self.matrix = matrix
        self.input_dims = input_dims or {}
        self.output_dims = output_dims or {}
        self.input_shapes = input_shapes

    def model_bytes(self):
        for i, n in enumerate(self.nodes):
            if not n.name:
                n.name = f"{self.name}/{n.op_type}_{i}"
        graph_inputs = [helper.make_tensor_value_info(
            name, _ONNX_TYPES[np.asarray(a).dtype], self.input_dims.get(name, np.shape(a)))
            for name, a in self.inputs.items()]
        graph_outputs = [helper.make_tensor_value_info(
            name, _ONNX_TYPES[np.asarray(a).dtype], self.output_dims.get(name, np.shape(a)))
            for name, a in self.expected.items()]
        inits = [numpy_helper.from_array(np.asarray(a), name) for name, a in self.inits.items()]
        graph = helper.make_graph(self.nodes, self.name.replace("/", "_"), graph_inputs,
                                  graph_outputs, initializer=inits)
        model = helper.make_model(graph, producer_name="kiln-onnx-ops-test",
                                  opset_imports=[helper.make_opsetid("", self.opset)])
        return model.SerializeToString()


def single(name, op, inputs, expected_fn, attrs=None, inits=None, opset=13, tol=ACC,
           matrix=False, extra_inputs=()):
    """A one-node graph: graph inputs `inputs` (dict), initializers `inits`, input list of the
    node = graph inputs then initializers (or `extra_inputs`, names incl. "" for absent ones,
    when given); one output `y` = expected_fn()."""
    node_inputs = list(extra_inputs) if extra_inputs else list(inputs) + list(inits or {})
    n = node(op, node_inputs, ["y"], **(attrs or {}))
    return Case(name, [n], inputs, {"y": expected_fn()}, inits=inits, opset=opset, tol=tol,
                matrix=matrix)


def conv_cases():
    cases = []

    def operands(name, x_shape, w_shape, bias):
        """Random x, and the initializers: w, and b when `bias`."""
        r = rng_for(name)
        x = f32(r.uniform(-1, 1, x_shape))
        inits = {"w": f32(r.uniform(-1, 1, w_shape))}
        if bias:
            inits["b"] = f32(r.uniform(-1, 1, w_shape[0]))
        return x, inits

    def conv(name, x_shape, w_shape, bias=True, matrix=False, auto_pad=None, **attrs):
        x, inits = operands(name, x_shape, w_shape, bias)
        w = inits["w"]
        strides = attrs.get("strides", [1, 1])
        dilations = attrs.get("dilations", [1, 1])
        group = attrs.get("group", 1)
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            pads = same_pads(x_shape[2:], w_shape[2:], strides, dilations,
                             upper=auto_pad == "SAME_UPPER")
            attrs["auto_pad"] = auto_pad
        elif auto_pad == "VALID":
            pads = [0, 0, 0, 0]
            attrs["auto_pad"] = auto_pad
        else:
            pads = attrs.get("pads", [0, 0, 0, 0])
        expected = conv_ref(x, w, inits.get("b"), strides, pads, dilations, group)
        n = node("Conv", ["x", "w"] + (["b"] if bias else []), ["y"],
                 kernel_shape=list(w_shape[2:]), **attrs)
        cases.append(Case(name, [n], {"x": x}, {"y": expected}, inits=inits, matrix=matrix))

    conv("conv/3x3_pad1_bias", (1, 3, 8, 8), (4, 3, 3, 3), pads=[1, 1, 1, 1], matrix=True)
    conv("conv/no_pad_no_bias_batch2", (2, 3, 7, 6), (5, 3, 3, 3), bias=False)
    conv("conv/stride2_pad1_not_divisible", (1, 3, 10, 10), (4, 3, 3, 3), strides=[2, 2],
         pads=[1, 1, 1, 1], matrix=True)
    conv("conv/stride3_pads_not_divisible", (1, 2, 11, 12), (3, 2, 3, 3), strides=[3, 3],
         pads=[1, 0, 0, 1])
    conv("conv/asymmetric_pads", (1, 3, 6, 7), (4, 3, 3, 3), pads=[0, 1, 2, 0])
    conv("conv/dilated2_pad2", (1, 3, 9, 9), (4, 3, 3, 3), dilations=[2, 2], pads=[2, 2, 2, 2])
    conv("conv/dilated_strided", (1, 2, 12, 10), (3, 2, 3, 3), dilations=[2, 1],
         strides=[2, 2], pads=[1, 1, 2, 1])
    conv("conv/grouped2", (1, 4, 6, 6), (6, 2, 3, 3), group=2, pads=[1, 1, 1, 1])
    # Grouped convolutions (ResNeXt, RegNet, ShuffleNet): 32 groups of 4, stride and dilation
    # with uneven pads, 1x1 without a bias, a group's output channels over two vectors and
    # ragged (48, 17).
    conv("conv/grouped32_resnext", (1, 128, 8, 8), (128, 4, 3, 3), group=32, pads=[1, 1, 1, 1],
         matrix=True)
    conv("conv/grouped4_stride2_dilated_batch2", (2, 16, 11, 10), (24, 4, 3, 3), group=4,
         strides=[2, 2], dilations=[1, 2], pads=[1, 2, 0, 1])
    conv("conv/grouped3_1x1_no_bias", (1, 12, 5, 7), (9, 4, 1, 1), group=3, bias=False)
    conv("conv/grouped2_48_channels", (1, 80, 6, 6), (96, 40, 3, 3), group=2, pads=[1, 1, 1, 1],
         matrix=True)
    conv("conv/grouped2_17_channels", (1, 34, 5, 5), (34, 17, 3, 3), group=2)
    conv("conv/depthwise", (1, 8, 9, 9), (8, 1, 3, 3), group=8, pads=[1, 1, 1, 1], matrix=True)
    conv("conv/depthwise_stride2", (1, 6, 10, 10), (6, 1, 3, 3), group=6, strides=[2, 2],
         pads=[1, 1, 1, 1])
    conv("conv/depthwise_multiplier2", (1, 4, 7, 7), (8, 1, 3, 3), group=4, pads=[1, 1, 1, 1])
    conv("conv/auto_pad_same_upper_stride2", (1, 3, 7, 8), (4, 3, 3, 3), auto_pad="SAME_UPPER",
         strides=[2, 2])
    conv("conv/auto_pad_same_upper_even_kernel", (1, 2, 6, 6), (3, 2, 4, 4),
         auto_pad="SAME_UPPER")
    conv("conv/auto_pad_same_lower_even_kernel", (1, 2, 6, 6), (3, 2, 2, 4),
         auto_pad="SAME_LOWER")
    conv("conv/auto_pad_valid", (1, 2, 6, 7), (3, 2, 3, 2), auto_pad="VALID")
    conv("conv/1x1_stride2_downsample", (2, 8, 8, 8), (16, 8, 1, 1), bias=False,
         strides=[2, 2])
    conv("conv/7x7_stride2_pad3", (1, 3, 32, 32), (8, 3, 7, 7), strides=[2, 2],
         pads=[3, 3, 3, 3])
    conv("conv/rect_kernel_stride21", (2, 3, 9, 10), (4, 3, 3, 5), strides=[2, 1],
         pads=[1, 2, 1, 2])

    # Conv1d (audio, ConvNeXt-1D, wav2vec's grouped positional convolution): the reference is
    # the 2-D one over a height of 1.
    def conv1d(name, x_shape, w_shape, bias=True, strides=(1,), pads=(0, 0), dilations=(1,),
               group=1):
        x, inits = operands(name, x_shape, w_shape, bias)
        w = inits["w"]
        expected = conv_ref(x[:, :, None, :], w[:, :, None, :], inits.get("b"),
                            (1, strides[0]), (0, pads[0], 0, pads[1]), (1, dilations[0]),
                            group)[:, :, 0, :]
        n = node("Conv", ["x", "w"] + (["b"] if bias else []), ["y"], kernel_shape=[w_shape[2]],
                 strides=list(strides), pads=list(pads), dilations=list(dilations), group=group)
        cases.append(Case(name, [n], {"x": x}, {"y": expected}, inits=inits))

    conv1d("conv1d/pad_stride2", (2, 5, 17), (7, 5, 3), strides=(2,), pads=(1, 1))
    conv1d("conv1d/grouped16_dilated", (1, 32, 20), (48, 2, 5), group=16, pads=(4, 4),
           dilations=(2,))
    conv1d("conv1d/depthwise_no_bias", (1, 24, 15), (24, 1, 7), group=24, bias=False,
           pads=(3, 3))
    return cases


def conv_transpose_cases():
    cases = []

    def convt(name, x_shape, w_shape, bias=True, group=1, **attrs):
        r = rng_for(name)
        x = f32(r.uniform(-1, 1, x_shape))
        w = f32(r.uniform(-1, 1, w_shape))
        inits = {"w": w}
        if bias:
            inits["b"] = f32(r.uniform(-1, 1, w_shape[1] * group))
        expected = conv_transpose_ref(
            x, w, inits.get("b"), attrs.get("strides", [1, 1]), attrs.get("pads", [0, 0, 0, 0]),
            attrs.get("dilations", [1, 1]), attrs.get("output_padding", [0, 0]), group)
        if group != 1:
            attrs["group"] = group
        n = node("ConvTranspose", ["x", "w"] + (["b"] if bias else []), ["y"],
                 kernel_shape=list(w_shape[2:]), **attrs)
        cases.append(Case(name, [n], {"x": x}, {"y": expected}, inits=inits))

    convt("conv_transpose/stride1", (1, 3, 5, 5), (3, 4, 3, 3))
    convt("conv_transpose/stride2_k2", (1, 4, 4, 5), (4, 2, 2, 2), strides=[2, 2])
    convt("conv_transpose/stride2_k3_pads1_output_padding1", (1, 3, 5, 4), (3, 4, 3, 3),
          strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])
    convt("conv_transpose/stride2_k4_pads1", (2, 2, 4, 4), (2, 3, 4, 4), strides=[2, 2],
          pads=[1, 1, 1, 1], bias=False)
    convt("conv_transpose/asymmetric_pads_output_padding", (1, 2, 4, 5), (2, 3, 3, 3),
          strides=[2, 3], pads=[0, 1, 1, 0], output_padding=[1, 0])
    convt("conv_transpose/pads_larger_than_kernel_reach", (1, 2, 5, 5), (2, 2, 3, 3),
          strides=[2, 2], pads=[3, 3, 3, 3])
    convt("conv_transpose/dilated", (1, 2, 4, 4), (2, 3, 3, 3), dilations=[2, 2])
    convt("conv_transpose/grouped", (1, 4, 3, 3), (4, 2, 3, 3), group=2, strides=[2, 2])
    return cases


def pool_cases():
    cases = []

    def pool(name, kind, x_shape, kernel, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=0,
             count_include_pad=0):
        r = rng_for(name)
        x = f32(r.uniform(-1, 1, x_shape))
        attrs = dict(kernel_shape=list(kernel), strides=list(strides), pads=list(pads))
        if ceil_mode:
            attrs["ceil_mode"] = 1
        if count_include_pad:
            attrs["count_include_pad"] = 1
        op = "MaxPool" if kind == "max" else "AveragePool"
        expected = pool_ref(x, kind, kernel, strides, pads, bool(ceil_mode),
                            bool(count_include_pad))
        cases.append(Case(name, [node(op, ["x"], ["y"], **attrs)], {"x": x}, {"y": expected},
                          tol=EXACT if kind == "max" else ACC))

    pool("maxpool/k3_s2_p1", "max", (1, 3, 10, 10), (3, 3), (2, 2), (1, 1, 1, 1))
    pool("maxpool/k3_s2_p1_odd_input", "max", (2, 2, 9, 11), (3, 3), (2, 2), (1, 1, 1, 1))
    pool("maxpool/k2_s2", "max", (1, 4, 8, 6), (2, 2), (2, 2))
    pool("maxpool/k3_s2_not_divisible", "max", (1, 2, 8, 8), (3, 3), (2, 2))
    pool("maxpool/ceil_mode", "max", (1, 2, 8, 8), (3, 3), (2, 2), ceil_mode=1)
    pool("maxpool/ceil_mode_pads", "max", (1, 2, 9, 10), (3, 3), (2, 2), (1, 1, 1, 1),
         ceil_mode=1)
    pool("maxpool/asymmetric_pads", "max", (1, 2, 7, 7), (3, 2), (1, 2), (0, 1, 2, 0))
    pool("maxpool/k3_s1_p1", "max", (1, 3, 5, 5), (3, 3), (1, 1), (1, 1, 1, 1))
    pool("avgpool/k2_s2", "avg", (1, 3, 8, 8), (2, 2), (2, 2))
    pool("avgpool/k3_s2_p1_exclude_pad", "avg", (1, 2, 9, 9), (3, 3), (2, 2), (1, 1, 1, 1))
    pool("avgpool/k3_s2_p1_count_include_pad", "avg", (1, 2, 9, 9), (3, 3), (2, 2),
         (1, 1, 1, 1), count_include_pad=1)
    pool("avgpool/k3_s1_p1_count_include_pad", "avg", (2, 3, 6, 5), (3, 3), (1, 1),
         (1, 1, 1, 1), count_include_pad=1)
    pool("avgpool/ceil_mode", "avg", (1, 2, 8, 8), (3, 3), (2, 2), ceil_mode=1)
    pool("avgpool/ceil_mode_pads_exclude_pad", "avg", (1, 2, 10, 9), (3, 3), (2, 2),
         (1, 1, 1, 1), ceil_mode=1)
    pool("avgpool/ceil_mode_pads_count_include_pad", "avg", (1, 2, 10, 9), (3, 3), (2, 2),
         (1, 1, 1, 1), ceil_mode=1, count_include_pad=1)
    pool("avgpool/asymmetric_pads_count_include_pad", "avg", (1, 2, 7, 6), (3, 3), (2, 1),
         (1, 0, 2, 1), count_include_pad=1)
    pool("avgpool/asymmetric_pads_exclude_pad", "avg", (1, 2, 7, 6), (3, 3), (2, 1),
         (1, 0, 2, 1))
    pool("avgpool/not_divisible", "avg", (1, 2, 8, 7), (3, 2), (2, 2))

    for name, op, fn, tol in (("global_avgpool", "GlobalAveragePool", np.mean, ACC),
                              ("global_maxpool", "GlobalMaxPool", np.max, EXACT)):
        r = rng_for(name)
        x = f32(r.uniform(-1, 1, (2, 3, 5, 7)))
        expected = fn(np.asarray(x, np.float64), axis=(2, 3), keepdims=True)
        cases.append(Case(name, [node(op, ["x"], ["y"])], {"x": x}, {"y": expected}, tol=tol))
    return cases


def norm_cases():
    cases = []
    for name, shape, eps in (("batchnorm/rank4", (2, 3, 4, 5), 1e-5),
                             ("batchnorm/rank4_eps1e-3", (1, 6, 3, 3), 1e-3),
                             ("batchnorm/rank2", (4, 5), 1e-5),
                             ("batchnorm/rank3", (2, 4, 6), 1e-5)):
        r = rng_for(name)
        c = shape[1]
        x = f32(r.uniform(-2, 2, shape))
        inits = {"scale": f32(r.uniform(0.5, 1.5, c)), "bias": f32(r.uniform(-1, 1, c)),
                 "mean": f32(r.uniform(-0.5, 0.5, c)), "var": f32(r.uniform(0.5, 2, c))}
        expected = batchnorm_ref(x, *inits.values(), eps=eps)
        cases.append(single(name, "BatchNormalization", {"x": x}, lambda: expected,
                            attrs=dict(epsilon=eps), inits=inits))
    for name, shape, axis, eps, bias in (("layernorm/axis-1", (2, 5, 16), -1, 1e-5, True),
                                         ("layernorm/axis1", (2, 3, 4), 1, 1e-5, True),
                                         ("layernorm/no_bias_eps1e-3", (3, 8), -1, 1e-3, False),
                                         ("layernorm/axis2_rank4", (1, 2, 3, 4), 2, 1e-5, True)):
        r = rng_for(name)
        x = f32(r.uniform(-2, 2, shape) + r.uniform(-1, 1))
        norm_shape = shape[axis % len(shape):]
        inits = {"scale": f32(r.uniform(0.5, 1.5, norm_shape))}
        if bias:
            inits["B"] = f32(r.uniform(-1, 1, norm_shape))
        expected = layernorm_ref(x, inits["scale"], inits.get("B"), axis, eps)
        cases.append(single(name, "LayerNormalization", {"x": x}, lambda: expected,
                            attrs=dict(axis=axis, epsilon=eps), inits=inits, opset=17))
    return cases


def matmul_gemm_cases():
    cases = []

    def matmul(name, a_shape, b_shape, b_const=False):
        r = rng_for(name)
        a = f32(r.uniform(-1, 1, a_shape))
        b = f32(r.uniform(-1, 1, b_shape))
        expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
        inputs, inits = ({"a": a}, {"b": b}) if b_const else ({"a": a, "b": b}, {})
        cases.append(Case(name, [node("MatMul", ["a", "b"], ["y"])], inputs, {"y": expected},
                          inits=inits))

    matmul("matmul/2d", (3, 5), (5, 4))
    matmul("matmul/2d_weights", (7, 33), (33, 17), b_const=True)
    matmul("matmul/batched_3d", (2, 3, 5), (2, 5, 4))
    matmul("matmul/3d_x_2d_weights", (2, 6, 16), (16, 8), b_const=True)
    matmul("matmul/4d_x_2d_broadcast", (2, 3, 4, 5), (5, 6))
    matmul("matmul/4d_x_3d_broadcast", (2, 1, 4, 5), (3, 5, 6))
    matmul("matmul/3d_x_4d_broadcast", (3, 4, 5), (2, 1, 5, 6))
    matmul("matmul/rank1_x_2d", (5,), (5, 4))
    matmul("matmul/2d_x_rank1", (3, 5), (5,))
    matmul("matmul/3d_x_rank1", (2, 3, 5), (5,), b_const=True)

    def gemm(name, a_shape, b_shape, c_shape=None, b_const=True, matrix=False, **attrs):
        r = rng_for(name)
        a = f32(r.uniform(-1, 1, a_shape))
        b = f32(r.uniform(-1, 1, b_shape))
        c = f32(r.uniform(-1, 1, c_shape)) if c_shape is not None else None
        inputs = {"a": a}
        inits = {}
        (inits if b_const else inputs)["b"] = b
        if c is not None:
            inits["c"] = c
        expected = gemm_ref(a, b, c, attrs.get("alpha", 1.0), attrs.get("beta", 1.0),
                            attrs.get("transA", 0), attrs.get("transB", 0))
        n = node("Gemm", ["a", "b"] + (["c"] if c is not None else []), ["y"], **attrs)
        cases.append(Case(name, [n], inputs, {"y": expected}, inits=inits, matrix=matrix))

    gemm("gemm/transB_bias_row", (3, 20), (10, 20), (10,), transB=1, matrix=True)
    gemm("gemm/plain_no_c", (4, 6), (6, 5))
    gemm("gemm/transA", (6, 4), (6, 5), (5,), transA=1)
    gemm("gemm/transA_transB", (6, 4), (5, 6), (4, 5), transA=1, transB=1)
    gemm("gemm/alpha_beta_c_column", (4, 6), (6, 5), (4, 1), alpha=0.5, beta=2.0, matrix=True)
    gemm("gemm/alpha_beta_c_full", (4, 6), (6, 5), (4, 5), alpha=-1.5, beta=0.25)
    gemm("gemm/c_scalar", (2, 3), (3, 4), (), beta=3.0)
    gemm("gemm/c_1x1", (2, 3), (4, 3), (1, 1), transB=1)
    gemm("gemm/b_runtime_transB", (3, 7), (5, 7), (5,), b_const=False, transB=1, matrix=True)
    gemm("gemm/b_runtime_alpha", (3, 7), (7, 5), (3, 5), b_const=False, alpha=2.0)
    return cases


def unary_cases():
    cases = []

    def unary(name, op, x, fn, tol=MATH, opset=13, **attrs):
        x = f32(x)
        cases.append(single(name, op, {"x": x}, lambda: fn(np.asarray(x, np.float64)),
                            attrs=attrs, tol=tol, opset=opset))

    def u(name, lo, hi, shape=(3, 4, 5)):
        return rng_for(name).uniform(lo, hi, shape)

    def signed_away_from_zero(name, lo, hi, shape=(3, 4, 5)):
        r = rng_for(name)
        return r.uniform(lo, hi, shape) * r.choice([-1, 1], shape)

    unary("sqrt", "Sqrt", np.concatenate([[0.0, 1.0, 4.0], u("sqrt", 0, 10, 57)]), np.sqrt,
          tol=ARITH)
    unary("reciprocal", "Reciprocal", signed_away_from_zero("reciprocal", 0.05, 20), np.reciprocal,
          tol=ARITH)
    unary("neg", "Neg", u("neg", -3, 3), np.negative, tol=EXACT)
    unary("abs", "Abs", u("abs", -3, 3), np.abs, tol=EXACT)
    unary("exp", "Exp", u("exp", -10, 10), np.exp)
    unary("log", "Log", u("log", 0.001, 100), np.log)
    unary("erf", "Erf", u("erf", -4, 4), erf)
    unary("tanh", "Tanh", u("tanh", -6, 6), np.tanh)
    unary("sigmoid", "Sigmoid", u("sigmoid", -12, 12), lambda x: 1 / (1 + np.exp(-x)))
    unary("hardsigmoid/default", "HardSigmoid", u("hardsigmoid/default", -6, 6),
          lambda x: np.clip(0.2 * x + 0.5, 0, 1), tol=ARITH)
    unary("hardsigmoid/torch_alpha", "HardSigmoid", u("hardsigmoid/torch_alpha", -5, 5),
          lambda x: np.clip(x / 6 + 0.5, 0, 1), tol=ARITH, alpha=1 / 6, beta=0.5)
    unary("hardswish", "HardSwish", u("hardswish", -5, 5),
          lambda x: x * np.clip(x / 6 + 0.5, 0, 1), tol=ARITH, opset=14)
    unary("relu", "Relu", u("relu", -3, 3), lambda x: np.maximum(x, 0), tol=EXACT)
    unary("leaky_relu/default", "LeakyRelu", u("leaky_relu/default", -3, 3),
          lambda x: np.where(x < 0, 0.01 * x, x), tol=ARITH)
    unary("leaky_relu/alpha0.2", "LeakyRelu", u("leaky_relu/alpha0.2", -3, 3),
          lambda x: np.where(x < 0, 0.2 * x, x), tol=ARITH, alpha=0.2)
    unary("elu/default", "Elu", u("elu/default", -5, 3),
          lambda x: np.where(x < 0, np.expm1(x), x))
    unary("elu/alpha0.5", "Elu", u("elu/alpha0.5", -5, 3),
          lambda x: np.where(x < 0, 0.5 * np.expm1(x), x), alpha=0.5)
    unary("selu", "Selu", u("selu", -5, 3),
          lambda x: SELU_GAMMA * np.where(x <= 0, SELU_ALPHA * np.expm1(x), x))
    softplus_x = np.concatenate([[-100.0, -30.0, 0.0, 19.5, 20.5, 30.0, 80.0, 100.0],
                                 u("softplus", -10, 10, 52)])
    unary("softplus", "Softplus", softplus_x, lambda x: np.logaddexp(0, x))
    # Clip (opset 13): min and max are optional inputs (initializers here; "" = absent).
    for name, lo, hi in (("clip/min_max", -0.5, 0.75), ("clip/relu6", 0.0, 6.0),
                         ("clip/min_only", -0.25, None), ("clip/max_only", None, 0.5),
                         ("clip/none", None, None)):
        x = f32(u(name, -8, 8))
        inits = {}
        if lo is not None:
            inits["lo"] = f32(lo)
        if hi is not None:
            inits["hi"] = f32(hi)
        node_inputs = ["x", "lo" if lo is not None else "", "hi" if hi is not None else ""]
        while node_inputs[-1] == "":
            node_inputs.pop()
        want = np.clip(x.astype(np.float64), -np.inf if lo is None else lo,
                       np.inf if hi is None else hi)
        cases.append(single(name, "Clip", {"x": x}, lambda want=want: want, inits=inits,
                            extra_inputs=node_inputs, tol=EXACT))
    # PRelu: the slope broadcasts one way, per channel ([C,1,1]) or as one value.
    for name, slope_shape in (("prelu/per_channel", (3, 1, 1)), ("prelu/scalar", (1,)),
                              ("prelu/last_axis", (5,))):
        r = rng_for(name)
        x = f32(r.uniform(-3, 3, (2, 3, 4, 5)))
        slope = f32(r.uniform(0, 0.5, slope_shape))
        want = np.where(x < 0, slope.astype(np.float64) * x, x.astype(np.float64))
        cases.append(single(name, "PRelu", {"x": x}, lambda want=want: want,
                            inits={"slope": slope}, tol=ARITH))
    return cases


def binary_cases():
    cases = []

    def binary(name, op, a_shape, b_shape, fn, lo=-3, hi=3, b_lo=None, b_hi=None,
               b_const=False, tol=ARITH, dtype=np.float32, opset=13):
        r = rng_for(name)
        if dtype == np.float32:
            a = f32(r.uniform(lo, hi, a_shape))
            b = f32(r.uniform(lo if b_lo is None else b_lo, hi if b_hi is None else b_hi,
                              b_shape))
            want = fn(a.astype(np.float64), b.astype(np.float64))
        else:
            a = r.integers(lo, hi, a_shape).astype(dtype)
            b = r.integers(lo if b_lo is None else b_lo, hi if b_hi is None else b_hi,
                           b_shape).astype(dtype)
            want = fn(a, b).astype(dtype)
        inputs, inits = ({"a": a}, {"b": b}) if b_const else ({"a": a, "b": b}, {})
        cases.append(Case(name, [node(op, ["a", "b"], ["y"])], inputs, {"y": want},
                          inits=inits, tol=tol, opset=opset))

    binary("add/same_shape", "Add", (3, 4), (3, 4), np.add)
    binary("add/broadcast_channel", "Add", (2, 3, 4, 5), (3, 1, 1), np.add, b_const=True)
    binary("add/broadcast_scalar", "Add", (2, 3), (), np.add)
    binary("add/broadcast_both", "Add", (3, 1), (1, 4), np.add)
    binary("add/int64", "Add", (2, 5), (5,), np.add, lo=-1000, hi=1000, tol=EXACT,
           dtype=np.int64)
    binary("sub/broadcast_last", "Sub", (3, 4), (4,), np.subtract)
    binary("sub/lower_rank_first", "Sub", (4,), (2, 3, 4), np.subtract)
    binary("mul/broadcast_middle", "Mul", (2, 1, 4), (3, 1), np.multiply)
    binary("mul/int32", "Mul", (6,), (6,), np.multiply, lo=-100, hi=100, tol=EXACT,
           dtype=np.int32)
    binary("div/runtime", "Div", (2, 3), (2, 3), np.divide, b_lo=0.5, b_hi=4)
    binary("div/by_constant", "Div", (2, 3, 4), (), np.divide, b_lo=1.41421, b_hi=1.41422,
           b_const=True)
    binary("div/broadcast_negative_divisor", "Div", (3, 4), (3, 1), np.divide, b_lo=-4,
           b_hi=-0.5)
    binary("pow/runtime_exponent", "Pow", (3, 4), (3, 4), np.power, lo=0.1, hi=3, b_lo=-2,
           b_hi=2, tol=MATH)
    binary("pow/broadcast_exponent", "Pow", (2, 3, 4), (4,), np.power, lo=0.1, hi=3, b_lo=-2,
           b_hi=2, tol=MATH)
    for name, e in (("pow/const_2", 2.0), ("pow/const_0.5", 0.5), ("pow/const_3", 3.0),
                    ("pow/const_1", 1.0), ("pow/const_1.7", 1.7)):
        r = rng_for(name)
        lo = 0.0 if e in (0.5, 1.7) else -3.0
        a = f32(r.uniform(lo, 3, (3, 4)))
        want = np.power(a.astype(np.float64), e)
        cases.append(single(name, "Pow", {"a": a}, lambda want=want: want,
                            inits={"e": f32(e)}, tol=MATH))
    return cases


def softmax_cases():
    cases = []
    for name, op, shape, axis, scale, matrix in (
            ("softmax/axis-1", "Softmax", (2, 3, 8), -1, 3, True),
            ("softmax/axis1_rank4", "Softmax", (2, 4, 3, 3), 1, 3, True),
            ("softmax/axis0", "Softmax", (5, 3), 0, 3, False),
            ("softmax/large_logits", "Softmax", (3, 10), -1, 60, True),
            ("log_softmax/axis-1", "LogSoftmax", (2, 3, 8), -1, 3, False),
            ("log_softmax/axis1", "LogSoftmax", (2, 5, 4), 1, 20, False)):
        x = f32(rng_for(name).uniform(-scale, scale, shape))
        fn = softmax_ref if op == "Softmax" else log_softmax_ref
        want = fn(x, axis)
        cases.append(single(name, op, {"x": x}, lambda want=want: want, attrs=dict(axis=axis),
                            tol=SOFTMAX if op == "Softmax" else ACC, matrix=matrix))
    return cases


def reduce_cases():
    cases = []
    fns = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min,
           "ReduceProd": np.prod,
           "ReduceL2": lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis,
                                                                keepdims=keepdims))}
    specs = [("ReduceMean", [1], 1), ("ReduceMean", [-1], 0), ("ReduceMean", [1, 2], 0),
             ("ReduceMean", None, 1), ("ReduceMean", [2, 3], 1),
             ("ReduceSum", [0, 2], 0), ("ReduceSum", [-1], 1), ("ReduceSum", None, 0),
             ("ReduceMax", [1], 0), ("ReduceMax", [0, -1], 1),
             ("ReduceMin", [2], 1), ("ReduceMin", None, 0),
             ("ReduceProd", [1], 1), ("ReduceProd", [2, 3], 0),
             ("ReduceL2", [-1], 0), ("ReduceL2", [1, 2], 1)]
    for op, axes, keepdims in specs:
        name = f"{op.lower()}/axes{'_'.join(map(str, axes)) if axes else '_all'}_keep{keepdims}"
        r = rng_for(name)
        shape = (2, 3, 4, 5)
        x = f32(r.uniform(0.6, 1.4, shape) if op == "ReduceProd" else r.uniform(-2, 2, shape))
        axis = tuple(a % 4 for a in axes) if axes else None
        want = fns[op](x.astype(np.float64), axis=axis, keepdims=bool(keepdims))
        attrs = dict(keepdims=keepdims)
        inits = {}
        node_inputs = ["x"]
        if op == "ReduceSum":  # opset 13: axes is an input
            if axes:
                inits["axes"] = np.array(axes, np.int64)
                node_inputs.append("axes")
        elif axes:
            attrs["axes"] = axes
        tol = EXACT if op in ("ReduceMax", "ReduceMin") else ACC
        cases.append(single(name, op, {"x": x}, lambda want=want: want, attrs=attrs,
                            inits=inits, extra_inputs=node_inputs, tol=tol))
    # ReduceSum with no axes and noop_with_empty_axes=1 is the identity.
    x = f32(rng_for("reducesum/noop").uniform(-2, 2, (3, 4)))
    cases.append(single("reducesum/noop_with_empty_axes", "ReduceSum", {"x": x},
                        lambda: x.astype(np.float64), attrs=dict(noop_with_empty_axes=1),
                        tol=EXACT))
    return cases


def argmax_cases():
    cases = []
    for name, axis, keepdims, last in (("argmax/axis1_keep", 1, 1, 0),
                                       ("argmax/axis-1_drop", -1, 0, 0),
                                       ("argmax/axis0_keep", 0, 1, 0),
                                       ("argmax/ties_first", 2, 1, 0),
                                       ("argmax/ties_select_last_index", 2, 1, 1),
                                       ("argmax/ties_select_last_index_drop", 1, 0, 1)):
        r = rng_for(name)
        # Few distinct values: many ties, so first vs last index matters.
        x = f32(r.integers(0, 3, (2, 5, 6)))
        want = argmax_ref(x, axis, keepdims, last)
        attrs = dict(axis=axis, keepdims=keepdims)
        if last:
            attrs["select_last_index"] = 1
        cases.append(single(name, "ArgMax", {"x": x}, lambda want=want: want, attrs=attrs))
    return cases


def shape_op_cases():
    """Data movement: exact results."""
    cases = []
    r = rng_for("shape_ops")

    def x_of(*shape):
        return f32(r.uniform(-2, 2, shape))

    # Concat
    a, b, c = x_of(2, 3, 4), x_of(2, 1, 4), x_of(2, 2, 4)
    cases.append(Case("concat/axis1_three", [node("Concat", ["a", "b", "c"], ["y"], axis=1)],
                      {"a": a, "b": b}, {"y": np.concatenate([a, b, c], 1).astype(np.float64)},
                      inits={"c": c}, tol=EXACT))
    a, b = x_of(2, 3), x_of(2, 5)
    cases.append(Case("concat/axis-1", [node("Concat", ["a", "b"], ["y"], axis=-1)],
                      {"a": a, "b": b}, {"y": np.concatenate([a, b], -1).astype(np.float64)},
                      tol=EXACT))
    # Split (13: split sizes are an input)
    x = x_of(2, 6, 3)
    cases.append(Case("split/sizes_input_axis1",
                      [node("Split", ["x", "split"], ["y0", "y1"], axis=1)], {"x": x},
                      {"y0": x[:, :2].astype(np.float64), "y1": x[:, 2:].astype(np.float64)},
                      inits={"split": np.array([2, 4], np.int64)}, tol=EXACT))
    x = x_of(3, 4, 9)
    cases.append(Case("split/equal_three_axis-1",
                      [node("Split", ["x"], ["y0", "y1", "y2"], axis=-1)], {"x": x},
                      {f"y{i}": x[..., 3 * i:3 * i + 3].astype(np.float64) for i in range(3)},
                      tol=EXACT))
    # Slice (13: starts/ends/axes/steps inputs)
    x = x_of(4, 5, 6)

    def slice_case(name, starts, ends, axes=None, steps=None):
        inits = {"starts": np.array(starts, np.int64), "ends": np.array(ends, np.int64)}
        names = ["x", "starts", "ends"]
        if axes is not None:
            inits["axes"] = np.array(axes, np.int64)
            names.append("axes")
        if steps is not None:
            if axes is None:
                names.append("")
            inits["steps"] = np.array(steps, np.int64)
            names.append("steps")
        want = slice_ref(x, starts, ends, axes, steps).astype(np.float64)
        cases.append(Case(name, [node("Slice", names, ["y"])], {"x": x}, {"y": want},
                          inits=inits, tol=EXACT))

    slice_case("slice/basic_axes", [1, 2], [3, 5], [0, 2])
    slice_case("slice/negative_starts_ends", [-3, -4], [-1, INT64_MAX], [1, 2])
    slice_case("slice/no_axes_clamped_ends", [0, 1, 0], [100, 4, -2])
    slice_case("slice/steps2", [0, 1], [INT64_MAX, 6], [0, 2], [2, 2])
    slice_case("slice/negative_step_reverse", [-1], [INT64_MIN], [2], [-1])
    slice_case("slice/negative_step2", [4, 3], [0, -100], [2, 0], [-2, -2])
    slice_case("slice/negative_axis", [1], [-1], [-2])
    # Reshape (0 copies the input dim, -1 is inferred)
    x = x_of(2, 3, 4)
    for name, shape in (("reshape/zero_and_minus1", [0, -1]), ("reshape/minus1_first", [-1, 4]),
                        ("reshape/zero_middle", [4, 0, -1]), ("reshape/add_dims", [2, 1, 3, 4])):
        cases.append(Case(name, [node("Reshape", ["x", "shape"], ["y"])], {"x": x},
                          {"y": x.reshape(
                              [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
                          ).astype(np.float64)},
                          inits={"shape": np.array(shape, np.int64)}, tol=EXACT))
    # Flatten
    x = x_of(2, 3, 4, 2)
    for axis in (0, 1, 2, -1):
        outer = int(np.prod(x.shape[:axis % 4 if axis else 0]))
        want = x.reshape(outer, -1).astype(np.float64)
        cases.append(Case(f"flatten/axis{axis}", [node("Flatten", ["x"], ["y"], axis=axis)],
                          {"x": x}, {"y": want}, tol=EXACT))
    # Squeeze / Unsqueeze (13: axes are an input)
    x = x_of(1, 3, 1, 4)
    for name, axes, want in (("squeeze/axes0_2", [0, 2], x.reshape(3, 4)),
                             ("squeeze/negative_axis", [-2], x.reshape(1, 3, 4)),
                             ("squeeze/all_ones", None, x.reshape(3, 4))):
        inits = {"axes": np.array(axes, np.int64)} if axes is not None else {}
        cases.append(Case(name, [node("Squeeze", ["x"] + list(inits), ["y"])], {"x": x},
                          {"y": want.astype(np.float64)}, inits=inits, tol=EXACT))
    x = x_of(3, 4)
    for name, axes, shape in (("unsqueeze/axes0_3", [0, 3], (1, 3, 4, 1)),
                              ("unsqueeze/negative_axis", [-1], (3, 4, 1)),
                              ("unsqueeze/middle", [1], (3, 1, 4))):
        cases.append(Case(name, [node("Unsqueeze", ["x", "axes"], ["y"])], {"x": x},
                          {"y": x.reshape(shape).astype(np.float64)},
                          inits={"axes": np.array(axes, np.int64)}, tol=EXACT))
    # Transpose
    x = x_of(2, 3, 4)
    cases.append(Case("transpose/perm201", [node("Transpose", ["x"], ["y"], perm=[2, 0, 1])],
                      {"x": x}, {"y": x.transpose(2, 0, 1).astype(np.float64)}, tol=EXACT))
    cases.append(Case("transpose/default_reverses", [node("Transpose", ["x"], ["y"])], {"x": x},
                      {"y": x.transpose().astype(np.float64)}, tol=EXACT))
    x4 = x_of(2, 3, 4, 5)
    cases.append(Case("transpose/rank4_0231", [node("Transpose", ["x"], ["y"],
                                                    perm=[0, 2, 3, 1])],
                      {"x": x4}, {"y": x4.transpose(0, 2, 3, 1).astype(np.float64)}, tol=EXACT))
    # Expand
    for name, in_shape, shape in (("expand/3x1_to_2x3x4", (3, 1), [2, 3, 4]),
                                  ("expand/vector_to_3x4", (4,), [3, 4]),
                                  ("expand/shape_smaller_than_input", (3, 4), [1, 1]),
                                  ("expand/both_broadcast", (2, 1, 4), [3, 1])):
        x = x_of(*in_shape)
        want = (x * np.ones(shape)).astype(np.float64)
        cases.append(Case(name, [node("Expand", ["x", "shape"], ["y"])], {"x": x}, {"y": want},
                          inits={"shape": np.array(shape, np.int64)}, tol=EXACT))
    # Tile
    x = x_of(2, 1, 3)
    cases.append(Case("tile/2_3_1", [node("Tile", ["x", "repeats"], ["y"])], {"x": x},
                      {"y": np.tile(x, (2, 3, 1)).astype(np.float64)},
                      inits={"repeats": np.array([2, 3, 1], np.int64)}, tol=EXACT))
    xi = r.integers(-50, 50, (2, 3)).astype(np.int64)
    cases.append(Case("tile/int64", [node("Tile", ["x", "repeats"], ["y"])], {"x": xi},
                      {"y": np.tile(xi, (1, 2))},
                      inits={"repeats": np.array([1, 2], np.int64)}, tol=EXACT))
    # Identity
    x = x_of(3, 2)
    cases.append(Case("identity", [node("Identity", ["x"], ["y"])], {"x": x},
                      {"y": x.astype(np.float64)}, tol=EXACT))
    return cases


def pad_cases():
    cases = []
    r = rng_for("pad")
    x = f32(r.uniform(-2, 2, (1, 2, 4, 5)))

    def onnx_pads_to_numpy(pads):
        n = len(pads) // 2
        return [(pads[i], pads[i + n]) for i in range(n)]

    for name, mode, pads, value in (
            ("pad/constant_zero", "constant", [0, 0, 1, 2, 0, 0, 2, 1], None),
            ("pad/constant_value", "constant", [0, 0, 1, 1, 0, 0, 1, 1], 1.5),
            ("pad/constant_batch_channel", "constant", [1, 0, 0, 0, 0, 2, 0, 1], -3.0),
            ("pad/reflect", "reflect", [0, 0, 2, 1, 0, 0, 1, 3], None),
            ("pad/edge", "edge", [0, 0, 3, 0, 0, 0, 1, 2], None)):
        inits = {"pads": np.array(pads, np.int64)}
        names = ["x", "pads"]
        if value is not None:
            inits["value"] = f32(value)
            names.append("value")
        np_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge"}[mode]
        kwargs = {"constant_values": value or 0.0} if mode == "constant" else {}
        want = np.pad(x.astype(np.float64), onnx_pads_to_numpy(pads), mode=np_mode, **kwargs)
        cases.append(Case(name, [node("Pad", names, ["y"], mode=mode)], {"x": x}, {"y": want},
                          inits=inits, tol=EXACT))
    x2 = f32(r.uniform(-2, 2, (3, 4)))
    want = np.pad(x2.astype(np.float64), [(1, 0), (2, 2)], mode="reflect")
    cases.append(Case("pad/reflect_rank2", [node("Pad", ["x", "pads"], ["y"], mode="reflect")],
                      {"x": x2}, {"y": want}, inits={"pads": np.array([1, 2, 0, 2], np.int64)},
                      tol=EXACT))
    return cases


def resize_cases():
    """Resize (opset 13: X, roi, scales, sizes): the three modes torch exports."""
    cases = []

    def resize(name, x_shape, mode, ctm, scales=None, sizes=None, matrix=False, **attrs):
        r = rng_for(name)
        x = f32(r.uniform(-2, 2, x_shape))
        inits = {"roi": np.zeros(0, np.float32)}
        names = ["x", "roi"]
        if scales is not None:
            inits["scales"] = f32([1, 1] + list(scales))
            names.append("scales")
            out_hw = [int(math.floor(x_shape[2 + i] * scales[i])) for i in range(2)]
        else:
            inits["sizes"] = np.array(list(x_shape[:2]) + list(sizes), np.int64)
            names += ["", "sizes"]
            out_hw = list(sizes)
        want = resize_ref(x, out_hw, mode, ctm, scales, attrs.get("nearest_mode", "floor"))
        n = node("Resize", names, ["y"], mode=mode, coordinate_transformation_mode=ctm, **attrs)
        cases.append(Case(name, [n], {"x": x}, {"y": want}, inits=inits,
                          tol=EXACT if mode == "nearest" else MATH, matrix=matrix))

    resize("resize/nearest_asymmetric_floor_x2", (1, 2, 4, 5), "nearest", "asymmetric",
           scales=[2, 2], nearest_mode="floor", matrix=True)
    resize("resize/nearest_asymmetric_floor_x3_x2", (2, 3, 3, 4), "nearest", "asymmetric",
           scales=[3, 2], nearest_mode="floor")
    resize("resize/nearest_asymmetric_floor_sizes_5to8", (1, 2, 5, 5), "nearest", "asymmetric",
           sizes=[8, 7], nearest_mode="floor")
    resize("resize/nearest_asymmetric_floor_downsample", (1, 2, 8, 6), "nearest", "asymmetric",
           sizes=[5, 3], nearest_mode="floor")
    resize("resize/linear_half_pixel_x2", (1, 2, 4, 5), "linear", "half_pixel", scales=[2, 2],
           matrix=True)
    resize("resize/linear_half_pixel_sizes_5to8", (1, 3, 5, 6), "linear", "half_pixel",
           sizes=[8, 9])
    resize("resize/linear_half_pixel_downsample", (1, 2, 8, 7), "linear", "half_pixel",
           sizes=[5, 4])
    resize("resize/linear_align_corners_x2", (1, 2, 4, 5), "linear", "align_corners",
           scales=[2, 2], matrix=True)
    resize("resize/linear_align_corners_sizes", (2, 2, 5, 4), "linear", "align_corners",
           sizes=[9, 7])
    return cases


def gather_cases():
    cases = []
    r = rng_for("gather")
    table = f32(r.uniform(-1, 1, (16, 8)))
    ids = np.array([[0, 3, 15, -1, 7], [-16, 2, 2, 9, -5]], np.int64)
    want = table[ids].astype(np.float64)
    cases.append(Case("gather/embedding_int64_ids_negative",
                      [node("Gather", ["table", "ids"], ["y"], axis=0)], {"ids": ids}, {"y": want},
                      inits={"table": table}, tol=EXACT, matrix=True))
    ids32 = np.array([1, -2, 0], np.int32)
    cases.append(Case("gather/int32_ids", [node("Gather", ["table", "ids"], ["y"], axis=0)],
                      {"ids": ids32}, {"y": table[ids32].astype(np.float64)},
                      inits={"table": table}, tol=EXACT))
    x = f32(r.uniform(-1, 1, (3, 6, 4)))
    idx = np.array([[0, -1], [2, 3]], np.int64)
    cases.append(Case("gather/axis1_runtime_data_const_indices",
                      [node("Gather", ["x", "idx"], ["y"], axis=1)], {"x": x},
                      {"y": np.take(x, idx % 6, axis=1).astype(np.float64)},
                      inits={"idx": idx}, tol=EXACT, matrix=True))
    cases.append(Case("gather/axis1_runtime_indices",
                      [node("Gather", ["x", "idx"], ["y"], axis=1)], {"x": x, "idx": idx},
                      {"y": np.take(x, idx % 6, axis=1).astype(np.float64)}, tol=EXACT))
    cases.append(Case("gather/scalar_index_axis-1",
                      [node("Gather", ["x", "i"], ["y"], axis=-1)], {"x": x},
                      {"y": x[..., 2].astype(np.float64)},
                      inits={"i": np.array(2, np.int64)}, tol=EXACT))
    return cases


def logic_cast_cases():
    cases = []
    r = rng_for("logic")
    # Integer-valued floats so that Equal has hits.
    a = f32(r.integers(-3, 4, (3, 4)))
    b = f32(r.integers(-3, 4, (3, 4)))
    b_row = f32(r.integers(-3, 4, (4,)))
    cases.append(Case("equal", [node("Equal", ["a", "b"], ["y"])], {"a": a, "b": b},
                      {"y": a == b}, tol=EXACT))
    cases.append(Case("less/broadcast", [node("Less", ["a", "b"], ["y"])], {"a": a, "b": b_row},
                      {"y": a < b_row}, tol=EXACT))
    cases.append(Case("greater/broadcast", [node("Greater", ["a", "b"], ["y"])],
                      {"a": a, "b": b_row}, {"y": a > b_row}, tol=EXACT))
    ai = r.integers(-5, 5, (6,)).astype(np.int64)
    bi = r.integers(-5, 5, (6,)).astype(np.int64)
    cases.append(Case("equal/int64", [node("Equal", ["a", "b"], ["y"])], {"a": ai, "b": bi},
                      {"y": ai == bi}, tol=EXACT))
    mask = r.integers(0, 2, (2, 5)).astype(np.bool_)
    cases.append(Case("not/bool_input", [node("Not", ["m"], ["y"])], {"m": mask}, {"y": ~mask},
                      tol=EXACT))
    cases.append(Case("not/of_greater", [node("Greater", ["a", "b"], ["g"]),
                                         node("Not", ["g"], ["y"])],
                      {"a": a, "b": b}, {"y": ~(a > b)}, tol=EXACT))
    c = f32(r.uniform(-1, 1, (1, 4)))
    cases.append(Case("where/less_broadcast",
                      [node("Less", ["a", "b"], ["cond"]),
                       node("Where", ["cond", "a", "c"], ["y"])],
                      {"a": a, "b": b}, {"y": np.where(a < b, a, c).astype(np.float64)},
                      inits={"c": c}, tol=EXACT))
    xw = f32(r.uniform(-1, 1, (2, 5)))
    cases.append(Case("where/bool_input_scalar_branch",
                      [node("Where", ["m", "x", "fill"], ["y"])], {"m": mask, "x": xw},
                      {"y": np.where(mask, xw, np.float32(-1e4)).astype(np.float64)},
                      inits={"fill": f32(-1e4)}, tol=EXACT))
    # Cast: float -> int truncates toward zero (±2.5 -> ±2), int -> float, -> bool is != 0.
    xf = f32([-2.5, 2.5, -2.7, 2.7, -0.5, 0.5, 1000.9, -7.99, 0.0, 3.0, -1.5, 1.5])
    cases.append(single("cast/float_to_int32_truncates", "Cast", {"x": xf},
                        lambda: np.trunc(xf).astype(np.int32), attrs=dict(to=TensorProto.INT32),
                        tol=EXACT))
    cases.append(single("cast/float_to_int64_truncates", "Cast", {"x": xf},
                        lambda: np.trunc(xf).astype(np.int64), attrs=dict(to=TensorProto.INT64),
                        tol=EXACT))
    xi = np.array([-7, 0, 3, 1 << 20, -(1 << 20), 1], np.int64)
    cases.append(single("cast/int64_to_float", "Cast", {"x": xi},
                        lambda: xi.astype(np.float64), attrs=dict(to=TensorProto.FLOAT),
                        tol=EXACT))
    xb = f32([0.0, -0.0, 0.25, -3.0, 1e-30, 2.0])
    cases.append(single("cast/float_to_bool", "Cast", {"x": xb}, lambda: xb != 0,
                        attrs=dict(to=TensorProto.BOOL), tol=EXACT))
    xi2 = np.array([0, 5, -1, 0, 2], np.int64)
    cases.append(single("cast/int64_to_bool", "Cast", {"x": xi2}, lambda: xi2 != 0,
                        attrs=dict(to=TensorProto.BOOL), tol=EXACT))
    cases.append(Case("cast/bool_to_float", [node("Greater", ["a", "b"], ["g"]),
                                             node("Cast", ["g"], ["y"], to=TensorProto.FLOAT)],
                      {"a": a, "b": b}, {"y": (a > b).astype(np.float64)}, tol=EXACT))
    cases.append(single("cast/float_to_float_noop", "Cast", {"x": xf},
                        lambda: xf.astype(np.float64), attrs=dict(to=TensorProto.FLOAT),
                        tol=EXACT))
    return cases


def shape_subgraph_cases():
    """Constant/ConstantOfShape/Shape/Identity/Range in shape chains the importer folds."""
    cases = []
    r = rng_for("subgraphs")
    x = f32(r.uniform(-2, 2, (2, 3, 4)))
    # Shape -> Gather -> Unsqueeze -> Concat(Constant) -> Reshape: torch's flatten(1) pattern.
    cases.append(Case("subgraph/shape_gather_concat_reshape", [
        node("Shape", ["x"], ["s"]),
        const_node("zero", np.array(0, np.int64)),
        node("Gather", ["s", "zero"], ["n"], axis=0),
        const_node("axes0", np.array([0], np.int64)),
        node("Unsqueeze", ["n", "axes0"], ["n1"]),
        const_node("minus1", np.array([-1], np.int64)),
        node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        node("Identity", ["shape"], ["shape2"]),
        node("Reshape", ["x", "shape2"], ["y"]),
    ], {"x": x}, {"y": x.reshape(2, 12).astype(np.float64)}, tol=EXACT))
    # Shape(start, end) (opset 15) -> Reshape.
    cases.append(Case("subgraph/shape_start_end", [
        node("Shape", ["x"], ["s"], start=1),
        const_node("minus1", np.array([-1], np.int64)),
        node("Concat", ["minus1", "s"], ["shape"], axis=0),
        node("Reshape", ["x", "shape"], ["y"]),
    ], {"x": x}, {"y": x.reshape(-1, 3, 4).astype(np.float64)}, opset=15, tol=EXACT))
    # Range over a dim as position ids -> Gather from a table -> Add: positional embeddings.
    pos = f32(r.uniform(-1, 1, (8, 4)))
    cases.append(Case("subgraph/range_positions_gather", [
        node("Shape", ["x"], ["s"]),
        const_node("one", np.array(1, np.int64)),
        node("Gather", ["s", "one"], ["seq"], axis=0),
        const_node("start", np.array(0, np.int64)),
        const_node("delta", np.array(1, np.int64)),
        node("Range", ["start", "seq", "delta"], ["positions"]),
        node("Gather", ["pos", "positions"], ["emb"], axis=0),
        node("Add", ["x", "emb"], ["y"]),
    ], {"x": x}, {"y": x.astype(np.float64) + pos[:3]}, inits={"pos": pos}, tol=ARITH))
    # Float Range (start 0.5, step 0.25) as data.
    cases.append(Case("subgraph/range_float_data", [
        const_node("fstart", np.array(0.5, np.float32)),
        const_node("flimit", np.array(1.5, np.float32)),
        const_node("fdelta", np.array(0.25, np.float32)),
        node("Range", ["fstart", "flimit", "fdelta"], ["ramp"]),
        node("Mul", ["x", "ramp"], ["y"]),
    ], {"x": x}, {"y": x.astype(np.float64) * np.array([0.5, 0.75, 1.0, 1.25])}, tol=ARITH))
    # ConstantOfShape(Shape(x)) as data; and ConstantOfShape with an int64 value feeding Expand.
    cases.append(Case("subgraph/constant_of_shape_mul", [
        node("Shape", ["x"], ["s"]),
        node("ConstantOfShape", ["s"], ["twos"],
             value=numpy_helper.from_array(np.array([2.5], np.float32), "v")),
        node("Mul", ["x", "twos"], ["y"]),
    ], {"x": x}, {"y": x.astype(np.float64) * 2.5}, tol=ARITH))
    b = f32(r.uniform(-1, 1, (1, 4)))
    cases.append(Case("subgraph/constant_of_shape_int64_expand", [
        const_node("rank2", np.array([2], np.int64)),
        node("ConstantOfShape", ["rank2"], ["ones"],
             value=numpy_helper.from_array(np.array([1], np.int64), "v")),
        node("Shape", ["x"], ["s"]),
        const_node("idx12", np.array([1, 2], np.int64)),
        node("Gather", ["s", "idx12"], ["s12"], axis=0),
        node("Mul", ["ones", "s12"], ["target"]),
        node("Expand", ["b", "target"], ["y"]),
    ], {"x": x}, {"y": np.broadcast_to(b, (3, 4)).astype(np.float64)}, inits={"b": b},
        tol=EXACT))
    # ConstantOfShape with no value: float zeros.
    cases.append(Case("subgraph/constant_of_shape_default_zeros", [
        node("Shape", ["x"], ["s"]),
        node("ConstantOfShape", ["s"], ["z"]),
        node("Add", ["x", "z"], ["y"]),
    ], {"x": x}, {"y": x.astype(np.float64)}, tol=EXACT))
    # chunk(2) on the last axis: Slice bounds from Shape arithmetic (Div, Mul).
    x6 = f32(r.uniform(-2, 2, (2, 3, 6)))
    cases.append(Case("subgraph/chunk_slice_arithmetic", [
        node("Shape", ["x"], ["s"]),
        const_node("two", np.array(2, np.int64)),
        node("Gather", ["s", "two"], ["n"], axis=0),
        node("Div", ["n", "two"], ["half"]),
        const_node("axes0", np.array([0], np.int64)),
        node("Unsqueeze", ["half", "axes0"], ["half1"]),
        node("Unsqueeze", ["n", "axes0"], ["n1"]),
        const_node("zero1", np.array([0], np.int64)),
        const_node("axis2", np.array([2], np.int64)),
        node("Slice", ["x", "zero1", "half1", "axis2"], ["lo"]),
        node("Slice", ["x", "half1", "n1", "axis2"], ["hi"]),
        node("Mul", ["lo", "hi"], ["y"]),
    ], {"x": x6}, {"y": x6[..., :3].astype(np.float64) * x6[..., 3:]}, tol=ARITH))
    # Constant node variants: value_float / value_ints.
    cases.append(Case("subgraph/constant_value_float_ints", [
        helper.make_node("Constant", [], ["k"], name="const_k", value_float=0.5),
        helper.make_node("Constant", [], ["shape"], name="const_shape", value_ints=[4, 6]),
        node("Reshape", ["x", "shape"], ["xr"]),
        node("Mul", ["xr", "k"], ["y"]),
    ], {"x": x}, {"y": x.reshape(4, 6).astype(np.float64) * 0.5}, tol=ARITH))
    return cases


def dynamic_cases():
    """A dynamic batch dim, its size given by CompileOptions.input_shapes."""
    cases = []
    r = rng_for("dynamic")
    x = f32(r.uniform(-1, 1, (5, 3, 4)))
    w = f32(r.uniform(-1, 1, (12, 2)))
    nodes = [
        node("Shape", ["x"], ["s"]),
        const_node("zero", np.array(0, np.int64)),
        node("Gather", ["s", "zero"], ["n"], axis=0),
        const_node("axes0", np.array([0], np.int64)),
        node("Unsqueeze", ["n", "axes0"], ["n1"]),
        const_node("minus1", np.array([-1], np.int64)),
        node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        node("Reshape", ["x", "shape"], ["flat"]),
        node("MatMul", ["flat", "w"], ["y"]),
    ]
    cases.append(Case("dynamic/batch_reshape_matmul", nodes, {"x": x},
                      {"y": x.reshape(5, 12).astype(np.float64) @ w}, inits={"w": w},
                      input_dims={"x": ["batch", 3, 4]}, output_dims={"y": ["batch", 2]},
                      input_shapes={"x": [5, 3, 4]}))
    img = f32(r.uniform(-1, 1, (3, 2, 6, 6)))
    cw = f32(r.uniform(-1, 1, (4, 2, 3, 3)))
    conv = conv_ref(img, cw, pads=(1, 1, 1, 1))
    cases.append(Case("dynamic/batch_conv_global_pool_flatten", [
        node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("GlobalAveragePool", ["c"], ["g"]),
        node("Flatten", ["g"], ["y"], axis=1),
    ], {"x": img}, {"y": conv.mean(axis=(2, 3))}, inits={"w": cw},
        input_dims={"x": ["N", 2, 6, 6]}, output_dims={"y": ["N", 4]},
        input_shapes={"x": [3, 2, 6, 6]}))
    # Two dynamic dims (batch and sequence), both given.
    t = f32(r.uniform(-1, 1, (2, 7, 8)))
    cases.append(Case("dynamic/batch_and_seq_softmax", [
        node("Softmax", ["x"], ["y"], axis=-1),
    ], {"x": t}, {"y": softmax_ref(t, -1)}, input_dims={"x": ["batch", "seq", 8]},
        output_dims={"y": ["batch", "seq", 8]}, input_shapes={"x": [2, 7, 8]}, tol=SOFTMAX))
    return cases


def layout_cases():
    """Conv outputs (NHWC inside kiln) through ops that need their NCHW meaning: axes,
    broadcasting against NCHW operands, reshapes and transposes, graph outputs."""
    cases = []
    r = rng_for("layout")
    x = f32(r.uniform(-1, 1, (1, 3, 8, 8)))
    w = f32(r.uniform(-1, 1, (4, 3, 3, 3)))
    conv = conv_ref(x, w, pads=(1, 1, 1, 1))
    conv_node = node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    inits = {"w": w}

    def chain(name, nodes, expected, extra_inits=None, extra_inputs=None, tol=ACC):
        inputs = {"x": x}
        inputs.update(extra_inputs or {})
        cases.append(Case(f"layout/{name}", [conv_node] + nodes, inputs, expected,
                          inits={**inits, **(extra_inits or {})}, tol=tol))

    bias = f32(r.uniform(-1, 1, (4, 1, 1)))
    chain("conv_add_channel_bias_relu",
          [node("Add", ["c", "bias"], ["cb"]), node("Relu", ["cb"], ["y"])],
          {"y": np.maximum(conv + bias, 0)}, {"bias": bias})
    other = f32(r.uniform(-1, 1, (1, 4, 8, 8)))
    chain("conv_mul_runtime_nchw", [node("Mul", ["c", "other"], ["y"])],
          {"y": conv * other}, extra_inputs={"other": other})
    row = f32(r.uniform(-1, 1, (8,)))
    chain("conv_add_width_vector", [node("Add", ["c", "row"], ["y"])], {"y": conv + row},
          {"row": row})
    chain("conv_softmax_axis1", [node("Softmax", ["c"], ["y"], axis=1)],
          {"y": softmax_ref(conv, 1)}, tol=SOFTMAX)
    chain("conv_reducemean_hw_keep", [node("ReduceMean", ["c"], ["y"], axes=[2, 3], keepdims=1)],
          {"y": conv.mean(axis=(2, 3), keepdims=True)})
    chain("conv_reducesum_channels_drop",
          [node("ReduceSum", ["c", "axes"], ["y"], keepdims=0)],
          {"y": conv.sum(axis=1)}, {"axes": np.array([1], np.int64)})
    chain("conv_reducemax_w_drop", [node("ReduceMax", ["c"], ["y"], axes=[-1], keepdims=0)],
          {"y": conv.max(axis=-1)})
    chain("conv_argmax_channels", [node("ArgMax", ["c"], ["y"], axis=1, keepdims=0)],
          {"y": argmax_ref(conv.astype(np.float32), 1, 0)})
    chain("conv_transpose_0231", [node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])],
          {"y": conv.transpose(0, 2, 3, 1)})
    chain("conv_reshape_flat", [node("Reshape", ["c", "shape"], ["y"])],
          {"y": conv.reshape(1, -1)}, {"shape": np.array([1, -1], np.int64)})
    chain("conv_flatten_axis2", [node("Flatten", ["c"], ["y"], axis=2)],
          {"y": conv.reshape(4, 64)})
    chain("conv_slice_channels_and_width",
          [node("Slice", ["c", "st", "en", "ax"], ["y"])],
          {"y": conv[:, 1:3, :, 2:7]},
          {"st": np.array([1, 2], np.int64), "en": np.array([3, 7], np.int64),
           "ax": np.array([1, 3], np.int64)})
    chain("conv_split_channels", [node("Split", ["c", "sp"], ["y0", "y1"], axis=1)],
          {"y0": conv[:, :1], "y1": conv[:, 1:]}, {"sp": np.array([1, 3], np.int64)})
    chain("conv_concat_with_input_channels", [node("Concat", ["c", "x"], ["y"], axis=1)],
          {"y": np.concatenate([conv, x.astype(np.float64)], axis=1)})
    chain("conv_gather_channel", [node("Gather", ["c", "ch"], ["y"], axis=1)],
          {"y": conv[:, [3, 0]]}, {"ch": np.array([3, 0], np.int64)})
    chain("conv_pad_reflect", [node("Pad", ["c", "pads"], ["y"], mode="reflect")],
          {"y": np.pad(conv, [(0, 0), (0, 0), (1, 2), (2, 1)], mode="reflect")},
          {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)})
    chain("conv_resize_nearest_x2",
          [node("Resize", ["c", "", "scales"], ["y"], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
          {"y": resize_ref(conv, (16, 16), "nearest", "asymmetric", (2, 2))},
          {"scales": f32([1, 1, 2, 2])})
    chain("conv_two_outputs_nchw_and_pooled",
          [node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
           node("Identity", ["c"], ["y_conv"])],
          {"p": pool_ref(conv, "max", (2, 2), (2, 2)), "y_conv": conv})
    # A small CNN: conv -> BN -> relu -> maxpool -> conv (depthwise) -> clip -> global pool ->
    # flatten -> gemm -> softmax.
    r2 = rng_for("layout/mini_cnn")
    bn = [f32(r2.uniform(0.5, 1.5, 4)), f32(r2.uniform(-1, 1, 4)), f32(r2.uniform(-0.5, 0.5, 4)),
          f32(r2.uniform(0.5, 2, 4))]
    dw = f32(r2.uniform(-1, 1, (4, 1, 3, 3)))
    fc = f32(r2.uniform(-1, 1, (5, 4)))
    fcb = f32(r2.uniform(-1, 1, 5))
    h = np.maximum(batchnorm_ref(conv, *bn), 0)
    h = pool_ref(h, "max", (3, 3), (2, 2), (1, 1, 1, 1))
    h = np.clip(conv_ref(h, dw, pads=(1, 1, 1, 1), group=4), 0, 6)
    h = h.mean(axis=(2, 3))
    logits = h @ fc.T.astype(np.float64) + fcb
    chain("mini_cnn", [
        node("BatchNormalization", ["c", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"]),
        node("Relu", ["bn"], ["r"]),
        node("MaxPool", ["r"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        node("Conv", ["p", "dw"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4),
        node("Clip", ["d", "lo", "hi"], ["cl"]),
        node("GlobalAveragePool", ["cl"], ["g"]),
        node("Flatten", ["g"], ["f"], axis=1),
        node("Gemm", ["f", "fc", "fcb"], ["logits"], transB=1),
        node("Softmax", ["logits"], ["y"], axis=-1),
    ], {"y": softmax_ref(logits, -1)},
        {"bn_s": bn[0], "bn_b": bn[1], "bn_m": bn[2], "bn_v": bn[3], "dw": dw, "fc": fc,
         "fcb": fcb, "lo": f32(0), "hi": f32(6)}, tol=SOFTMAX)
    return cases


# ---------------------------------------------------------------------------------------------

def numpy_dtype_of(expected):
    a = np.asarray(expected)
    return np.float32 if a.dtype == np.float64 else a.dtype.type


class ReferenceSelfCheck(unittest.TestCase):
    """The numpy references against PyTorch (torch.nn.functional), where torch has the op:
    no kilnd involved. Skipped without torch."""

    @classmethod
    def setUpClass(cls):
        try:
            import torch
        except ImportError:  # pragma: no cover
            raise unittest.SkipTest("python3-torch is not installed")
        cls.torch = torch
        cls.F = torch.nn.functional
        torch.set_num_threads(1)

    def t(self, a):
        return self.torch.from_numpy(np.asarray(a, np.float64))

    def check(self, want, got_torch):
        np.testing.assert_allclose(want, got_torch.numpy(), rtol=1e-9, atol=1e-9)

    def test_conv(self):
        r = np.random.default_rng(0)
        for x_shape, w_shape, s, p, d, g in (
                ((2, 4, 9, 8), (6, 2, 3, 3), (2, 1), (1, 1, 2, 0), (1, 2), 2),
                ((1, 3, 10, 10), (4, 3, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
                ((1, 4, 7, 7), (8, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4),
                ((1, 2, 12, 11), (3, 2, 3, 3), (2, 2), (1, 1, 2, 1), (2, 1), 1)):
            x, w, b = r.standard_normal(x_shape), r.standard_normal(w_shape), r.standard_normal(
                w_shape[0])
            xp = self.F.pad(self.t(x), (p[1], p[3], p[0], p[2]))
            self.check(conv_ref(x, w, b, s, p, d, g),
                       self.F.conv2d(xp, self.t(w), self.t(b), s, 0, d, g))

    def test_same_pads(self):
        # SAME_UPPER keeps the output at ceil(in / stride) and pads the end more.
        self.assertEqual(same_pads((6, 6), (4, 4), (1, 1), (1, 1)), [1, 1, 2, 2])
        self.assertEqual(same_pads((6, 6), (4, 4), (1, 1), (1, 1), upper=False), [2, 2, 1, 1])
        self.assertEqual(same_pads((7, 8), (3, 3), (2, 2), (1, 1)), [1, 0, 1, 1])

    def test_conv_transpose(self):
        r = np.random.default_rng(1)
        for x_shape, w_shape, s, p, op, d, g in (
                ((1, 3, 5, 4), (3, 4, 3, 3), (2, 2), 1, (1, 1), (1, 1), 1),
                ((2, 2, 4, 4), (2, 3, 4, 4), (2, 2), 1, (0, 0), (1, 1), 1),
                ((1, 2, 4, 4), (2, 3, 3, 3), (1, 1), 0, (0, 0), (2, 2), 1),
                ((1, 4, 3, 3), (4, 2, 3, 3), (2, 2), 0, (1, 0), (1, 1), 2),
                ((1, 2, 5, 5), (2, 2, 3, 3), (2, 2), 2, (0, 0), (1, 1), 1),
                ((1, 2, 5, 5), (2, 2, 3, 3), (2, 2), 3, (0, 0), (1, 1), 1)):
            x, w, b = r.standard_normal(x_shape), r.standard_normal(w_shape), r.standard_normal(
                w_shape[1] * g)
            self.check(conv_transpose_ref(x, w, b, s, (p,) * 4, d, op, g),
                       self.F.conv_transpose2d(self.t(x), self.t(w), self.t(b), s, p, op, g, d))
        # Asymmetric pads = symmetric 0 then a crop.
        x, w = r.standard_normal((1, 2, 4, 5)), r.standard_normal((2, 3, 3, 3))
        full = self.F.conv_transpose2d(self.t(x), self.t(w), None, (2, 3), 0, (1, 0))
        self.check(conv_transpose_ref(x, w, None, (2, 3), (0, 1, 1, 0), (1, 1), (1, 0)),
                   full[:, :, 0:full.shape[2] - 1, 1:])

    def test_pools(self):
        r = np.random.default_rng(2)
        for shape, k, s, p, ceil in (((1, 2, 9, 10), 3, 2, 1, True),
                                     ((2, 2, 9, 11), 3, 2, 1, False),
                                     ((1, 2, 8, 8), 3, 2, 0, True), ((1, 2, 10, 9), 3, 2, 1, True),
                                     ((2, 3, 6, 5), 3, 1, 1, False), ((1, 1, 7, 7), 2, 2, 1, True),
                                     ((1, 1, 6, 6), 4, 3, 2, True)):
            x = r.standard_normal(shape)
            pads = (p,) * 4
            self.check(pool_ref(x, "max", (k, k), (s, s), pads, ceil),
                       self.F.max_pool2d(self.t(x), k, s, p, ceil_mode=ceil))
            for cip in (False, True):
                self.check(pool_ref(x, "avg", (k, k), (s, s), pads, ceil, cip),
                           self.F.avg_pool2d(self.t(x), k, s, p, ceil_mode=ceil,
                                             count_include_pad=cip))
        # Asymmetric pads with count_include_pad = an explicit zero pad, then no padding.
        x = r.standard_normal((1, 2, 7, 6))
        xp = self.F.pad(self.t(x), (0, 1, 1, 2))
        self.check(pool_ref(x, "avg", (3, 3), (2, 1), (1, 0, 2, 1), False, True),
                   self.F.avg_pool2d(xp, 3, (2, 1)))
        xp = self.F.pad(self.t(x), (0, 1, 1, 2), value=-np.inf)
        self.check(pool_ref(x, "max", (3, 3), (2, 1), (1, 0, 2, 1)),
                   self.F.max_pool2d(xp, 3, (2, 1)))

    def test_resize(self):
        r = np.random.default_rng(3)
        x = r.standard_normal((1, 2, 5, 6))
        for size in ((10, 12), (8, 9), (3, 4), (5, 6)):
            self.check(resize_ref(x, size, "nearest", "asymmetric"),
                       self.F.interpolate(self.t(x), size=size, mode="nearest"))
            self.check(resize_ref(x, size, "linear", "half_pixel"),
                       self.F.interpolate(self.t(x), size=size, mode="bilinear",
                                          align_corners=False))
            self.check(resize_ref(x, size, "linear", "align_corners"),
                       self.F.interpolate(self.t(x), size=size, mode="bilinear",
                                          align_corners=True))
        for scale in ((2.0, 2.0), (3.0, 2.0)):
            size = (int(5 * scale[0]), int(6 * scale[1]))
            self.check(resize_ref(x, size, "nearest", "asymmetric", scale),
                       self.F.interpolate(self.t(x), scale_factor=scale, mode="nearest"))
            self.check(resize_ref(x, size, "linear", "half_pixel", scale),
                       self.F.interpolate(self.t(x), scale_factor=scale, mode="bilinear",
                                          align_corners=False))

    def test_activations_and_norms(self):
        r = np.random.default_rng(4)
        x = r.uniform(-30, 30, (4, 50))
        F, t = self.F, self.t
        self.check(np.logaddexp(0, x), F.softplus(t(x), threshold=1e9))
        # ONNX's Selu defaults are torch's constants rounded to float32.
        np.testing.assert_allclose(SELU_GAMMA * np.where(x <= 0, SELU_ALPHA * np.expm1(x), x),
                                   F.selu(t(x)).numpy(), rtol=1e-7)
        self.check(np.where(x < 0, 0.5 * np.expm1(x), x), F.elu(t(x), 0.5))
        self.check(x * np.clip(x / 6 + 0.5, 0, 1), F.hardswish(t(x)))
        self.check(np.clip(x / 6 + 0.5, 0, 1), F.hardsigmoid(t(x)))
        self.check(erf(x / 10), self.torch.erf(t(x / 10)))
        self.check(softmax_ref(x, 1), F.softmax(t(x), 1))
        self.check(log_softmax_ref(x, 0), F.log_softmax(t(x), 0))
        y = r.standard_normal((2, 3, 4))
        s, b = r.standard_normal((3, 4)), r.standard_normal((3, 4))
        self.check(layernorm_ref(y, s, b, 1, 1e-3), F.layer_norm(t(y), (3, 4), t(s), t(b), 1e-3))
        z = r.standard_normal((2, 3, 4, 5))
        c = [r.standard_normal(3), r.standard_normal(3), r.standard_normal(3), r.uniform(0.5, 2, 3)]
        self.check(batchnorm_ref(z, *c, eps=1e-3),
                   F.batch_norm(t(z), t(c[2]), t(c[3]), t(c[0]), t(c[1]), False, 0.0, 1e-3))

    def test_slice_and_argmax(self):
        x = np.arange(4 * 5 * 6).reshape(4, 5, 6)
        self.assertEqual(slice_ref(x, [-1], [INT64_MIN], [2], [-1]).tolist(),
                         x[:, :, ::-1].tolist())
        self.assertEqual(slice_ref(x, [4, 3], [0, -100], [2, 0], [-2, -2]).tolist(),
                         x[3::-2, :, 4:0:-2].tolist())
        self.assertEqual(slice_ref(x, [0, 1, 0], [100, 4, -2]).tolist(), x[:, 1:4, :4].tolist())
        a = np.array([[1, 3, 3, 0], [2, 2, 1, 2]])
        self.assertEqual(argmax_ref(a, 1, 0, 0).tolist(), [1, 0])
        self.assertEqual(argmax_ref(a, 1, 0, 1).tolist(), [2, 3])


SOURCE_FORMAT_ONNX = 3  # compiler_pb2.SOURCE_FORMAT_ONNX where the generated stubs have it


class OnnxOps(RpcAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        global SOURCE_FORMAT_ONNX
        SOURCE_FORMAT_ONNX = getattr(compiler_pb2, "SOURCE_FORMAT_ONNX", SOURCE_FORMAT_ONNX)
        cls.server = Kilnd(ARGS.kilnd, ARGS.kiln)
        cls.server.wait_ready()
        cls.client = KilnClient(cls.server.address, timeout=300)
        cls.loaded = 0
        cls.combo_turn = 0

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop_cleanly()

    # --- helpers ---

    def compile(self, source, name, fmt=None, model=None, input_shapes=None):
        options = compiler_pb2.CompileOptions(
            executable_format=getattr(module_pb2, fmt) if fmt else 0,
            execution_model=getattr(module_pb2, model) if model else 0)
        for input_name, dims in (input_shapes or {}).items():
            options.input_shapes.add(name=input_name, dims=dims)
        request = compiler_pb2.CompileRequest(source=source, source_format=SOURCE_FORMAT_ONNX,
                                              source_name=name + ".onnx", options=options)
        return self.client.compiler.Compile(request, timeout=300)

    def combos_for(self, case):
        if case.matrix:
            return COMBOS
        combo = COMBOS[type(self).combo_turn % len(COMBOS)]
        type(self).combo_turn += 1
        return [combo]

    def run_cases(self, cases):
        """Compiles every (case, combination) two at a time (kilnd compiles concurrently), then
        loads, invokes and checks each in a subTest."""
        jobs = [(case, fmt, model) for case in cases for fmt, model in self.combos_for(case)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(self.compile, case.model_bytes(), case.name, fmt, model,
                                   case.input_shapes) for case, fmt, model in jobs]
            for (case, fmt, model), future in zip(jobs, futures):
                with self.subTest(case=case.name, format=fmt[len("EXECUTABLE_FORMAT_"):],
                                  model=model[len("EXECUTION_MODEL_"):]):
                    try:
                        response = future.result()
                    except grpc.RpcError as e:
                        self.fail(f"compile failed: {e.code().name}: {e.details()}")
                    self.check_case(case, response, fmt, model)

    def check_case(self, case, response, fmt, model):
        self.assertEqual(response.executable_format, getattr(module_pb2, fmt))
        [function] = response.functions
        self.assertEqual(function.name, "main")
        self.assertEqual(function.execution_model, getattr(module_pb2, model))
        self.assertEqual([a.name for a in function.inputs], list(case.inputs))
        self.assertEqual([a.name for a in function.outputs], list(case.expected))
        self.assertEqual([list(a.type.shape) for a in function.outputs],
                         [list(np.shape(e)) for e in case.expected.values()])
        type(self).loaded += 1
        name = f"case{type(self).loaded}"
        self.client.load(response.digest, name)
        try:
            outputs = self.client.invoke(name, case.inputs)
        finally:
            self.client.unload(name)
        self.assertEqual(list(outputs), list(case.expected))
        for out_name, want in case.expected.items():
            got = outputs[out_name]
            want = np.asarray(want)
            self.assertEqual(got.dtype, numpy_dtype_of(want), out_name)
            self.assertEqual(got.shape, want.shape, out_name)
            if want.dtype == np.float64:
                tol = case.tol
                err = np.abs(got.astype(np.float64) - want)
                scale = float(np.max(np.abs(want))) if want.size else 0.0
                bound = tol["atol"] + tol["rtol"] * np.abs(want) + tol["stol"] * scale
                bad = ~(err <= bound)
                if bad.any():
                    i = np.unravel_index(np.argmax(np.where(bad, err - bound, -np.inf)),
                                         want.shape)
                    self.fail(f"{out_name}: {int(bad.sum())} of {want.size} elements off; worst "
                              f"at {tuple(int(v) for v in i)}: got {got[i]!r}, want "
                              f"{want[i]!r} (err {err[i]:.3g} > {bound[i]:.3g}; output scale "
                              f"{scale:.3g}, max err {err.max():.3g})")
            else:
                np.testing.assert_array_equal(got, want, err_msg=out_name)

    # --- the ops ---

    def test_conv(self):
        self.run_cases(conv_cases())

    def test_conv_transpose(self):
        self.run_cases(conv_transpose_cases())

    def test_pooling(self):
        self.run_cases(pool_cases())

    def test_normalization(self):
        self.run_cases(norm_cases())

    def test_matmul_gemm(self):
        self.run_cases(matmul_gemm_cases())

    def test_elementwise_unary(self):
        self.run_cases(unary_cases())

    def test_elementwise_binary(self):
        self.run_cases(binary_cases())

    def test_softmax(self):
        self.run_cases(softmax_cases())

    def test_reductions(self):
        self.run_cases(reduce_cases())

    def test_argmax(self):
        self.run_cases(argmax_cases())

    def test_shape_ops(self):
        self.run_cases(shape_op_cases())

    def test_pad(self):
        self.run_cases(pad_cases())

    def test_resize(self):
        self.run_cases(resize_cases())

    def test_gather(self):
        self.run_cases(gather_cases())

    def test_logic_and_cast(self):
        self.run_cases(logic_cast_cases())

    def test_shape_subgraphs(self):
        self.run_cases(shape_subgraph_cases())

    def test_dynamic_dims_with_input_shapes(self):
        self.run_cases(dynamic_cases())

    def test_layout_through_conv_outputs(self):
        self.run_cases(layout_cases())

    def test_out_of_range_ids_are_invalid_argument(self):
        """ONNX makes an out-of-range Gather index an error. kiln checks every index a lookup
        computes from data (kiln-guard-element-reads): INVALID_ARGUMENT naming the lookup, no
        read outside the table (kilnd runs the code in-process), and kilnd keeps serving.
        Negative ids in [-16, 0) count from the end and are not errors."""
        table = f32(rng_for("oob").uniform(-1, 1, (16, 8)))
        good = np.array([[0, 15, -1, -16, 7]], np.int64)
        case = Case("gather/out_of_range", [node("Gather", ["table", "ids"], ["y"], axis=0)],
                    {"ids": good}, {"y": np.zeros((1, 5, 8))}, inits={"table": table})
        response = self.compile(case.model_bytes(), case.name)
        self.client.load(response.digest, "oob")
        try:
            # 2^32 + 3 would wrap to a valid row in a bare cast to int32: still an error.
            for bad in (1 << 40, -(1 << 40), 16, -17, (1 << 32) + 3):
                ids = good.copy()
                ids[0, 2] = bad
                with self.assertRaises(grpc.RpcError) as ctx:
                    self.client.invoke("oob", {"ids": ids})
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, bad)
                self.assertIn("an index computed from the inputs (a gather or embedding lookup) "
                              "is out of range of the tensor it indexes",
                              ctx.exception.details())
            out = self.client.invoke("oob", {"ids": good})["y"]
            np.testing.assert_array_equal(out, table[good])
        finally:
            self.client.unload("oob")
        self.assertEqual(self.server.cli("health").stdout.strip(), "SERVING")

    # --- bad input ---

    def good_case(self):
        x = f32(rng_for("good").uniform(-1, 1, (1, 2, 5, 5)))
        w = f32(rng_for("good/w").uniform(-1, 1, (3, 2, 3, 3)))
        return Case("good", [node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3],
                                  pads=[1, 1, 1, 1])],
                    {"x": x}, {"y": conv_ref(x, w, pads=(1, 1, 1, 1))}, inits={"w": w})

    def assert_invalid(self, source, *fragments, input_shapes=None, name="bad"):
        inv = grpc.StatusCode.INVALID_ARGUMENT
        details = self.assert_rpc_error(inv, fragments[0], self.compile, source, name,
                                        input_shapes=input_shapes)
        for fragment in fragments[1:]:
            self.assertIn(fragment, details)
        return details

    def bad_model(self, nodes, inputs, outputs, inits=(), opset=13, domains=()):
        graph = helper.make_graph(nodes, "bad", inputs, outputs, initializer=list(inits))
        opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
        return helper.make_model(graph, opset_imports=opsets).SerializeToString()

    def test_bad_input_is_invalid_argument_and_kilnd_keeps_serving(self):
        vi = helper.make_tensor_value_info
        F = TensorProto.FLOAT
        good = self.good_case()
        good_bytes = good.model_bytes()
        with self.subTest("truncated"):
            # Cut inside the weights: the protobuf parser cannot finish the message.
            self.assert_invalid(good_bytes[:len(good_bytes) // 2], "not an ONNX model")
        with self.subTest("not ONNX"):
            self.assert_invalid(b"this is not an ONNX model, just text\n", "not an ONNX model")
        with self.subTest("empty"):
            self.assert_invalid(b"", "not an ONNX model")
        with self.subTest("unsupported op"):
            boxes, scores = vi("boxes", F, [1, 4, 4]), vi("scores", F, [1, 1, 4])
            model = self.bad_model(
                [node("NonMaxSuppression", ["boxes", "scores"], ["sel"], name="nms_1")],
                [boxes, scores], [vi("sel", TensorProto.INT64, [None, 3])])
            self.assert_invalid(model, "node 'nms_1' (NonMaxSuppression)", "not supported")
        with self.subTest("op of another domain"):
            model = self.bad_model(
                [helper.make_node("FusedGemm", ["a", "a"], ["y"], name="fused_1",
                                  domain="com.microsoft")],
                [vi("a", F, [2, 2])], [vi("y", F, [2, 2])], domains=["com.microsoft"])
            self.assert_invalid(model, "node 'fused_1' (FusedGemm)", "com.microsoft")
        with self.subTest("unknown opset"):
            model = self.bad_model([node("Relu", ["x"], ["y"], name="relu_1")],
                                   [vi("x", F, [2])], [vi("y", F, [2])], opset=99)
            self.assert_invalid(model, "unknown opset 99")
        with self.subTest("unsupported attribute value"):
            scales = numpy_helper.from_array(f32([1, 1, 2, 2]), "scales")
            model = self.bad_model(
                [node("Resize", ["x", "", "scales"], ["y"], name="resize_cubic", mode="cubic")],
                [vi("x", F, [1, 1, 4, 4])], [vi("y", F, [1, 1, 8, 8])], inits=[scales])
            self.assert_invalid(model, "node 'resize_cubic' (Resize)", "attribute 'mode'",
                                "cubic")
        with self.subTest("training-mode BatchNormalization"):
            params = [numpy_helper.from_array(f32([1, 1]), n) for n in ("s", "b", "m", "v")]
            model = self.bad_model(
                [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn_train",
                      training_mode=1)],
                [vi("x", F, [1, 2, 3, 3])], [vi("y", F, [1, 2, 3, 3])], inits=params,
                opset=15)
            self.assert_invalid(model, "node 'bn_train' (BatchNormalization)",
                                "attribute 'training_mode'")
        with self.subTest("dynamic dim without a shape"):
            model = self.bad_model([node("Relu", ["pixel_values"], ["y"], name="relu_dyn")],
                                   [vi("pixel_values", F, ["batch", 3])],
                                   [vi("y", F, ["batch", 3])])
            self.assert_invalid(model, "input 'pixel_values' dim 0 ('batch')", "dynamic",
                                "input_shapes")
        with self.subTest("still serving"):
            self.assertEqual(self.server.cli("health").stdout.strip(), "SERVING")
            self.run_cases([good])


def main():
    global ARGS, grpc, KilnClient, compiler_pb2, module_pb2
    ARGS, argv = suite_args(client_dir=True)
    import grpc as grpc_module
    from kiln_client import KilnClient as client_class
    from kiln.compiler.v1 import compiler_pb2 as compiler_module
    from kiln.module.v1 import module_pb2 as module_module
    grpc, KilnClient = grpc_module, client_class
    compiler_pb2, module_pb2 = compiler_module, module_module
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
