#!/usr/bin/python3
"""End-to-end: kilnd under load and at its limits, driven by the Python client
(client_cli/python): many concurrent clients with every output checked against numpy, a full
inference queue, deadlines, client cancellation, unloading a module during traffic and
oversized messages, each with its exact gRPC status code and message, and kilnd still serving
afterwards."""
import os
import re
import shutil
import sys
import tempfile
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
runtime_pb2 = None
module_pb2 = None

# The slow model: x: f32[512] broadcast to A (A[i, j] = x[j]), then A^(SLOW_MATMULS + 1)
# through a chain of 512x512x512 matmuls, summed over rows. Each matmul multiplies by
# S = sum(x), so y = 512 * S^SLOW_MATMULS * x: exact enough to check when S is about 1.
# ~150 ms a call on one core (inline-dynamic: everything on the worker's thread): windows
# wide enough for the queue-state polls below on a loaded 2-core CI machine (at 30 matmuls,
# ~80 ms, a busy call under load could end before the request queued behind it was seen).
SLOW_MATMULS = 60
QUEUE_FULL = "the inference queue is full (1 requests waiting); retry later"
QUEUED_DEADLINE = "the request's deadline passed while it waited in the queue; it was not run"


def slow_model(matmuls=SLOW_MATMULS):
    t = "tensor<512x512xf32>"
    lines = [
        "#bcast = affine_map<(i, j) -> (j)>",
        "#id2 = affine_map<(i, j) -> (i, j)>",
        'func.func @main(%x: tensor<512xf32> {kiln.name = "x"}) -> '
        '(tensor<512xf32> {kiln.name = "y"}) {',
        "  %zero = arith.constant 0.0 : f32",
        f"  %e = tensor.empty() : {t}",
        '  %a = linalg.generic {indexing_maps = [#bcast, #id2], '
        'iterator_types = ["parallel", "parallel"]}',
        f"      ins(%x : tensor<512xf32>) outs(%e : {t}) {{",
        "  ^bb0(%v: f32, %o: f32):",
        "    linalg.yield %v : f32",
        f"  }} -> {t}",
        f"  %z = linalg.fill ins(%zero : f32) outs(%e : {t}) -> {t}",
    ]
    prev = "%a"
    for i in range(matmuls):
        lines.append(f"  %m{i} = linalg.matmul ins({prev}, %a : {t}, {t}) outs(%z : {t}) -> {t}")
        prev = f"%m{i}"
    lines += [
        "  %re = tensor.empty() : tensor<512xf32>",
        "  %rz = linalg.fill ins(%zero : f32) outs(%re : tensor<512xf32>) -> tensor<512xf32>",
        '  %r = linalg.generic {indexing_maps = [#id2, #bcast], '
        'iterator_types = ["reduction", "parallel"]}',
        f"      ins({prev} : {t}) outs(%rz : tensor<512xf32>) {{",
        "  ^bb0(%v: f32, %acc: f32):",
        "    %s = arith.addf %v, %acc : f32",
        "    linalg.yield %s : f32",
        "  } -> tensor<512xf32>",
        "  return %r : tensor<512xf32>",
        "}",
    ]
    return "\n".join(lines) + "\n"


def slow_input(rng):
    x = rng.uniform(0.5, 1.5, size=512)
    return (x / x.sum()).astype(np.float32)


def slow_reference(x):
    x64 = x.astype(np.float64)
    return 512.0 * x64.sum() ** SLOW_MATMULS * x64


def invoke_tensor(x):
    """kiln's own API tensor "x" for an f32 array."""
    return runtime_pb2.Tensor(name="x", dtype=module_pb2.DATA_TYPE_F32, shape=x.shape,
                              data=x.tobytes())


