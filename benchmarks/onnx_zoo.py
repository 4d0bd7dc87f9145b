#!/usr/bin/python3
"""The ONNX model zoo of issue 14, exported at run time from PyTorch (Debian's python3-torch
1.13 and python3-torchvision 0.14): no weights are downloaded, every model is randomly
initialised from a fixed seed, so the same run always exports the same bytes.

Shared by the model-level integration test (integration_tests/onnx_zoo_test.py) and the
benchmark (benchmarks/bench_models.py):

- `build_model(name)`: the model in eval() mode (torch.manual_seed(0) before construction);
- `example_input(name, batch, seed)`: a float32 input for it;
- `export_onnx(model, name, path, opset, dynamic)`: torch.onnx.export, with a dynamic batch
  axis (`dynamic_axes`) when asked;
- `write_repository(repo, ...)`: a kilnd model repository, `<name>_op<opset>_<static|dynamic>/
  1/model.onnx`, with `config.json` {"input_shapes": {...}} for the dynamic ones;
- `torch_reference(model, x)`: PyTorch's own output (eager, no_grad);
- `torch_jit(model, x)`: PyTorch's best CPU path, `optimize_for_inference(freeze(trace))`.

The models:
- resnet18, mobilenet_v2 and regnet_x_400mf (grouped convolutions, 16 channels per group):
  torchvision, 1000 classes, input `input` f32[N,3,224,224]; resnext50_32x4d (32 groups) for
  benchmarks only, asked for by name;
- transformer: nn.TransformerEncoder of 4 nn.TransformerEncoderLayer(d_model=256, nhead=4,
  dim_feedforward=2048 (PyTorch's default), activation="gelu", batch_first=True), input `input`
  f32[N,64,256]: a sequence of 64 tokens, already embedded (64: the length at which PyTorch's
  jit path takes the 5.6 ms on one thread that issue 14 measured on this machine);
- mlp: 784-256-128-10 with ReLU (nn.Linear), input `input` f32[N,784].
BatchNorm statistics, norm parameters and attention biases are random too, and each encoder
layer has its own weights (`_randomize`).
Every export names its input `input` and its output `output`.

torch 1.13 cannot export (or trace) the fused "fast path" of nn.TransformerEncoderLayer, which
eval() takes under torch.no_grad(); exports and traces here run with grad enabled, where the
layer takes its plain path (the same math).
"""
import json
import os

# name -> per-sample input shape (the batch axis comes first)
INPUT_SHAPES = {
    "resnet18": (3, 224, 224),
    "mobilenet_v2": (3, 224, 224),
    "regnet_x_400mf": (3, 224, 224),
    "transformer": (64, 256),
    "mlp": (784,),
    "resnext50_32x4d": (3, 224, 224),
}
# What the zoo test and `make bench-models` take by default; resnext50_32x4d (4 GFLOP a run)
# only when named.
MODELS = [name for name in INPUT_SHAPES if name != "resnext50_32x4d"]
INPUT_NAME = "input"
OUTPUT_NAME = "output"
TRANSFORMER = dict(d_model=256, nhead=4, dim_feedforward=2048, num_layers=4, seq=64)


def _torch():
    import torch
    return torch


def build_model(name):
    """The model `name`, randomly initialised after torch.manual_seed(0), in eval() mode."""
    torch = _torch()
    torch.manual_seed(0)
    if name == "resnet18":
        import torchvision
        model = torchvision.models.resnet18(weights=None)
    elif name == "mobilenet_v2":
        import torchvision
        model = torchvision.models.mobilenet_v2(weights=None)
    elif name == "regnet_x_400mf":
        import torchvision
        model = torchvision.models.regnet_x_400mf(weights=None)
    elif name == "resnext50_32x4d":
        import torchvision
        model = torchvision.models.resnext50_32x4d(weights=None)
    elif name == "transformer":
        nn = torch.nn
        layer = nn.TransformerEncoderLayer(
            d_model=TRANSFORMER["d_model"], nhead=TRANSFORMER["nhead"],
            dim_feedforward=TRANSFORMER["dim_feedforward"], activation="gelu", batch_first=True)
        model = nn.TransformerEncoder(layer, num_layers=TRANSFORMER["num_layers"],
                                      enable_nested_tensor=False)
    elif name == "mlp":
        nn = torch.nn
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                              nn.Linear(128, 10))
    else:
        raise ValueError(f"unknown zoo model {name!r}; known: {', '.join(MODELS)}")
    _randomize(model)
    return model.eval()


