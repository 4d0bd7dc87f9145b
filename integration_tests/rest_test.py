#!/usr/bin/python3
"""End-to-end: kilnd's KServe v2 HTTP/REST API (--http-listen), driven with Python's standard
library only (http.client) and with curl, against the v2 REST protocol: health, metadata,
inference with JSON tensors and Triton's binary-data extension, statistics and the repository
extension. Numbers are checked against the numpy MLP reference; every error has its exact
HTTP status and a JSON {"error": ...} body."""
import http.client
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, suite_args  # noqa: E402
from cli_test import mlp_reference  # noqa: E402

ARGS = None


class Rest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = tempfile.mkdtemp(prefix="kiln-rest-")
        for name in ("mlp", "mlp_batch"):
            shutil.copytree(os.path.join(ARGS.examples, name), os.path.join(cls.repo, name))
        cls.mlp_path = os.path.join(cls.repo, "mlp", "1", "model.mlir")
        cls.server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=[
            "--model-dir", cls.repo, "--max-message-bytes", str(1 << 20)])
        cls.server.wait_ready()
        cls.http_port = cls.server.http_port
        cls.rng = np.random.default_rng(5)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.terminate()
        logs = cls.server.logs()
        cls.server.cleanup()
        shutil.rmtree(cls.repo, ignore_errors=True)
        assert code == 0, f"kilnd exit code {code} on SIGTERM:\n{logs}"

    def call(self, method, path, body=None, headers=None):
        """(status, headers, body bytes) of one request on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, dict(response.getheaders()), data

    def json_call(self, method, path, body=None):
        status, headers, data = self.call(method, path, body)
        self.assertEqual(headers.get("Content-Type"), "application/json", data)
        return status, json.loads(data)

    def assert_error(self, status, fragment, method, path, body=None, headers=None):
        got, hdrs, data = self.call(method, path, body, headers)
        self.assertEqual(got, status, data)
        self.assertEqual(hdrs.get("Content-Type"), "application/json")
        message = json.loads(data)["error"]
        self.assertIn(fragment, message)
        return message

    def x(self, batch=1):
        return self.rng.uniform(-1, 1, size=(batch, 64)).astype(np.float32)

    def infer_json(self, x, model="mlp"):
        return {"id": "req-1", "inputs": [{"name": "x", "datatype": "FP32",
                                           "shape": list(x.shape), "data": x.tolist()}]}

    def test_health_and_server_metadata(self):
        self.assertEqual(self.json_call("GET", "/v2/health/live"), (200, {"live": True}))
        self.assertEqual(self.json_call("GET", "/v2/health/ready"), (200, {"ready": True}))
        status, meta = self.json_call("GET", "/v2")
        self.assertEqual(status, 200)
        self.assertEqual(meta["name"], "kiln")
        self.assertIn("model_repository", meta["extensions"])

    def test_model_metadata_and_ready(self):
        status, meta = self.json_call("GET", "/v2/models/mlp")
        self.assertEqual(status, 200)
        self.assertEqual(meta["inputs"], [{"name": "x", "datatype": "FP32", "shape": [1, 64]}])
        self.assertEqual(meta["outputs"],
                         [{"name": "logits", "datatype": "FP32", "shape": [1, 10]}])
        self.assertEqual(meta["versions"], ["1"])
        self.assertEqual(self.json_call("GET", "/v2/models/mlp/versions/1")[1]["name"], "mlp")
        batched = self.json_call("GET", "/v2/models/mlp_batch")[1]
        self.assertEqual(batched["inputs"][0]["shape"], [-1, 64])
        self.assertEqual(self.json_call("GET", "/v2/models/mlp/ready"),
                         (200, {"name": "mlp", "ready": True}))
        self.assertEqual(self.json_call("GET", "/v2/models/nope/ready"),
                         (400, {"name": "nope", "ready": False}))
        self.assert_error(404, "unknown model", "GET", "/v2/models/nope")
        self.assert_error(404, "has no version '7' loaded", "GET", "/v2/models/mlp/versions/7")

    def test_infer_json_tensors(self):
        x = self.x()
        status, out = self.json_call("POST", "/v2/models/mlp/infer", self.infer_json(x))
        self.assertEqual(status, 200)
        self.assertEqual((out["model_name"], out["model_version"], out["id"]),
                         ("mlp", "1", "req-1"))
        (logits,) = out["outputs"]
        self.assertEqual((logits["name"], logits["datatype"], logits["shape"]),
                         ("logits", "FP32", [1, 10]))
        np.testing.assert_allclose(np.array(logits["data"]).reshape(1, 10),
                                   mlp_reference(self.mlp_path, x), rtol=1e-4, atol=1e-5)
        # Flat data works as well as nested, and a batch of 5 on the batched model.
        x5 = self.x(5)
        body = self.infer_json(x5)
        body["inputs"][0]["data"] = x5.reshape(-1).tolist()
        status, out = self.json_call("POST", "/v2/models/mlp_batch/versions/1/infer", body)
        self.assertEqual(status, 200)
        np.testing.assert_allclose(np.array(out["outputs"][0]["data"]).reshape(5, 10),
                                   mlp_reference(self.mlp_path, x5), rtol=1e-4, atol=1e-5)

    def test_infer_binary_data_extension(self):
        x = self.x(3)
        header = json.dumps({
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 64],
                        "parameters": {"binary_data_size": x.nbytes}}],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()
        status, headers, data = self.call(
            "POST", "/v2/models/mlp_batch/infer", header + x.tobytes(),
            {"Inference-Header-Content-Length": str(len(header)),
             "Content-Type": "application/octet-stream"})
        self.assertEqual(status, 200, data)
        json_length = int(headers["Inference-Header-Content-Length"])
        doc = json.loads(data[:json_length])
        (logits,) = doc["outputs"]
        self.assertEqual(logits["parameters"], {"binary_data_size": 3 * 10 * 4})
        self.assertNotIn("data", logits)
        values = np.frombuffer(data[json_length:], dtype=np.float32).reshape(3, 10)
        np.testing.assert_allclose(values, mlp_reference(self.mlp_path, x), rtol=1e-4, atol=1e-5)
        # JSON inputs with binary outputs (request-wide), as Triton's binary_data_output.
        body = self.infer_json(x[:1])
        body["parameters"] = {"binary_data_output": True}
        status, headers, data = self.call("POST", "/v2/models/mlp/infer", body)
        self.assertEqual(status, 200, data)
        n = int(headers["Inference-Header-Content-Length"])
        self.assertEqual(len(data) - n, 40)
        np.testing.assert_allclose(struct.unpack("<10f", data[n:]),
                                   mlp_reference(self.mlp_path, x[:1])[0], rtol=1e-4, atol=1e-5)

    def test_bad_requests_have_exact_statuses(self):
        infer = "/v2/models/mlp/infer"
        self.assert_error(400, "not valid JSON", "POST", infer, b"{nope")
        self.assert_error(400, "\"inputs\" must be an array", "POST", infer, {"inputs": 3})
        self.assert_error(400, "input 'x': its shape has 64 elements but \"data\" has 2 values",
                          "POST", infer, {"inputs": [{"name": "x", "datatype": "FP32",
                                                      "shape": [1, 64], "data": [1, 2]}]})
        self.assert_error(400, "input 'x': expected f32[1x64], got f32[1x63]", "POST", infer,
                          {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 63],
                                       "data": [0] * 63}]})
        self.assert_error(400, "\"data\" holds \"a\", not a number", "POST", infer,
                          {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1],
                                       "data": ["a"]}]})
        self.assert_error(400, "datatype 'BYTES', which kiln does not support", "POST", infer,
                          {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1],
                                       "data": [1]}]})
        deep = 1
        for _ in range(100):
            deep = [deep]
        self.assert_error(400, "nested deeper than 32 arrays", "POST", infer,
                          {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1],
                                       "data": deep}]})
        header = (b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1,64],'
                  b'"parameters":{"binary_data_size":256}}]}')
        self.assert_error(400, "binary_data_size 256 is beyond the 4 bytes", "POST", infer,
                          header + b"abcd", {"Inference-Header-Content-Length": str(len(header))})
        self.assert_error(400, "Inference-Header-Content-Length is 999", "POST", infer,
                          b"{}", {"Inference-Header-Content-Length": "999"})
        self.assert_error(404, "unknown model", "POST", "/v2/models/nope/infer",
                          self.infer_json(self.x()))
        self.assert_error(400, "a batch of 65 is over model 'mlp_batch''s max_batch_size of 64",
                          "POST", "/v2/models/mlp_batch/infer", self.infer_json(self.x(65)))
        self.assert_error(404, "no such endpoint: GET /v2/nothing", "GET", "/v2/nothing")
        # Over --max-message-bytes (1 MiB here): refused before it is parsed.
        self.assert_error(413, "over kilnd's limit", "POST", infer, b"[" + b"0," * 600000 + b"0]")
        # Still serving.
        status, _ = self.json_call("POST", infer, self.infer_json(self.x()))
        self.assertEqual(status, 200)

    def test_request_timeout_parameter(self):
        """Triton's "timeout" request parameter (microseconds) is the request's deadline over
        REST: 1 us passes before the request reaches a worker (504, and it does not run); a
        generous one changes nothing; a timeout that is not an integer is 400."""
        x = self.x()
        body = self.infer_json(x)
        body["parameters"] = {"timeout": 1}
        self.assert_error(504, "the request's deadline passed while it waited in the queue; "
                          "it was not run", "POST", "/v2/models/mlp/infer", body)
        body["parameters"] = {"timeout": 30000000}
        status, out = self.json_call("POST", "/v2/models/mlp/infer", body)
        self.assertEqual(status, 200, out)
        np.testing.assert_allclose(np.array(out["outputs"][0]["data"]).reshape(1, 10),
                                   mlp_reference(self.mlp_path, x), rtol=1e-4, atol=1e-5)
        body["parameters"] = {"timeout": "soon"}
        self.assert_error(400, 'the request parameter "timeout" must be an integer (microseconds)',
                          "POST", "/v2/models/mlp/infer", body)
        body["parameters"] = {"timeout": -5}
        self.assert_error(400, "the request parameter 'timeout' must be a non-negative int64",
                          "POST", "/v2/models/mlp/infer", body)

    def test_statistics_and_repository(self):
        for _ in range(3):
            self.json_call("POST", "/v2/models/mlp_batch/infer", self.infer_json(self.x(2)))
        status, stats = self.json_call("GET", "/v2/models/mlp_batch/stats")
        self.assertEqual(status, 200)
        (model,) = stats["model_stats"]
        self.assertEqual(model["name"], "mlp_batch")
        self.assertGreaterEqual(model["inference_count"], 6)
        self.assertGreaterEqual(model["inference_stats"]["success"]["count"], 3)
        self.assertIn(2, [b["batch_size"] for b in model["batch_stats"]])
        status, index = self.json_call("POST", "/v2/repository/index", {"ready": True})
        self.assertEqual(status, 200)
        self.assertEqual(sorted(m["name"] for m in index), ["mlp", "mlp_batch"])
        self.assertEqual(self.json_call("POST", "/v2/repository/models/mlp/unload", {}),
                         (200, {}))
        self.assertEqual(self.json_call("GET", "/v2/models/mlp/ready")[0], 400)
        self.assertEqual(self.json_call("POST", "/v2/repository/models/mlp/load", {}), (200, {}))
        self.assertEqual(self.json_call("GET", "/v2/models/mlp/ready")[0], 200)
        self.assert_error(404, "nope", "POST", "/v2/repository/models/nope/load", {})

    def test_curl(self):
        x = self.x()
        out = subprocess.run(
            ["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json",
             "--data-binary", json.dumps(self.infer_json(x)),
             f"http://127.0.0.1:{self.http_port}/v2/models/mlp/infer"],
            check=True, capture_output=True, text=True).stdout
        logits = json.loads(out)["outputs"][0]["data"]
        np.testing.assert_allclose(np.array(logits).reshape(1, 10),
                                   mlp_reference(self.mlp_path, x), rtol=1e-4, atol=1e-5)
        code = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
             f"http://127.0.0.1:{self.http_port}/v2/health/ready"],
            check=True, capture_output=True, text=True).stdout
        self.assertEqual(code, "200")


def main():
    global ARGS
    ARGS, argv = suite_args()
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
