#!/usr/bin/python3
"""End-to-end, model by model: the ONNX zoo of issue 14, exported at test time from PyTorch
(benchmarks/onnx_zoo.py: resnet18, mobilenet_v2, regnet_x_400mf (grouped convolutions), a
4-layer TransformerEncoder and an MLP,
random weights from a fixed seed), each at opset 13 and 17, with a static shape and with a
dynamic batch axis whose size the model's config.json gives (`input_shapes`). One kilnd serves
the 20 models from a model repository; every one is inferred over KServe and compared with
PyTorch's own output: max |kiln - torch| <= 1e-4 x max |torch| (the output's scale), and the
same top-1 class (argmax over the last axis, per sample, or per token for the transformer)
wherever torch's top two are further apart than that tolerance allows to flip.

Compile times (the gaps between kilnd's "serving model" log lines: the repository compiles one
model after another) and export times are printed to stderr.
"""
import datetime
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
from kiln_harness import Kilnd, RpcAssertions, suite_args  # noqa: E402
import onnx_zoo  # noqa: E402

ARGS = None
grpc = None
KilnClient = None

RELATIVE_TOLERANCE = 1e-4
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\]")


def log_time(line):
    m = LOG_TIME.match(line)
    return datetime.datetime.fromisoformat(m.group(1)) if m else None


class OnnxZoo(RpcAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        torch.set_num_threads(2)
        cls.repo = tempfile.mkdtemp(prefix="kiln-zoo-")
        cls.models = {name: onnx_zoo.build_model(name) for name in onnx_zoo.MODELS}
        start = time.perf_counter()
        cls.entries = onnx_zoo.write_repository(cls.repo, models=cls.models)
        cls.export_seconds = time.perf_counter() - start
        # Inputs and PyTorch's outputs, per (model, batch).
        cls.inputs, cls.expected = {}, {}
        for e in cls.entries:
            key = (e["name"], e["batch"])
            if key not in cls.inputs:
                x = onnx_zoo.example_input(e["name"], e["batch"], seed=2)
                cls.inputs[key] = x
                cls.expected[key] = onnx_zoo.torch_reference(cls.models[e["name"]], x)
        start = time.perf_counter()
        cls.server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=["--model-dir", cls.repo])
        cls.server.wait_ready(timeout=840)
        cls.startup_seconds = time.perf_counter() - start
        cls.client = KilnClient(cls.server.address, timeout=120)
        cls.report_times()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            cls.server.stop_cleanly()
        finally:
            shutil.rmtree(cls.repo, ignore_errors=True)

    @classmethod
    def report_times(cls):
        """Per-model compile time from kilnd's log: each "serving model" (or "failed to
        compile") line ends one model's compile and load, which began at the previous one."""
        lines = cls.server.logs().splitlines()
        previous = None
        times = {}
        for line in lines:
            t = log_time(line)
            if t is None:
                continue
            if "listening on" in line:
                previous = t
            m = re.search(r"model '([^']+)' (version|\(version)", line)
            if m and previous is not None and ("serving model" in line or m.group(2) != "version"):
                times[m.group(1)] = (t - previous).total_seconds()
                previous = t
        print(f"\nexported {len(cls.entries)} models in {cls.export_seconds:.1f} s; kilnd ready "
              f"after {cls.startup_seconds:.1f} s", file=sys.stderr)
        for e in cls.entries:
            print(f"  {e['model']:28s} export {e['export_seconds']:5.1f} s, compile+load "
                  f"{times.get(e['model'], float('nan')):6.2f} s", file=sys.stderr)

    def check_model(self, name):
        index = {m["name"]: m for m in self.client.repository_index()}
        for e in [e for e in self.entries if e["name"] == name]:
            with self.subTest(model=e["model"]):
                entry = index.get(e["model"])
                self.assertIsNotNone(entry, e["model"])
                self.assertEqual(entry["state"], "READY", entry["reason"])
                x = self.inputs[(name, e["batch"])]
                want = self.expected[(name, e["batch"])]
                meta = self.client.model_metadata(e["model"])
                self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in meta.inputs],
                                 [(onnx_zoo.INPUT_NAME, "FP32", list(x.shape))])
                self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in meta.outputs],
                                 [(onnx_zoo.OUTPUT_NAME, "FP32", list(want.shape))])
                out = self.client.infer(e["model"], {onnx_zoo.INPUT_NAME: x})
                self.assertEqual(list(out), [onnx_zoo.OUTPUT_NAME])
                got = out[onnx_zoo.OUTPUT_NAME]
                self.assertEqual((got.dtype, got.shape), (np.float32, want.shape))
                self.assert_matches_torch(got, want)

    def assert_matches_torch(self, got, want):
        scale = float(np.abs(want).max())
        tolerance = RELATIVE_TOLERANCE * scale
        err = np.abs(got.astype(np.float64) - want.astype(np.float64))
        worst = np.unravel_index(np.argmax(err), err.shape)
        self.assertLessEqual(
            float(err.max()), tolerance,
            f"max |kiln - torch| {err.max():.3g} at {tuple(int(i) for i in worst)} (got "
            f"{got[worst]!r}, torch {want[worst]!r}) > {RELATIVE_TOLERANCE} x scale {scale:.3g}")
        # Top-1 over the last axis, in every row whose top two torch values are further apart
        # than the allowed error could close.
        top2 = np.sort(want.reshape(-1, want.shape[-1]), axis=-1)[:, -2:]
        decided = (top2[:, 1] - top2[:, 0]) > 2 * tolerance
        got_top = np.argmax(got.reshape(-1, got.shape[-1]), axis=-1)
        want_top = np.argmax(want.reshape(-1, want.shape[-1]), axis=-1)
        differ = np.nonzero(decided & (got_top != want_top))[0]
        self.assertEqual(differ.size, 0, f"top-1 differs in rows {differ[:10].tolist()}: kiln "
                         f"{got_top[differ[:10]].tolist()}, torch {want_top[differ[:10]].tolist()}")
        self.assertGreater(int(decided.sum()), 0)

    def test_resnet18(self):
        self.check_model("resnet18")

    def test_mobilenet_v2(self):
        self.check_model("mobilenet_v2")

    def test_regnet_x_400mf(self):  # grouped convolutions, 16 channels per group
        self.check_model("regnet_x_400mf")

    def test_transformer(self):
        self.check_model("transformer")

    def test_every_zoo_model_has_a_test(self):
        for name in onnx_zoo.MODELS:
            self.assertTrue(hasattr(self, f"test_{name}"), f"no test_{name} for zoo model {name}")

    def test_mlp(self):
        self.check_model("mlp")

    def test_cache_hit_recompile(self):
        """Compiling a served model again over the Compile RPC (same bytes, same input shapes)
        is a cache hit, and fast."""
        for e in self.entries:
            if e["name"] != "resnet18":
                continue
            shapes = ({onnx_zoo.INPUT_NAME: [e["batch"]] + list(onnx_zoo.INPUT_SHAPES["resnet18"])}
                      if e["dynamic"] else None)
            with self.subTest(model=e["model"]):
                start = time.perf_counter()
                response = self.client.compile(e["path"], source_format="onnx",
                                               input_shapes=shapes)
                seconds = time.perf_counter() - start
                self.assertTrue(response.cache_hit)
                print(f"\n{e['model']}: cache hit in {seconds * 1000:.1f} ms (client round trip)",
                      file=sys.stderr)


def main():
    global ARGS, grpc, KilnClient
    ARGS, argv = suite_args(client_dir=True)
    import grpc as grpc_module
    from kiln_client import KilnClient as client_class
    grpc, KilnClient = grpc_module, client_class
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
