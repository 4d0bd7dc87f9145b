#!/usr/bin/python3
"""End-to-end: hostile compiles (issue 15). Compiles run in sandboxed worker processes, so a
program that crashes MLIR's parser, exhausts the compiler's memory or takes minutes fails that
one compile with the right status while kilnd keeps serving; deadlines, cancellation, SIGTERM
and --compile-timeout kill compiles; the compile queue is bounded; unknown enum values and
target features are refused."""
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, RpcAssertions, suite_args  # noqa: E402

ARGS = None
grpc = None
compiler_pb2 = None
KilnClient = None

CRASHED = "the compiler crashed on this program (SIGSEGV)"


def nested(depth, open_, close_, template):
    return template.format(open_ * depth + close_ * depth)


# The parser-stack attacks of issue 15, each about 100-200 KB.
DEEP_ATTRIBUTE = nested(
    100000, "[", "]", "func.func @main(%a: tensor<4xf32> {{kiln.x = {}}}) -> tensor<4xf32> "
    "{{ return %a : tensor<4xf32> }}")
DEEP_TUPLE = nested(
    100000, "tuple<", ">", "func.func private @f(%a: {})\n")
DEEP_AFFINE = nested(
    100000, "(", ")", "#m = affine_map<(d0) -> ({}d0)>\n"
    "func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {{ return %a : tensor<4xf32> }}")
DEEP_MODULE = nested(100000, "module {", "}", "{}")


def slow_program(ops=1500, salt=0):
    """A chain of elementwise adds: compile time grows super-linearly (seconds at 1000).
    `salt` changes the bytes so concurrent compiles are not merged."""
    lines = [f"// salt {salt}", "func.func @main(%x: tensor<64xf32>) -> tensor<64xf32> {",
             "  %e = tensor.empty() : tensor<64xf32>"]
    prev = "%x"
    for i in range(ops):
        lines.append(f"  %v{i} = linalg.add ins({prev}, %x : tensor<64xf32>, tensor<64xf32>) "
                     "outs(%e : tensor<64xf32>) -> tensor<64xf32>")
        prev = f"%v{i}"
    lines += [f"  return {prev} : tensor<64xf32>", "}"]
    return "\n".join(lines) + "\n"


# 620 bytes that ask the compiler for a 30000x30000 constant, transposed, as a matmul weight.
BIG_WEIGHT = """
func.func @main(%x: tensor<1x30000xf32>) -> tensor<1x30000xf32> {
  %w = arith.constant dense<1.0> : tensor<30000x30000xf32>
  %e = tensor.empty() : tensor<30000x30000xf32>
  %t = linalg.transpose ins(%w : tensor<30000x30000xf32>) outs(%e : tensor<30000x30000xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x30000xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<1x30000xf32>) -> tensor<1x30000xf32>
  %y = linalg.matmul ins(%x, %t : tensor<1x30000xf32>, tensor<30000x30000xf32>) outs(%f : tensor<1x30000xf32>) -> tensor<1x30000xf32>
  return %y : tensor<1x30000xf32>
}
"""

