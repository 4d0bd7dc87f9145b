#!/usr/bin/python3
"""End-to-end: models served for any batch (config.json max_batch_size) and Triton-style dynamic
batching, through kilnd's KServe v2 API. Numbers are checked against a numpy reference of the
MLP (cli_test.mlp_reference) and of the tiny ONNX model; every refusal has its exact code."""
import os
import shutil
import sys
import tempfile
import threading
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, RpcAssertions, suite_args  # noqa: E402
from cli_test import mlp_reference, write_tiny_onnx  # noqa: E402
from kserve_test import write  # noqa: E402

ARGS = None
grpc = None
KilnClient = None


class Batching(RpcAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mlp_path = os.path.join(ARGS.examples, "mlp_batch", "1", "model.mlir")
        with open(cls.mlp_path) as f:
            source = f.read()
        with open(os.path.join(ARGS.examples, "mlp", "1", "model.mlir")) as f:
            static_source = f.read()
        cls.repo = tempfile.mkdtemp(prefix="kiln-batch-")
        # Any batch up to 8, run as it comes (buckets 1, 2, 4, 8; a batch of 3 runs padded to 4).
        write(os.path.join(cls.repo, "anybatch", "1", "model.mlir"), source)
        write(os.path.join(cls.repo, "anybatch", "config.json"), '{"max_batch_size": 8}')
        # Dynamic batching with a long delay, so that concurrent requests surely merge.
        write(os.path.join(cls.repo, "merged", "1", "model.mlir"), source)
        write(os.path.join(cls.repo, "merged", "config.json"),
              '{"max_batch_size": 16, "dynamic_batching": {"max_queue_delay_microseconds": '
              '200000, "preferred_batch_size": [6]}}')
        # A static program cannot be batched: UNAVAILABLE, saying why.
        write(os.path.join(cls.repo, "static", "1", "model.mlir"), static_source)
        write(os.path.join(cls.repo, "static", "config.json"), '{"max_batch_size": 4}')
        # ONNX: the dynamic first axis is the batch.
        os.makedirs(os.path.join(cls.repo, "onnxbatch", "1"))
        cls.tiny_w = write_tiny_onnx(os.path.join(cls.repo, "onnxbatch", "1", "model.onnx"))
        write(os.path.join(cls.repo, "onnxbatch", "config.json"), '{"max_batch_size": 4}')
        cls.server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=["--model-dir", cls.repo])
        cls.server.wait_ready()
        cls.client = KilnClient(cls.server.address)
        cls.rng = np.random.default_rng(11)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        code = cls.server.terminate()
        logs = cls.server.logs()
        cls.server.cleanup()
        shutil.rmtree(cls.repo, ignore_errors=True)
        assert code == 0, f"kilnd exit code {code} on SIGTERM:\n{logs}"

    def x(self, batch):
        return self.rng.uniform(-1, 1, size=(batch, 64)).astype(np.float32)

    def assert_mlp(self, x, out):
        self.assertEqual(out.shape, (x.shape[0], 10))
        np.testing.assert_allclose(out, mlp_reference(self.mlp_path, x), rtol=1e-4, atol=1e-5)

    def test_metadata_reports_the_batch_dim_as_minus_one(self):
        meta = self.client.model_metadata("anybatch")
        self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in meta.inputs],
                         [("x", "FP32", [-1, 64])])
        self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in meta.outputs],
                         [("logits", "FP32", [-1, 10])])
        self.assertEqual(meta.properties["max_batch_size"], "8")
        self.assertEqual(meta.properties["batch_buckets"], "1,2,4,8")
        self.assertEqual(meta.properties["dynamic_batching"], "false")
        self.assertEqual(self.client.model_metadata("merged").properties["batch_buckets"],
                         "1,2,4,6,8,16")

    def test_every_batch_up_to_the_maximum(self):
        for batch in range(1, 9):
            x = self.x(batch)
            out = self.client.infer("anybatch", {"x": x})
            self.assert_mlp(x, out["logits"])
        # Typed contents too, and a batch that runs padded (3 in the bucket of 4).
        x = self.x(3)
        self.assert_mlp(x, self.client.infer("anybatch", {"x": x}, raw=False)["logits"])

    def test_bad_batches_are_refused_with_the_reason(self):
        inv = grpc.StatusCode.INVALID_ARGUMENT
        self.assert_rpc_error(inv, "a batch of 9 is over model 'anybatch''s max_batch_size of 8",
                              self.client.infer, "anybatch", {"x": self.x(9)})
        self.assert_rpc_error(inv, "input 'x': expected f32[?x64], got f32[2x63]",
                              self.client.infer, "anybatch",
                              {"x": np.zeros((2, 63), np.float32)})
        self.assert_rpc_error(inv, "input 'x': the batch (dim 0) is 0; it must be at least 1",
                              self.client.infer, "anybatch",
                              {"x": np.zeros((0, 64), np.float32)})
        # The server still answers.
        x = self.x(2)
        self.assert_mlp(x, self.client.infer("anybatch", {"x": x})["logits"])

    def test_a_static_program_cannot_be_batched(self):
        index = {m["name"]: m for m in self.client.repository_index()}
        self.assertEqual(index["static"]["state"], "UNAVAILABLE")
        self.assertIn("no public function has an argument with a dynamic leading (batch) dim",
                      index["static"]["reason"])

    def test_onnx_dynamic_axis_is_the_batch(self):
        meta = self.client.model_metadata("onnxbatch")
        self.assertEqual([list(t.shape) for t in meta.inputs], [[-1, 4]])
        for batch in (1, 3, 4):
            x = self.rng.uniform(-1, 1, size=(batch, 4)).astype(np.float32)
            out = self.client.infer("onnxbatch", {"input": x})["output"]
            np.testing.assert_allclose(out, np.maximum(x @ self.tiny_w, 0), rtol=1e-5, atol=1e-6)

    def concurrently(self, model, requests):
        """Sends every request at once from its own thread; returns (outputs, errors) by index."""
        outputs, errors = [None] * len(requests), [None] * len(requests)
        start = threading.Barrier(len(requests))

        def send(i):
            start.wait()
            try:
                outputs[i] = self.client.infer(model, requests[i])
            except grpc.RpcError as e:
                errors[i] = e

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return outputs, errors

    def test_dynamic_batching_merges_concurrent_requests(self):
        (before,) = self.client.model_statistics("merged")
        xs = [self.x(1 + i % 3) for i in range(12)]
        outputs, errors = self.concurrently("merged", [{"x": x} for x in xs])
        self.assertEqual(errors, [None] * 12)
        for x, out in zip(xs, outputs):
            self.assert_mlp(x, out["logits"])
        (after,) = self.client.model_statistics("merged")
        rows = sum(x.shape[0] for x in xs)
        self.assertEqual(after.inference_count - before.inference_count, rows)
        executions = after.execution_count - before.execution_count
        # 24 rows in batches of at most 16 that wait 200 ms to fill: a few executions, not 12.
        self.assertGreaterEqual(executions, 2)
        self.assertLess(executions, 12)
        merged = {s.batch_size: s.compute_infer.count for s in after.batch_stats}
        self.assertGreater(max(merged), 3)
        self.assertIn('kiln_batch_size_count{model="merged"}', self.server.metrics())

    def test_a_bad_request_fails_alone(self):
        requests = [{"x": self.x(1)} for _ in range(5)]
        requests[2] = {"x": np.zeros((1, 65), np.float32)}  # refused before it is queued
        requests[3] = {"x": self.x(17)}                      # over the maximum
        outputs, errors = self.concurrently("merged", requests)
        self.assertEqual(errors[2].code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(errors[3].code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("max_batch_size of 16", errors[3].details())
        for i in (0, 1, 4):
            self.assertIsNone(errors[i])
            self.assert_mlp(requests[i]["x"], outputs[i]["logits"])

    def test_a_deadline_passes_while_the_batch_forms(self):
        # Alone, a request waits the whole 200 ms delay: a 50 ms deadline passes first.
        self.assert_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "", self.client.infer, "merged",
                              {"x": self.x(1)}, timeout=0.05)
        # The same with the request's own "timeout" parameter (Triton's schedule policy, in
        # microseconds) and no gRPC deadline: kilnd itself fails it, waking at the timeout.
        request = KilnClient.infer_request("merged", {"x": self.x(1)})
        request.parameters["timeout"].int64_param = 50000
        self.assert_rpc_error(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "the request's deadline passed while it waited for a batch; it was not run",
            self.client.kserve.ModelInfer, request, timeout=30)
        request.parameters["timeout"].string_param = "soon"
        self.assert_rpc_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            "the request parameter 'timeout' must be a non-negative int64 (microseconds; 0: none)",
            self.client.kserve.ModelInfer, request, timeout=30)
        x = self.x(6)  # a preferred size: sent at once
        self.assert_mlp(x, self.client.infer("merged", {"x": x})["logits"])


def main():
    global ARGS, grpc, KilnClient
    ARGS, argv = suite_args(client_dir=True)
    import grpc as grpc_module
    from kiln_client import KilnClient as client_class
    grpc, KilnClient = grpc_module, client_class
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
