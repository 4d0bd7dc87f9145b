#!/usr/bin/python3
"""End-to-end: nothing a request does at run time can kill kilnd or grow its memory (issue 15).
A real kilnd on a free loopback port, driven by the Python client (client_cli/python):

- a program returning linalg.fill of tensor<100000x100000xf32> (40 GB) is RESOURCE_EXHAUSTED
  (it used to abort kilnd with an uncaught std::bad_alloc), and a 400 MB output is refused
  before it runs, over kiln's Invoke and KServe ModelInfer;
- names longer than 256 bytes are INVALID_ARGUMENT on both APIs;
- 60 Invoke calls naming unknown 4 MiB modules leave RSS and /metrics bounded (they used to add
  536 MiB and stop /metrics from answering); an unloaded model's series go away;
- 8 concurrent 100 MiB requests of the wrong size leave RSS back near where it was (of 8 x 200
  MiB, 682 MiB used to stay held);

each with its exact status, and kilnd still answering correctly afterwards."""
import os
import re
import sys
import threading
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, RpcAssertions, suite_args  # noqa: E402
from cli_test import mlp_reference  # noqa: E402

ARGS = None
grpc = None
KilnClient = None

MIB = 1 << 20
LIMIT = 256 * MIB  # kilnd's default --max-message-bytes


def fill_program(shape, value=1.0):
    """main() -> tensor<shape x f32> filled with `value`."""
    t = "tensor<%sxf32>" % "x".join(str(d) for d in shape)
    return (f"func.func @main() -> {t} {{\n"
            f"  %c = arith.constant {value} : f32\n"
            f"  %e = tensor.empty() : {t}\n"
            f"  %f = linalg.fill ins(%c : f32) outs(%e : {t}) -> {t}\n"
            f"  return %f : {t}\n"
            "}\n").encode()


def too_large(module, nbytes):
    return (f"function 'main' of module '{module}' returns {nbytes} bytes of outputs, more than "
            f"the {LIMIT}-byte message limit (--max-message-bytes); it was not run")


def too_long(what, n):
    return f"{what} is {n} bytes long; names are limited to 256 bytes"