# 1.6 GB of weights that do reach the module: past the worker's address-space limit.
HUGE_MODULE = """
func.func @main(%x: tensor<20000xf32>) -> tensor<20000xf32> {
  %w = arith.constant dense<1.5> : tensor<20000x20000xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<20000xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<20000xf32>) -> tensor<20000xf32>
  %y = linalg.vecmat ins(%x, %w : tensor<20000xf32>, tensor<20000x20000xf32>) outs(%f : tensor<20000xf32>) -> tensor<20000xf32>
  return %y : tensor<20000xf32>
}
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class HostileCompiles(RpcAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mlp_path = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        with open(cls.mlp_path, "rb") as f:
            cls.mlp = f.read()
        cls.server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=[
            "--model-dir", ARGS.examples, "--compile-workers", "2", "--compile-queue", "1",
            "--compile-memory-limit", "1536MiB"])
        cls.server.wait_ready()
        cls.client = KilnClient(cls.server.address)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop_cleanly()

    def request(self, source, **options):
        if isinstance(source, str):
            source = source.encode()
        return compiler_pb2.CompileRequest(
            source=source, source_name="hostile.mlir",
            options=compiler_pb2.CompileOptions(do_not_cache=True, **options))

    def compile(self, source, timeout=120, **options):
        return self.client.compiler.Compile(self.request(source, **options), timeout=timeout)

    def assert_serving(self):
        """kilnd is alive, SERVING, compiles and answers an inference correctly."""
        self.assertIsNone(self.server.proc.poll(), f"kilnd exited:\n{self.server.logs()}")
        self.assertEqual(self.server.cli("health").stdout.strip(), "SERVING")
        self.assertTrue(self.compile(self.mlp).digest.startswith("sha256:"))
        x = np.random.default_rng(1).standard_normal((1, 64)).astype(np.float32)
        out = self.client.infer("mlp", {"x": x})
        self.assertEqual(out["logits"].shape, (1, 10))
        self.assertTrue(np.all(np.isfinite(out["logits"])))

    def metric(self, name):
        for line in self.server.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name}")

    def test_parser_stack_overflows_fail_one_compile(self):
        for source in (DEEP_ATTRIBUTE, DEEP_TUPLE, DEEP_AFFINE, DEEP_MODULE):
            with self.subTest(source=source[:30]):
                # Either the parser refuses the depth itself or its worker dies of it.
                with self.assertRaises(grpc.RpcError) as ctx:
                    self.compile(source)
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT,
                                 ctx.exception.details())
        self.assert_serving()

    def test_memory_exhaustion_is_resource_exhausted(self):
        self.assert_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              "the compile ran out of memory (each compile may use 1.5 GiB of "
                              "address space: --compile-memory-limit)",
                              self.compile, HUGE_MODULE)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.compile(BIG_WEIGHT)
        self.assertIn(ctx.exception.code(), (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                             grpc.StatusCode.INVALID_ARGUMENT),
                      ctx.exception.details())
        self.assert_serving()

    def test_deadlines_kill_compiles(self):
        before = self.metric("kiln_compile_worker_kills_total")
        errors = []

        def one(salt):
            try:
                self.compile(slow_program(salt=salt), timeout=3)
                errors.append("compiled")
            except grpc.RpcError as e:
                errors.append(e.code())

        threads = [threading.Thread(target=one, args=(salt,)) for salt in range(2)]
        start = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [grpc.StatusCode.DEADLINE_EXCEEDED] * 2)
        # The workers are killed, not left to finish: nothing is compiling a moment later.
        deadline = time.time() + 5
        while self.metric("kiln_compiles_running") > 0 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.metric("kiln_compiles_running"), 0)
        self.assertLess(time.time() - start, 9)
        self.assertEqual(self.metric("kiln_compile_worker_kills_total"), before + 2)
        self.assert_serving()

    def test_compile_queue_is_bounded(self):
        # 2 workers and 1 queue slot: of four slow compiles at once, one is refused.
        results = []
        lock = threading.Lock()

        def one(salt):
            try:
                self.compile(slow_program(salt=100 + salt), timeout=4)
                code = "OK"
            except grpc.RpcError as e:
                code = (e.code(), e.details())
            with lock:
                results.append(code)

        threads = [threading.Thread(target=one, args=(salt,)) for salt in range(4)]
        for t in threads:
            t.start()
            time.sleep(0.2)
        for t in threads:
            t.join()
        refused = [r for r in results if r != "OK" and r[0] == grpc.StatusCode.RESOURCE_EXHAUSTED]
        self.assertEqual(len(refused), 1, results)
        self.assertIn("the compile queue is full", refused[0][1])
        self.assert_serving()

    def test_integer_division_by_zero_has_a_defined_result(self):
        # Once SIGFPE in kilnd; now x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN (wraps),
        # INT_MIN % -1 = 0 (kiln-guard-integer-division).
        source = """
