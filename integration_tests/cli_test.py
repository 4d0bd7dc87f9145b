#!/usr/bin/python3
"""End-to-end: kilnd + kiln CLI on the MLP example and on bad input of every class kiln
handles. Outputs are compared with a numpy reference whose weights are read straight out of
the MLIR text, independently of the compiler."""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, suite_args  # noqa: E402

ARGS = None


def mlp_reference(model_path, x):
    """Parses the four dense constants of examples/mlp and evaluates the MLP in float64."""
    text = open(model_path).read()
    consts = {}
    for name, body, ty in re.findall(r"%(w1|b1|w2|b2) = arith.constant dense<(.*?)> : tensor<([^>]*)>",
                                     text):
        shape = [int(d) for d in ty.split("x")[:-1]]
        consts[name] = np.array(json.loads(body), dtype=np.float64).reshape(shape)
    h = np.maximum(x.astype(np.float64) @ consts["w1"] + consts["b1"], 0.0)
    return h @ consts["w2"] + consts["b2"]


def write_tiny_onnx(path, external_data=False):
    """A small ONNX model, output = Relu(input @ W) with input f32[batch, 4] (a dynamic batch
    axis), W f32[4x3]; with external_data, W is in a file "<name>.weights" beside it. Returns W.
    (python3-onnx builds it; the importer's own tests cover the ops.)"""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["mm"]),
         helper.make_node("Relu", ["mm"], ["output"])], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    if external_data:
        onnx.save(model, path, save_as_external_data=True, size_threshold=0,
                  location=os.path.basename(path) + ".weights")
    else:
        onnx.save(model, path)
    return w


def spec(name, array):
    """An --input argument: named, or positional when name is empty."""
    shape = "x".join(str(d) for d in array.shape)
    prefix = f"{name}=" if name else ""
    return f"{prefix}{shape}xf32=" + ",".join(repr(float(v)) for v in array.reshape(-1))


class CliEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        cls.server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=["--model-dir", ARGS.examples])
        cls.server.wait_ready()
        cls.tmp = tempfile.mkdtemp(prefix="kiln-cli-")
        rng = np.random.default_rng(1)
        cls.x = rng.uniform(-1, 1, size=(1, 64)).astype(np.float32)
        cls.expected = mlp_reference(cls.model, cls.x)

    @classmethod
    def tearDownClass(cls):
        # Clean drain on SIGTERM: exit code 0 and the final log line.
        cls.server.stop_cleanly()

    def cli(self, *args, **kw):
        return self.server.cli(*args, **kw)

    def assert_error(self, result, code_name, *fragments):
        self.assertEqual(result.returncode, 1, result.stderr)
        line = result.stderr.strip()
        self.assertTrue(line.startswith(f"kiln: error: {code_name}: "), line)
        for fragment in fragments:
            self.assertIn(fragment, line)
        self.assert_still_serving()

    def assert_still_serving(self):
        r = self.cli("infer", "mlp", "--input", spec("x", self.x), json_output=True)
        out = np.array(r.json["outputs"][0]["data"], dtype=np.float64).reshape(1, 10)
        np.testing.assert_allclose(out, self.expected, rtol=1e-4, atol=1e-5)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def compile_load(self, name):
        digest = self.cli("compile", self.model, json_output=True).json["digest"]
        self.cli("load", digest, "--name", name)
        return digest

    # --- compile → load → infer ---

    def test_startup_model_infers_correctly(self):
        r = self.cli("infer", "mlp", "--input", spec("x", self.x), json_output=True)
        out = r.json["outputs"][0]
        self.assertEqual(out["name"], "logits")
        self.assertEqual(out["dtype"], "f32")
        self.assertEqual(out["shape"], [1, 10])
        np.testing.assert_allclose(np.array(out["data"]).reshape(1, 10), self.expected,
                                   rtol=1e-4, atol=1e-5)

    def test_compile_load_infer_with_npy_files(self):
        first = self.cli("compile", self.model, json_output=True).json
        self.assertRegex(first["digest"], r"^sha256:[0-9a-f]{64}$")
        self.assertEqual(first["functions"][0]["name"], "main")
        # The start-up load compiled the same source with the same options: a cache hit now.
        self.assertTrue(first["cache_hit"])
        human = self.cli("compile", self.model)
        self.assertEqual(human.stdout.splitlines()[0], first["digest"])
        self.cli("load", first["digest"], "--name", "mlp_npy")
        x_path = os.path.join(self.tmp, "x.npy")
        y_path = os.path.join(self.tmp, "y.npy")
        np.save(x_path, self.x)
        self.cli("infer", "mlp_npy", "--input", "@" + x_path, "--output", "@" + y_path)
        y = np.load(y_path)
        self.assertEqual(y.dtype, np.float32)
        self.assertEqual(y.shape, (1, 10))
        np.testing.assert_allclose(y, self.expected, rtol=1e-4, atol=1e-5)
        listed = self.cli("list", json_output=True).json["modules"]
        self.assertIn("mlp_npy", [m["name"] for m in listed])
        self.cli("unload", "mlp_npy")
        listed = self.cli("list", json_output=True).json["modules"]
        self.assertNotIn("mlp_npy", [m["name"] for m in listed])

    def test_human_infer_output(self):
        r = self.cli("infer", "mlp", "--input", spec("x", self.x))
        self.assertTrue(r.stdout.startswith("logits: f32[1x10] = ["), r.stdout)

    # --- bad input, one class at a time; the daemon keeps serving after each ---

    def test_malformed_mlir(self):
        path = self.write("bad.mlir", "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
                                      "  return %y : tensor<4xf32>\n}\n")
        self.assert_error(self.cli("compile", path, check=False), "INVALID_ARGUMENT",
                          "bad.mlir:2:10: error: use of undeclared SSA value name")

    def test_unsupported_op(self):
        path = self.write("scf.mlir", "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
                                      "  %0 = scf.execute_region -> tensor<4xf32> {\n"
                                      "    scf.yield %x : tensor<4xf32>\n  }\n"
                                      "  return %0 : tensor<4xf32>\n}\n")
        self.assert_error(self.cli("compile", path, check=False), "INVALID_ARGUMENT",
                          "scf.mlir:2:8: error: unsupported op 'scf.execute_region'")

    def test_dynamic_shape(self):
        path = self.write("dyn.mlir", "func.func @g(%x: tensor<?xf32>) -> tensor<?xf32> {\n"
                                      "  return %x : tensor<?xf32>\n}\n")
        self.assert_error(self.cli("compile", path, check=False), "INVALID_ARGUMENT",
                          "dyn.mlir:1:1: error: function 'g' argument #0 of type tensor<?xf32>: "
                          "a dynamic leading (batch) dim needs a batch size to compile for")
        # With a batch it compiles; only the batch may be dynamic.
        out = self.cli("compile", path, "--batch-size", "3", json_output=True).json
        self.assertEqual(out["functions"][0]["inputs"][0],
                         {"name": "arg0", "dtype": "f32", "shape": [3], "batched": True})
        two = self.write("dyn2.mlir", "func.func @g(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {\n"
                                      "  return %x : tensor<?x?xf32>\n}\n")
        self.assert_error(self.cli("compile", two, "--batch-size", "3", check=False),
                          "INVALID_ARGUMENT",
                          "dyn2.mlir:1:1: error: function 'g' argument #0 of type "
                          "tensor<?x?xf32>: dim 1 is dynamic; only the leading (batch) dim may be")

    def test_compile_onnx_load_infer(self):
        path = os.path.join(self.tmp, "tiny.onnx")
        w = write_tiny_onnx(path)
        # The batch axis is dynamic: without a shape the importer says which input and how.
        self.assert_error(self.cli("compile", path, check=False), "INVALID_ARGUMENT",
                          "input 'input' dim 0 ('batch')", "--input-shape")
        compiled = self.cli("compile", path, "--input-shape", "input=2x4", json_output=True).json
        fn = compiled["functions"][0]
        self.assertEqual(fn["name"], "main")
        self.cli("load", compiled["digest"], "--name", "tiny")
        x = np.array([[1, 2, 3, 4], [-1, 0.5, 0, 2]], dtype=np.float32)
        r = self.cli("infer", "tiny", "--input", spec("input", x), json_output=True)
        out = r.json["outputs"][0]
        self.assertEqual((out["name"], out["shape"]), ("output", [2, 3]))
        np.testing.assert_allclose(np.array(out["data"]).reshape(2, 3), np.maximum(x @ w, 0),
                                   rtol=1e-5, atol=1e-6)
        # Another shape is another artifact; the same one is a cache hit.
        other = self.cli("compile", path, "--input-shape", "input=1x4", json_output=True).json
        self.assertNotEqual(other["digest"], compiled["digest"])
        again = self.cli("compile", "--input-format", "onnx", "--input-shape", "input=2x4", path,
                         json_output=True).json
        self.assertEqual(again["digest"], compiled["digest"])
        self.assertTrue(again["cache_hit"])
        self.cli("unload", "tiny")

    def test_onnx_options(self):
        # --input-shape is parsed before anything is sent.
        for shape, why in (("x", "no '='"), ("x=1x0", "dims must be positive, not 0"),
                           ("x=1xf32", "'f32' is not a positive integer")):
            r = self.cli("compile", self.model, "--input-shape", shape, check=False)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(r.stderr.strip().splitlines()[-1],
                             f"kiln: error: input shape '{shape}': {why} "
                             "(expected NAME=DIMxDIM..., e.g. input=1x3x224x224)")
        r = self.cli("compile", self.model, "--input-shape", "x=1", "--input-shape", "x=2",
                     check=False)
        self.assertEqual(r.stderr.strip(), "kiln: error: input 'x' has more than one shape "
                                           "(1 and 2)")
        # Shapes are for ONNX graph inputs; the server refuses them for MLIR.
        self.assert_error(self.cli("compile", self.model, "--input-shape", "x=1x64", check=False),
                          "INVALID_ARGUMENT", "ONNX")
        # MLIR text as ONNX, by flag or by extension: the importer refuses it.
        self.assert_error(self.cli("compile", self.model, "--input-format", "onnx", check=False),
                          "INVALID_ARGUMENT")
        with open(self.model) as f:
            path = self.write("mlp.onnx", f.read())
        self.assert_error(self.cli("compile", path, check=False), "INVALID_ARGUMENT")
        self.assertIsNotNone(self.cli("compile", path, "--input-format", "linalg",
                                      json_output=True).json["digest"])

    def test_unknown_digest_and_names(self):
        self.assert_error(self.cli("load", "sha256:" + "0" * 64, "--name", "nope", check=False),
                          "NOT_FOUND", "no artifact sha256:" + "0" * 64)
        self.assert_error(self.cli("load", "sha256:xyz", "--name", "nope", check=False),
                          "INVALID_ARGUMENT", "is not an artifact digest")
        self.assert_error(self.cli("infer", "missing", "--input", spec("x", self.x), check=False),
                          "NOT_FOUND", "no module named 'missing' is loaded")
        self.assert_error(self.cli("infer", "mlp", "--function", "nope", "--input",
                                   spec("x", self.x), check=False),
                          "NOT_FOUND", "module 'mlp' has no function 'nope'; functions: main")
        self.assert_error(self.cli("unload", "missing", check=False), "NOT_FOUND",
                          "no module named 'missing' is loaded")

    def test_wrong_inputs_state_the_signature(self):
        signature = "signature: main(x: f32[1x64]) -> (logits: f32[1x10])"
        self.assert_error(self.cli("infer", "mlp", "--input", spec("y", self.x), check=False),
                          "INVALID_ARGUMENT", "unknown input 'y'", signature)
        self.assert_error(self.cli("infer", "mlp", "--input", "x=1x64xi32=" + ",".join(["1"] * 64),
                                   check=False),
                          "INVALID_ARGUMENT", "input 'x': expected f32[1x64], got i32[1x64]",
                          signature)
        self.assert_error(self.cli("infer", "mlp", "--input", spec("x", self.x[:, :32]),
                                   check=False),
                          "INVALID_ARGUMENT", "input 'x': expected f32[1x64], got f32[1x32]",
                          signature)
        self.assert_error(self.cli("infer", "mlp", "--input", spec("x", self.x), "--input",
                                   spec("", self.x), check=False),
                          "INVALID_ARGUMENT", "expects 1 input, got 2", signature)

    def test_corrupt_cached_module(self):
        digest = self.cli("compile", self.model, json_output=True).json["digest"]
        path = os.path.join(self.server.cache_dir, "modules", digest[len("sha256:"):] + ".kmod")
        record = path[: -len(".kmod")] + ".sum"
        with open(path, "rb") as f:
            original = f.read()
        with open(record, "rb") as f:
            original_record = f.read()

        def replace(content):
            # Written in place (same inode), record and all (a dropped entry loses both): the
            # "mlp" model loaded at start-up from this artifact holds its own copy of the bytes,
            # so assert_error's inference still answers correctly, with no SIGBUS.
            for name, data in ((path, content), (record, original_record)):
                if os.path.lexists(name) and not os.path.isfile(name):
                    os.remove(name)
                with open(name, "wb") as f:
                    f.write(data)

        try:
            replace(original[: len(original) // 2])
            self.assert_error(self.cli("load", digest, "--name", "trunc", check=False),
                              "DATA_LOSS", "fails its integrity check", "(truncated)")
            flipped = bytearray(original)
            flipped[-1] ^= 0xFF  # inside the last segment
            for name, content in (("magic", b"NOTKILN!" + original[8:]),
                                  ("version", original[:8] + (99).to_bytes(4, "little")
                                   + original[12:]),
                                  ("flipped", bytes(flipped))):
                replace(content)
                self.assert_error(self.cli("load", digest, "--name", name, check=False),
                                  "DATA_LOSS", "does not match its authentication record")
            # Another valid module with a checksum anyone can compute: not served.
            with open(self.model) as f:
                source = f.read()
            other = self.cli("compile", self.write("other.mlir", "// other\n" + source),
                             json_output=True).json["digest"]
            with open(os.path.join(self.server.cache_dir, "modules",
                                   other[len("sha256:"):] + ".kmod"), "rb") as f:
                planted = f.read()
            replace(planted)
            with open(record, "w") as f:
                f.write("sha256:" + hashlib.sha256(planted).hexdigest() + f" {len(planted)}\n")
            self.assert_error(self.cli("load", digest, "--name", "planted", check=False),
                              "DATA_LOSS", "its authentication record is malformed")
            # A FIFO in place of the module: refused at once, not waited on until the deadline.
            replace(b"")
            os.remove(path)
            os.mkfifo(path)
            self.assert_error(self.cli("load", digest, "--name", "fifo", check=False),
                              "INVALID_ARGUMENT", "is not a regular file")
            # Compiling again notices the corrupt entry and rebuilds it.
            replace(bytes(flipped))
            again = self.cli("compile", self.model, json_output=True).json
            self.assertFalse(again["cache_hit"])
            self.cli("load", digest, "--name", "rebuilt")
            self.cli("unload", "rebuilt")
            self.assertTrue(self.cli("compile", self.model, json_output=True).json["cache_hit"])
        finally:
            replace(original)

    def test_unreachable_server(self):
        r = subprocess.run([ARGS.kiln, "--server", "127.0.0.1:1", "health"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("kiln: cannot reach kilnd at 127.0.0.1:1"), lines[0])


def main():
    global ARGS
    ARGS, argv = suite_args()
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