class RuntimeLimits(RpcAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mlp_path = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        cls.kilnd = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=["--model-dir", ARGS.examples],
                          workers=2)
        try:
            cls.kilnd.wait_ready()
            cls.client = KilnClient(cls.kilnd.address)
            cls.client.wait_ready()
        except Exception:
            cls.kilnd.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.kilnd.stop_cleanly()

    # ---- helpers ----

    def rss_mib(self):
        with open(f"/proc/{self.kilnd.proc.pid}/status") as f:
            return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) / 1024

    def settled_rss_mib(self):
        """RSS once kilnd has handled what it just received (the trim runs shortly after the
        last large request)."""
        time.sleep(0.5)
        return self.rss_mib()

    def assert_serving(self):
        """kilnd is alive, SERVING, and the MLP still answers correctly on both APIs."""
        self.assertIsNone(self.kilnd.proc.poll(), f"kilnd exited:\n{self.kilnd.logs()}")
        self.assertEqual(self.kilnd.cli("health").stdout.strip(), "SERVING")
        x = np.random.default_rng(15).uniform(-1, 1, size=(1, 64)).astype(np.float32)
        expected = mlp_reference(self.mlp_path, x)
        for out in (self.client.invoke("mlp", {"x": x})["logits"],
                    self.client.infer("mlp", {"x": x})["logits"]):
            np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)

    def load_fill(self, name, shape, value=1.0):
        digest = self.client.compile(fill_program(shape, value),
                                     source_name=f"{name}.mlir").digest
        self.client.load(digest, name)

    def invocations(self, name):
        return {m.name: m.invocation_count for m in self.client.list()}[name]

    # ---- 1. outputs too large to return ----

    def test_1_fill_of_40_gb_is_resource_exhausted(self):
        self.load_fill("fill", (100000, 100000))
        message = too_large("fill", 100000 * 100000 * 4)
        for call in (lambda: self.client.invoke("fill", {}),
                     lambda: self.client.infer("fill", {})):
            details = self.assert_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "", call)
            self.assertEqual(details, message)
        self.assertEqual(self.invocations("fill"), 0)
        self.assert_serving()
        self.client.unload("fill")

    def test_2_oversized_output_is_refused_before_running(self):
        self.load_fill("fill400", (100, 1000000))  # 400 MB
        started = time.perf_counter()
        details = self.assert_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "",
                                        self.client.invoke, "fill400", {})
        elapsed = time.perf_counter() - started
        self.assertEqual(details, too_large("fill400", 400000000))
        self.assertEqual(self.invocations("fill400"), 0)  # never run
        print(f"\n400 MB output refused in {elapsed * 1000:.1f} ms", file=sys.stderr)
        self.assertLess(elapsed, 1.0)
        # Under the limit, the same program runs and returns every element.
        self.load_fill("fill4", (1000,), value=4.0)
        outputs = self.client.invoke("fill4", {})
        self.assertEqual(list(outputs), ["result0"])
        np.testing.assert_array_equal(outputs["result0"], np.full((1000,), 4.0, np.float32))
        for name in ("fill400", "fill4"):
            self.client.unload(name)
        self.assert_serving()

    # ---- 2. names ----

    def test_3_long_names_are_invalid_argument(self):
        x = np.zeros((1, 64), np.float32)
        huge, just_over = "m" * (4 * MIB), "m" * 257
        cases = [
            (lambda: self.client.invoke(huge, {"x": x}), too_long("the module name", 4 * MIB)),
            (lambda: self.client.invoke(just_over, {"x": x}), too_long("the module name", 257)),
            (lambda: self.client.invoke("mlp", {"x": x}, function=just_over),
             too_long("the function name", 257)),
            (lambda: self.client.invoke("mlp", {just_over: x}), too_long("an input name", 257)),
            (lambda: self.client.infer(huge, {"x": x}), too_long("the model name", 4 * MIB)),
            (lambda: self.client.infer("mlp", {"x": x}, version=just_over),
             too_long("the model version", 257)),
            (lambda: self.client.infer("mlp", {just_over: x}), too_long("an input name", 257)),
            (lambda: self.client.infer("mlp", {"x": x}, outputs=[just_over]),
             too_long("a requested output name", 257)),
            (lambda: self.client.model_metadata(just_over), too_long("the model name", 257)),
            (lambda: self.client.model_ready(just_over), too_long("the model name", 257)),
            (lambda: self.client.load(self.client.list()[0].digest, just_over),
             too_long("the module name", 257)),
        ]
        for call, message in cases:
            details = self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "", call)
            self.assertEqual(details, message)
        # 256 bytes is a name like any other: not loaded.
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, "no module named 'mmm",
                              self.client.invoke, "m" * 256, {"x": x})
        self.assert_serving()

    def test_4_unknown_names_leave_memory_and_metrics_bounded(self):
        x = np.zeros((1, 64), np.float32)
        self.assert_serving()
        before = self.settled_rss_mib()
        unknown_before = self.requests_metric("Invoke", "<unknown>")
        for i in range(60):
            self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "the module name is",
                                  self.client.invoke, f"{i}" + "u" * (4 * MIB), {"x": x})
            self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, "is loaded",
                                  self.client.invoke, f"unknown-{i}", {"x": x})
        after = self.settled_rss_mib()
        started = time.perf_counter()
        text = self.kilnd.metrics()
        scrape = time.perf_counter() - started
        print(f"\n120 unknown names (60 of 4 MiB): RSS {before:.0f} -> {after:.0f} MiB, "
              f"/metrics {len(text)} bytes in {scrape * 1000:.1f} ms", file=sys.stderr)
        self.assertLess(after - before, 32)
        self.assertLess(len(text), 200_000)
        self.assertLess(scrape, 2.0)
        self.assertNotIn("unknown-0", text)
        self.assertNotIn("uuuu", text)
        self.assertEqual(self.requests_metric("Invoke", "<unknown>"), unknown_before + 120)
        # A loaded model has its own series until it is unloaded.
        self.load_fill("labelled", (4,))
        self.client.invoke("labelled", {})
        self.assertEqual(self.requests_metric("Invoke", "labelled"), 1)
        self.client.unload("labelled")
        self.assertNotIn('model="labelled"', self.kilnd.metrics())
        self.assert_serving()

    def requests_metric(self, rpc, model):
        m = re.search(r'^kiln_requests_total\{rpc="%s",model="%s"\} (\S+)$'
                      % (rpc, re.escape(model)), self.kilnd.metrics(), re.M)
        return float(m.group(1)) if m else 0.0

    # ---- 3. memory of failed requests ----

    def test_5_failed_large_requests_give_their_memory_back(self):
        self.assert_serving()
        before = self.settled_rss_mib()
        # The issue's repro sent 200 MiB each (682 MiB stayed held); half that keeps the test
        # short (kilnd takes about 3 s of CPU to receive 200 MiB here).
        bad = np.ones((1, 25 * MIB), np.float32)  # 100 MiB where the MLP takes 256 bytes
        expected = "input 'x': expected f32[1x64], got f32[1x26214400]"
        errors = []

        def call(i):
            try:
                (self.client.infer if i % 2 else self.client.invoke)("mlp", {"x": bad})
                errors.append(f"request {i} succeeded")
            except grpc.RpcError as e:
                if (e.code() != grpc.StatusCode.INVALID_ARGUMENT or
                        not e.details().startswith(expected)):
                    errors.append(f"request {i}: {e.code()}: {e.details()[:200]}")

        threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        peak = before
        while any(t.is_alive() for t in threads):
            peak = max(peak, self.rss_mib())
            time.sleep(0.01)
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        after = self.settled_rss_mib()
        print(f"\n8 concurrent 100 MiB requests of the wrong size: RSS {before:.0f} MiB, "
              f"peak {peak:.0f}, after {after:.0f}", file=sys.stderr)
        self.assertLess(after - before, 64)
        self.assert_serving()


def main():
    global ARGS, grpc, KilnClient
    ARGS, argv = suite_args(client_dir=True)
    import grpc as grpc_module
    from kiln_client import KilnClient as client_class
    grpc, KilnClient = grpc_module, client_class
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