func.func @main(%a: tensor<4xi32> {kiln.name = "a"}, %b: tensor<4xi32> {kiln.name = "b"})
    -> (tensor<4xi32> {kiln.name = "q"}, tensor<4xi32> {kiln.name = "r"}) {
  %e = tensor.empty() : tensor<4xi32>
  %q = linalg.div ins(%a, %b : tensor<4xi32>, tensor<4xi32>) outs(%e : tensor<4xi32>) -> tensor<4xi32>
  %f = tensor.empty() : tensor<4xi32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>,
                                        affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%a, %b : tensor<4xi32>, tensor<4xi32>) outs(%f : tensor<4xi32>) {
  ^bb0(%x: i32, %y: i32, %o: i32):
    %m = arith.remsi %x, %y : i32
    linalg.yield %m : i32
  } -> tensor<4xi32>
  return %q, %r : tensor<4xi32>, tensor<4xi32>
}
"""
        digest = self.compile(source).digest
        self.client.load(digest, "divide")
        int_min = np.iinfo(np.int32).min
        a = np.array([7, -7, int_min, 9], np.int32)
        b = np.array([0, 0, -1, 2], np.int32)
        for _ in range(2):  # the daemon survives the first call and answers the second
            out = self.client.infer("divide", {"a": a, "b": b})
            np.testing.assert_array_equal(out["q"], np.array([0, 0, int_min, 4], np.int32))
            np.testing.assert_array_equal(out["r"], np.array([7, -7, 0, 1], np.int32))
        self.client.unload("divide")
        self.assert_serving()

    def test_gather_index_out_of_range_is_invalid_argument(self):
        # Once a wild read in kilnd (an id of 10^9 killed it; one a little past the table read
        # other memory); now every index a body computes from data is checked
        # (kiln-guard-element-reads): INVALID_ARGUMENT, no results, nothing read out of bounds.
        source = """