def _randomize(model):
    """Gives parameters that default to constants random values too, so that nothing an
    exporter or compiler could fold away stays trivial: BatchNorm statistics and affine
    parameters (default 0/1: a folded BN would be an identity), LayerNorm's, attention biases
    (default 0), and every TransformerEncoder layer its own weights (nn.TransformerEncoder
    deep-copies one layer, and the ONNX export then shares one set of initializers)."""
    torch = _torch()
    nn = torch.nn
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            elif isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.8, 1.2)
                module.bias.normal_(0, 0.1)
            elif isinstance(module, nn.TransformerEncoderLayer):
                for name, p in module.named_parameters():
                    if "norm" in name:
                        continue
                    if p.dim() > 1:
                        nn.init.xavier_uniform_(p)
                    else:
                        p.normal_(0, 0.02)


def example_input(name, batch=1, seed=1):
    """A float32 input of `batch` samples: images/features uniform in [-1, 1), the
    transformer's embedded tokens standard normal."""
    import numpy as np
    rng = np.random.default_rng(seed)
    shape = (batch,) + INPUT_SHAPES[name]
    if name == "transformer":
        return rng.standard_normal(shape).astype(np.float32)
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def export_onnx(model, name, path, opset, dynamic, batch=1):
    """Exports `model` to `path` (ONNX, `opset`); with `dynamic`, the batch axis of the input
    and the output is the symbolic dim "batch". Grad stays enabled (see the module doc)."""
    torch = _torch()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    x = torch.from_numpy(example_input(name, batch))
    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None
    with torch.enable_grad():
        torch.onnx.export(model, (x,), path, opset_version=opset, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=dynamic_axes,
                          do_constant_folding=True)
    return path


def repository_name(name, opset, dynamic):
    return f"{name}_op{opset}_{'dynamic' if dynamic else 'static'}"


def write_repository(repo, names=MODELS, opsets=(13, 17), variants=(False, True),
                     dynamic_batch=2, models=None):
    """Exports every (model, opset, static/dynamic) into the model repository `repo`:
    `<name>_op<opset>_<static|dynamic>/1/model.onnx`; the dynamic ones get a config.json that
    gives the batch dim (`dynamic_batch`). Returns [{"model", "name", "opset", "dynamic",
    "batch", "path", "export_seconds"}]. `models`: {name: built model} to reuse."""
    import time
    entries = []
    for name in names:
        model = (models or {}).get(name) or build_model(name)
        for opset in opsets:
            for dynamic in variants:
                model_name = repository_name(name, opset, dynamic)
                path = os.path.join(repo, model_name, "1", "model.onnx")
                start = time.perf_counter()
                export_onnx(model, name, path, opset, dynamic)
                batch = 1
                if dynamic:
                    batch = dynamic_batch
                    with open(os.path.join(repo, model_name, "config.json"), "w") as f:
                        json.dump({"input_shapes": {
                            INPUT_NAME: [batch] + list(INPUT_SHAPES[name])}}, f)
                entries.append({"model": model_name, "name": name, "opset": opset,
                                "dynamic": dynamic, "batch": batch, "path": path,
                                "export_seconds": time.perf_counter() - start})
    return entries


def torch_reference(model, x):
    """PyTorch's own output for the numpy input `x` (eager, no_grad), as float32 numpy."""
    torch = _torch()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def torch_jit(model, x):
    """PyTorch 1.13's best CPU inference path for batch `x`: optimize_for_inference(freeze(
    trace(model))). Traced with grad enabled (the transformer's fused path does not trace);
    run it under torch.no_grad()."""
    torch = _torch()
    example = torch.from_numpy(x)
    with torch.enable_grad():
        traced = torch.jit.trace(model, (example,), check_trace=False)
    frozen = torch.jit.freeze(traced.eval())
    optimized = torch.jit.optimize_for_inference(frozen)
    with torch.no_grad():
        for _ in range(3):  # the profiling executor specialises on the first calls
            optimized(example)
    return optimized


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Export the ONNX zoo into a model repository")
    parser.add_argument("repo")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--opsets", default="13,17")
    parser.add_argument("--variants", default="static,dynamic")
    args = parser.parse_args()
    for e in write_repository(args.repo, [m for m in args.models.split(",") if m],
                              [int(o) for o in args.opsets.split(",")],
                              [v == "dynamic" for v in args.variants.split(",")]):
        print(f"{e['model']}: {e['path']} ({e['export_seconds']:.1f} s)")