def mlp_close(out, expected):
    return (out.shape == expected.shape and
            bool(np.all(np.abs(out - expected) <= 1e-5 + 1e-4 * np.abs(expected))))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def start_servers(specs):
    """Starts several kilnd side by side, then waits for each."""
    servers = [Kilnd(ARGS.kilnd, ARGS.kiln, **spec) for spec in specs]
    try:
        for server in servers:
            server.wait_ready()
    except Exception:
        for server in servers:
            server.cleanup()
        raise
    return servers


class ServiceLimits(RpcAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mlp_path = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        cls.repo = tempfile.mkdtemp(prefix="kiln-slow-repo-")
        write(os.path.join(cls.repo, "slow", "1", "model.mlir"), slow_model())
        write(os.path.join(cls.repo, "slow", "config.json"),
              '{"execution_model": "inline-dynamic"}')
        # main: the example MLP, 2 workers. slow: 1 worker, 1 queue slot. small: 64 KiB messages.
        cls.main, cls.slow, cls.small = start_servers([
            dict(extra_args=["--model-dir", ARGS.examples], workers=2),
            dict(extra_args=["--model-dir", cls.repo, "--max-queue", "1"], workers=1),
            dict(extra_args=["--model-dir", ARGS.examples, "--max-message-bytes", "65536"],
                 workers=1),
        ])
        cls.servers = [cls.main, cls.slow, cls.small]
        cls.clients = []

    @classmethod
    def tearDownClass(cls):
        for client in cls.clients:
            client.close()
        failures = []
        for server in cls.servers:
            code = server.terminate()
            if code != 0:
                failures.append(f"kilnd exit code {code} on SIGTERM:\n{server.logs()}")
            server.cleanup()
        shutil.rmtree(cls.repo, ignore_errors=True)
        assert not failures, "\n".join(failures)

    def client(self, server, **kwargs):
        c = KilnClient(server.address, **kwargs)
        self.clients.append(c)
        return c

    # ---- helpers ----

    def assert_serving(self, server, client=None):
        """kilnd is alive, reports SERVING, and still answers an inference."""
        self.assertIsNone(server.proc.poll(), f"kilnd exited:\n{server.logs()}")
        self.assertEqual(server.cli("health").stdout.strip(), "SERVING")
        client = client or self.client(server)
        self.assertTrue(client.server_live())
        self.assertTrue(client.server_ready())

    def check_slow(self, x, out):
        np.testing.assert_allclose(out, slow_reference(x), rtol=1e-3, atol=1e-6)

    def slow_request(self, client, x):
        return client.infer_request("slow", {"x": x})

    def invocations(self, client, name):
        return {m.name: m.invocation_count for m in client.list()}[name]

    def failures_metric(self, server, model, code, rpc="ModelInfer"):
        pattern = (r'^kiln_request_failures_total\{rpc="%s",model="%s",code="%s"\} (\S+)$'
                   % (rpc, re.escape(model), code))
        m = re.search(pattern, server.metrics(), re.MULTILINE)
        return float(m.group(1)) if m else 0.0

    def wait_gauge(self, server, name, value, timeout=10):
        """Polls /metrics until the gauge `name` reads `value` (e.g. a worker is busy)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r"^%s (\S+)$" % name, server.metrics(), re.MULTILINE)
            if m and float(m.group(1)) == value:
                return
            time.sleep(0.002)
        self.fail(f"{name} never reached {value}")

    def wait_idle(self, client):
        """A synchronous call on the slow model once its queue is empty (a request that expired
        or was cancelled there may still wait for the worker to drop it): with one worker and a
        FIFO, everything queued before it has been dealt with when it returns."""
        self.wait_gauge(self.slow, "kiln_queue_depth", 0)
        x = slow_input(np.random.default_rng(99))
        self.check_slow(x, client.infer("slow", {"x": x})["y"])

    # ---- 1. many concurrent clients ----

    def test_1_concurrent_clients(self):
        threads_n, calls = 8, 500
        rng = np.random.default_rng(11)
        xs = rng.uniform(-1, 1, size=(threads_n, calls, 64)).astype(np.float32)
        expected = mlp_reference(self.mlp_path, xs.reshape(-1, 64)).reshape(threads_n, calls, 10)
        errors, done = [], [0] * threads_n
        clients = [self.client(self.main) for _ in range(threads_n)]  # a channel each
        start = threading.Barrier(threads_n)

        def run(t):
            c = clients[t]
            try:
                c.wait_ready()
                start.wait()
                for i in range(calls):
                    x = xs[t, i:i + 1]
                    # Half the clients on kiln's own API, half on KServe v2.
                    out = (c.invoke("mlp", {"x": x}, request_id=f"{t}-{i}")["logits"]
                           if t % 2 == 0 else c.infer("mlp", {"x": x})["logits"])
                    if not mlp_close(out, expected[t, i:i + 1]):
                        errors.append(f"client {t} call {i}: {out} != {expected[t, i:i + 1]}")
                    done[t] += 1
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(f"client {t} call {done[t]}: {e!r}")

        began = time.perf_counter()
        workers = [threading.Thread(target=run, args=(t,)) for t in range(threads_n)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - began
        self.assertEqual(errors, [])
        self.assertEqual(sum(done), threads_n * calls)
        print(f"\n{threads_n} clients x {calls} MLP inferences: {elapsed:.2f} s, "
              f"{threads_n * calls / elapsed:.0f}/s", file=sys.stderr)
        self.assertEqual(self.failures_metric(self.main, "mlp", "INTERNAL", rpc="Invoke"), 0)
        self.assert_serving(self.main)

    # ---- 2. a full queue ----

    def test_2_queue_full(self):
        client = self.client(self.slow)
        client.wait_ready()
        rng = np.random.default_rng(2)
        n = 10
        xs = [slow_input(rng) for _ in range(n)]
        futures = []
        for i, x in enumerate(xs):
            if i % 2 == 0:
                futures.append(client.kserve.ModelInfer.future(self.slow_request(client, x),
                                                               timeout=60))
            else:
                tensor = invoke_tensor(x)
                futures.append(client.runtime.Invoke.future(
                    runtime_pb2.InvokeRequest(module="slow", inputs=[tensor]), timeout=60))
        ok = exhausted = 0
        for i, (x, f) in enumerate(zip(xs, futures)):
            try:
                response = f.result()
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, e.details())
                self.assertEqual(e.details(), QUEUE_FULL)
                exhausted += 1
                continue
            if i % 2 == 0:
                out = KilnClient.decode_outputs(response)["y"]
            else:
                out = np.frombuffer(response.outputs[0].data, np.float32)
            self.check_slow(x, out)
            ok += 1
        self.assertGreaterEqual(ok, 1)
        self.assertGreaterEqual(exhausted, 1)
        self.assertEqual(ok + exhausted, n)
        print(f"\nqueue full: {ok} served, {exhausted} RESOURCE_EXHAUSTED", file=sys.stderr)
        self.assertGreaterEqual(self.failures_metric(self.slow, "slow", "RESOURCE_EXHAUSTED"), 1)
        # Still serving, one request after another.
        for _ in range(2):
            self.wait_idle(client)
        self.assert_serving(self.slow, client)

    # ---- 3. a deadline that passes in the queue ----

    def test_3_deadline_in_queue(self):
        client = self.client(self.slow)
        client.wait_ready()
        self.wait_idle(client)
        before = self.invocations(client, "slow")
        deadline_failures = self.failures_metric(self.slow, "slow", "DEADLINE_EXCEEDED")
        rng = np.random.default_rng(3)
        busy_x, late_x = slow_input(rng), slow_input(rng)
        busy = client.kserve.ModelInfer.future(self.slow_request(client, busy_x), timeout=60)
        self.wait_gauge(self.slow, "kiln_workers_busy", 1)  # the only worker runs `busy` (~80 ms)
        details = self.assert_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "",
                                        client.kserve.ModelInfer,
                                        self.slow_request(client, late_x), timeout=0.02)
        # The client's own deadline usually fires first; kilnd's reason when it answers first.
        self.assertTrue(details == "Deadline Exceeded" or QUEUED_DEADLINE in details, details)
        self.check_slow(busy_x, KilnClient.decode_outputs(busy.result())["y"])
        self.wait_idle(client)  # queued behind the expired one: it has been dealt with
        # The expired request was never run: only `busy` and wait_idle's call were.
        self.assertEqual(self.invocations(client, "slow"), before + 2)
        self.assertEqual(self.failures_metric(self.slow, "slow", "DEADLINE_EXCEEDED"),
                         deadline_failures + 1)
        self.assert_serving(self.slow, client)

    # ---- 4. client cancellation ----

    def test_4_cancel(self):
        client = self.client(self.slow)
        client.wait_ready()
        self.wait_idle(client)
        before = self.invocations(client, "slow")
        cancelled_failures = self.failures_metric(self.slow, "slow", "CANCELLED")
        rng = np.random.default_rng(4)
        busy_x, queued_x = slow_input(rng), slow_input(rng)
        busy = client.kserve.ModelInfer.future(self.slow_request(client, busy_x), timeout=60)
        self.wait_gauge(self.slow, "kiln_workers_busy", 1)
        queued = client.kserve.ModelInfer.future(self.slow_request(client, queued_x), timeout=60)
        self.wait_gauge(self.slow, "kiln_queue_depth", 1)  # `queued` waits behind `busy`
        self.assertTrue(queued.cancel())
        self.assertTrue(queued.cancelled())
        self.assertEqual(queued.code(), grpc.StatusCode.CANCELLED)
        with self.assertRaises(grpc.FutureCancelledError):
            queued.result()
        self.check_slow(busy_x, KilnClient.decode_outputs(busy.result())["y"])
        self.wait_idle(client)
        # The cancelled request was never run, and kilnd counted it as cancelled.
        self.assertEqual(self.invocations(client, "slow"), before + 2)
        self.assertEqual(self.failures_metric(self.slow, "slow", "CANCELLED"),
                         cancelled_failures + 1)

        # Cancelling a request while it runs: the client sees CANCELLED at once.
        running = client.kserve.ModelInfer.future(self.slow_request(client, busy_x), timeout=60)
        self.wait_gauge(self.slow, "kiln_workers_busy", 1)
        self.assertTrue(running.cancel())
        self.assertEqual(running.code(), grpc.StatusCode.CANCELLED)
        self.wait_idle(client)
        self.assert_serving(self.slow, client)

    # ---- 5. unloading a module during traffic ----

    def test_5_unload_during_traffic(self):
        admin = self.client(self.main)
        digest = admin.compile(self.mlp_path).digest
        admin.load(digest, "victim")
        threads_n = 4
        rng = np.random.default_rng(5)
        xs = rng.uniform(-1, 1, size=(threads_n, 64, 64)).astype(np.float32)
        expected = mlp_reference(self.mlp_path, xs.reshape(-1, 64)).reshape(threads_n, 64, 10)
        clients = [self.client(self.main) for _ in range(threads_n)]
        log = [[] for _ in range(threads_n)]  # (start, end, "ok" | "gone" | error)
        stop = threading.Event()
        gone_enough = [threading.Event() for _ in range(threads_n)]

        def hammer(t):
            c, gone, i = clients[t], 0, 0
            while not stop.is_set() and gone < 20:
                x = xs[t, i % 64:i % 64 + 1]
                began = time.perf_counter()
                try:
                    out = c.invoke("victim", {"x": x})["logits"]
                    outcome = ("ok" if mlp_close(out, expected[t, i % 64:i % 64 + 1])
                               else f"wrong output {out}")
                except grpc.RpcError as e:
                    if (e.code() == grpc.StatusCode.NOT_FOUND and
                            "no module named 'victim' is loaded" in e.details()):
                        outcome, gone = "gone", gone + 1
                    else:
                        outcome = f"{e.code()}: {e.details()}"
                log[t].append((began, time.perf_counter(), outcome))
                i += 1
            gone_enough[t].set()

        workers = [threading.Thread(target=hammer, args=(t,)) for t in range(threads_n)]
        for w in workers:
            w.start()
        time.sleep(0.3)
        unload_began = time.perf_counter()
        admin.unload("victim")
        unload_done = time.perf_counter()
        for event in gone_enough:
            event.wait(timeout=30)
        stop.set()
        for w in workers:
            w.join()

        for t, calls in enumerate(log):
            outcomes = [o for _, _, o in calls]
            self.assertEqual([o for o in outcomes if o not in ("ok", "gone")], [], f"client {t}")
            self.assertIn("ok", outcomes, f"client {t}")
            first_gone = outcomes.index("gone")
            # Once gone, always gone; calls before the unload all succeeded, calls after it
            # all got NOT_FOUND.
            self.assertEqual(set(outcomes[first_gone:]), {"gone"}, f"client {t}")
            for began, ended, outcome in calls:
                if ended < unload_began:
                    self.assertEqual(outcome, "ok")
                if began > unload_done:
                    self.assertEqual(outcome, "gone")
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, "no module named 'victim' is loaded",
                              admin.unload, "victim")
        self.assertNotIn("victim", [m.name for m in admin.list()])

        # A call that is running when its module is unloaded finishes with the right answer.
        slow_digest = admin.compile(slow_model().encode(), source_name="slow.mlir",
                                    execution_model="inline-dynamic").digest
        admin.load(slow_digest, "slowvictim")
        x = slow_input(rng)
        tensor = invoke_tensor(x)
        running = admin.runtime.Invoke.future(
            runtime_pb2.InvokeRequest(module="slowvictim", inputs=[tensor]), timeout=60)
        self.wait_gauge(self.main, "kiln_workers_busy", 1)  # it runs now (~80 ms)
        admin.unload("slowvictim")
        self.assertFalse(running.done())
        out = np.frombuffer(running.result().outputs[0].data, np.float32)
        self.check_slow(x, out)
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, "no module named 'slowvictim' is loaded",
                              admin.invoke, "slowvictim", {"x": x})
        # The server is fine, and the start-up model still answers correctly.
        self.assertTrue(mlp_close(admin.invoke("mlp", {"x": xs[0, :1]})["logits"],
                                  expected[0, :1]))
        self.assert_serving(self.main, admin)

    # ---- 6. oversized messages ----

    def test_6_oversized_message(self):
        client = self.client(self.small)  # the client itself would send up to 256 MiB
        big = np.ones((1, 20000), np.float32)  # 80 KB > --max-message-bytes 65536
        for call in (lambda: client.infer("mlp", {"x": big}),
                     lambda: client.invoke("mlp", {"x": big})):
            details = self.assert_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                            "Received message larger than max", call)
            self.assertIn("vs. 65536", details)
        # Just under the limit the request reaches kiln, which rejects the shape.
        under = np.ones((1, 15000), np.float32)  # 60 KB
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "x: f32[1x64]",
                              client.infer, "mlp", {"x": under})
        x = np.random.default_rng(6).uniform(-1, 1, size=(1, 64)).astype(np.float32)
        self.assertTrue(mlp_close(client.infer("mlp", {"x": x})["logits"],
                                  mlp_reference(self.mlp_path, x)))
        self.assert_serving(self.small, client)


def main():
    global ARGS, grpc, KilnClient, runtime_pb2, module_pb2
    ARGS, argv = suite_args(client_dir=True)
    import grpc as grpc_module
    from kiln_client import KilnClient as client_class
    from kiln.runtime.v1 import runtime_pb2 as runtime_module
    from kiln.module.v1 import module_pb2 as module_module
    grpc, KilnClient = grpc_module, client_class
    runtime_pb2, module_pb2 = runtime_module, module_module
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