func.func @main(%t: tensor<1x64x8xf32> {kiln.name = "table"},
                %ids: tensor<1x5xi32> {kiln.name = "ids"})
    -> (tensor<1x5x8xf32> {kiln.name = "rows"}, tensor<5xf32> {kiln.name = "firsts"}) {
  %g = tosa.gather %t, %ids : (tensor<1x64x8xf32>, tensor<1x5xi32>) -> tensor<1x5x8xf32>
  %e = tensor.empty() : tensor<5xf32>
  %f = linalg.generic {indexing_maps = [affine_map<(i) -> (0, i)>, affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%ids : tensor<1x5xi32>) outs(%e : tensor<5xf32>) {
  ^bb0(%id: i32, %o: f32):
    %k = arith.index_cast %id : i32 to index
    %c0 = arith.constant 0 : index
    %v = tensor.extract %t[%c0, %k, %c0] : tensor<1x64x8xf32>
    linalg.yield %v : f32
  } -> tensor<5xf32>
  return %g, %f : tensor<1x5x8xf32>, tensor<5xf32>
}
"""
        table = np.arange(64 * 8, dtype=np.float32).reshape(1, 64, 8)
        good = np.array([[0, 63, 5, 5, 1]], np.int32)
        message = ("an index computed from the inputs (a gather or embedding lookup) is out of "
                   "range of the tensor it indexes; nothing was read out of bounds and no "
                   "results were returned: check the index inputs")
        for model in (1, 2):  # async, inline-dynamic
            digest = self.compile(source, execution_model=model).digest
            name = f"gather{model}"
            self.client.load(digest, name)
            for bad in (10**9, 64, -1, -(2**31)):
                ids = good.copy()
                ids[0, 3] = bad
                details = self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, message,
                                                self.client.infer, name,
                                                {"table": table, "ids": ids})
                self.assertIn("export 'main__dispatch_", details)
            out = self.client.infer(name, {"table": table, "ids": good})
            np.testing.assert_array_equal(out["rows"], table[0][good[0]][None])
            np.testing.assert_array_equal(out["firsts"], table[0, good[0], 0])
            self.client.unload(name)
        self.assert_serving()

    def test_unknown_enums_and_features_are_refused(self):
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "unknown executable_format 99",
                              self.compile, self.mlp, executable_format=99)
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "unknown execution_model 77",
                              self.compile, self.mlp, execution_model=77)
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "unknown target feature '+evil'",
                              self.compile, self.mlp, target_features=["+evil"])
        self.assert_serving()

    def test_source_digest_is_answered_from_the_cache_only(self):
        """A client names a large source by its tree hash (CompileRequest.source_digest): a hit
        without the upload, NOT_FOUND before the first compile, and nothing is ever stored
        under a digest a client claims."""
        import kiln_client
        # The MLP with a 2 MiB comment: over the client's probe threshold, the same program.
        source = self.mlp + b"\n// " + b"k" * (2 << 20) + b"\n"
        digest = kiln_client.source_digest(source)

        def probe(source_digest=digest, source=b"", **options):
            return self.client.compiler.Compile(compiler_pb2.CompileRequest(
                source=source, source_digest=source_digest, source_name="big.mlir",
                options=compiler_pb2.CompileOptions(**options)), timeout=60)

        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND,
                              f"no artifact compiled from source {digest} with these options: "
                              "send the source to compile it", probe)
        first = self.client.compile(source, source_name="big.mlir")  # probes, then sends it
        self.assertFalse(first.cache_hit)
        hit = probe()
        self.assertTrue(hit.cache_hit)
        self.assertEqual(hit.digest, first.digest)
        self.assertEqual([t.phase for t in hit.timings], ["cache"])
        self.assertEqual([f.name for f in hit.functions], ["main"])
        self.assertTrue(self.client.compile(source).cache_hit)  # the client's own probe hits
        # Other options are another artifact; a one-byte change is another source.
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, "no artifact compiled from source",
                              probe, execution_model=2)
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, "no artifact compiled from source",
                              probe, kiln_client.source_digest(source[:-2] + b"j\n"))
        # Malformed requests.
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT,
                              "the request sets both source and source_digest: send one of them",
                              probe, source=source)
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT,
                              "answered from the artifact cache only; do_not_cache needs the "
                              "source", probe, do_not_cache=True)
        for bad in ("sha256:" + "A" * 64, "sha256:abc", "md5:" + "0" * 64, "\x00" * 4000):
            details = self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT,
                                            "is not \"sha256:\" and 64 lowercase hex digits",
                                            probe, bad)
            self.assertLess(len(details), 400)  # a 4 KB digest is not echoed back
        self.assert_serving()


class CompileLifetimes(RpcAssertions, unittest.TestCase):
    """Separate daemons: SIGTERM during a compile, and a model repository with a model that
    takes longer than --compile-timeout."""

    def test_sigterm_kills_compiles_within_the_drain_time(self):
        server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=["--drain-seconds", "2"])
        try:
            server.wait_ready()
            client = KilnClient(server.address)
            request = compiler_pb2.CompileRequest(source=slow_program(2000).encode(),
                                                  source_name="slow.mlir")
            futures = [client.compiler.Compile.future(request, timeout=120) for _ in range(2)]
            time.sleep(1.0)
            start = time.time()
            code = server.terminate(timeout=30)
            elapsed = time.time() - start
            self.assertEqual(code, 0, server.logs())
            self.assertLess(elapsed, 6, server.logs())
            for future in futures:
                with self.assertRaises(grpc.RpcError):
                    future.result()
            client.close()
        finally:
            server.cleanup()

    def test_slow_model_does_not_hold_the_others_hostage(self):
        repo = tempfile.mkdtemp(prefix="kiln-hostile-repo-")
        try:
            write(os.path.join(repo, "slow", "1", "model.mlir"), slow_program(3000))
            shutil.copytree(os.path.join(ARGS.examples, "mlp"), os.path.join(repo, "mlp"))
            server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=[
                "--model-dir", repo, "--compile-timeout", "4", "--compile-workers", "2"])
            try:
                start = time.time()
                client = KilnClient(server.address)
                client.wait_ready(timeout=30)
                # The MLP is ready while the slow model still compiles.
                while not client.model_ready("mlp") and time.time() - start < 30:
                    time.sleep(0.1)
                self.assertTrue(client.model_ready("mlp"))
                # ...that is, before the slow one's compile has ended (it times out after 4 s
                # of compiling). Asserted as an order, not as wall time since start: under load
                # kilnd's own start-up took most of 4 s.
                index = {m["name"]: m for m in client.repository_index()}
                self.assertNotIn("--compile-timeout", index["slow"].get("reason", ""),
                                 server.logs())
                self.assertFalse(client.model_ready("slow"))
                server.wait_ready(timeout=30)
                self.assertLess(time.time() - start, 15, server.logs())
                self.assertFalse(client.model_ready("slow"))
                index = {m["name"]: m for m in client.repository_index()}
                self.assertIn("--compile-timeout", index["slow"]["reason"])
                client.close()
            finally:
                self.assertEqual(server.terminate(), 0, server.logs())
                server.cleanup()
        finally:
            shutil.rmtree(repo, ignore_errors=True)


def main():
    global ARGS, grpc, compiler_pb2, KilnClient
    ARGS, argv = suite_args(client_dir=True)
    import grpc as grpc_module
    from kiln.compiler.v1 import compiler_pb2 as cpb2
    from kiln_client import KilnClient as Client
    grpc, compiler_pb2, KilnClient = grpc_module, cpb2, Client
    unittest.main(argv=argv)


if __name__ == "__main__":
    main()
