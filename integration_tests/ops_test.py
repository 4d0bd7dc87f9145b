#!/usr/bin/python3
"""End-to-end operations against real kilnd processes, one concern per test: the artifact cache
(download, list/stats, persistence across a restart, the size bound that never evicts a loaded
module's artifact, explicit eviction), merged concurrent compiles, and on one shared serving
kilnd: models, `kiln bench` and the Prometheus endpoint."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, suite_args  # noqa: E402

ARGS = None
MLP_REPO = None
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, ((label, value), ...)): float} from the Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"bad metrics line: {line!r}"
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def metric(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def x_spec():
    return "x=1x64xf32=" + ",".join(["0.25"] * 64)


def mlp_source():
    with open(os.path.join(ARGS.examples, "mlp", "1", "model.mlir")) as f:
        return f.read()


def slow_compile_source(matmuls):
    """A program that takes seconds to compile: a chain of `matmuls` 512x512 products, each its
    own dispatch with its own codegen (about 60 ms of compile time apiece on one core)."""
    t = "tensor<512x512xf32>"
    lines = [f"func.func @main(%a: {t}) -> {t} {{",
             "  %zero = arith.constant 0.0 : f32",
             f"  %e = tensor.empty() : {t}",
             f"  %z = linalg.fill ins(%zero : f32) outs(%e : {t}) -> {t}"]
    prev = "%a"
    for i in range(matmuls):
        lines.append(f"  %m{i} = linalg.matmul ins({prev}, %a : {t}, {t}) outs(%z : {t}) -> {t}")
        prev = f"%m{i}"
    lines += [f"  return {prev} : {t}", "}"]
    return "\n".join(lines) + "\n"


class ServerCase(unittest.TestCase):
    """Helpers for tests that start their own kilnd processes (stopped at the end of the test)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kiln-ops-")
        self.cache_dir = os.path.join(self.tmp, "cache")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def start(self, *extra, workers=2):
        server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=list(extra), workers=workers,
                       cache_dir=self.cache_dir)
        self.addCleanup(server.cleanup)
        server.wait_ready()
        return server

    def stop(self, server):
        self.assertEqual(server.terminate(), 0, server.logs())

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def variant(self, i):
        """The example MLP with a different comment: same program, another artifact digest."""
        return self.write(f"variant{i}.mlir", f"// variant {i}\n" + mlp_source())

    def cache_file(self, digest):
        return os.path.join(self.cache_dir, "modules", digest[len("sha256:"):] + ".kmod")

    def listed(self, server):
        return server.cli("artifacts", "list", json_output=True).json["artifacts"]

    def stats(self, server):
        return server.cli("artifacts", "stats", json_output=True).json


class ArtifactCacheTest(ServerCase):
    def test_download_list_and_stats(self):
        server = self.start()
        model = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        # compile -o: the module downloaded through GetArtifact is the cache file, byte for byte.
        out_path = os.path.join(self.tmp, "mlp.kmod")
        compiled = server.cli("compile", model, "-o", out_path, json_output=True).json
        digest = compiled["digest"]
        self.assertFalse(compiled["cache_hit"])
        self.assertFalse(compiled["merged"])
        self.assertIn(compiled["executable_format"], ("embedded-elf", "system-library"))
        with open(out_path, "rb") as f, open(self.cache_file(digest), "rb") as g:
            self.assertEqual(f.read(), g.read())
        self.assertEqual(os.path.getsize(out_path), compiled["module_size"])

        other = server.cli("compile", self.variant(0), json_output=True).json["digest"]
        self.assertNotEqual(other, digest)
        again = server.cli("compile", model, json_output=True).json
        self.assertTrue(again["cache_hit"])
        self.assertEqual(again["digest"], digest)

        listed = self.listed(server)
        # Most recently used first: the cache hit refreshed the MLP's entry.
        self.assertEqual([a["digest"] for a in listed], [digest, other])
        self.assertEqual(listed[0]["size_bytes"], compiled["module_size"])
        stats = self.stats(server)
        self.assertEqual(stats["entries"], 2)
        self.assertEqual(stats["compiles"], 2)
        self.assertEqual(stats["merged_compiles"], 0)
        self.assertEqual(stats["bytes"], sum(a["size_bytes"] for a in listed))
        human = server.cli("artifacts", "list").stdout
        self.assertTrue(human.startswith("DIGEST"), human)
        self.assertIn(digest, human)
        self.assertIn(other, human)
        self.stop(server)

    def test_cache_survives_a_restart(self):
        first = self.start()
        model = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        digest = first.cli("compile", model, json_output=True).json["digest"]
        self.stop(first)

        # A second kilnd on the same cache serves the model from it: nothing compiled.
        second = self.start("--model-dir", MLP_REPO)
        self.assertEqual(metric(parse_metrics(second.metrics()), "kiln_compiles_total"), 0)
        self.assertEqual([a["digest"] for a in self.listed(second)], [digest])
        again = second.cli("compile", model, json_output=True).json
        self.assertTrue(again["cache_hit"])
        self.assertEqual(again["digest"], digest)
        self.assertEqual(self.stats(second)["compiles"], 0)
        self.stop(second)

    def test_size_bound_never_evicts_a_loaded_module(self):
        # Learn the MLP module's size, then bound a fresh cache to two modules and a half.
        model = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        probe = self.start()
        module_size = probe.cli("compile", model, json_output=True).json["module_size"]
        self.stop(probe)
        shutil.rmtree(self.cache_dir)
        bound = module_size * 5 // 2
        server = self.start("--model-dir", MLP_REPO, "--cache-max-bytes", str(bound))
        [loaded] = self.listed(server)
        digest = loaded["digest"]
        self.assertTrue(loaded["loaded"])
        self.assertEqual(self.stats(server)["pinned_entries"], 1)

        # New artifacts push older ones out, never the loaded "mlp" (the oldest by now).
        variants = [server.cli("compile", self.variant(i), json_output=True).json["digest"]
                    for i in range(1, 5)]
        listed = self.listed(server)
        self.assertEqual([a["digest"] for a in listed], [variants[-1], digest])
        self.assertTrue(listed[1]["loaded"])
        self.assertTrue(os.path.exists(self.cache_file(digest)))
        for gone in variants[:-1]:
            self.assertFalse(os.path.exists(self.cache_file(gone)), gone)
        stats = self.stats(server)
        self.assertEqual(stats["evictions"], 3)
        self.assertLessEqual(stats["bytes"], bound)
        self.assertEqual(stats["bytes"], sum(a["size_bytes"] for a in listed))
        # The cache series on /metrics say the same.
        samples = parse_metrics(server.metrics())
        self.assertEqual(metric(samples, "kiln_cache_evictions_total"), 3)
        self.assertEqual(metric(samples, "kiln_cache_entries"), 2)
        self.assertEqual(metric(samples, "kiln_cache_bytes"), stats["bytes"])
        self.assertEqual(metric(samples, "kiln_cache_max_bytes"), bound)
        self.assertEqual(metric(samples, "kiln_compiles_total"), 5)  # the MLP and 4 variants
        self.stop(server)

    def test_explicit_eviction_keeps_loaded_modules(self):
        server = self.start("--model-dir", MLP_REPO)
        [loaded] = self.listed(server)
        digest = loaded["digest"]
        other = server.cli("compile", self.variant(0), json_output=True).json["digest"]

        evicted = server.cli("artifacts", "evict", digest, json_output=True).json
        self.assertEqual(evicted["evicted"], [])
        self.assertEqual(evicted["skipped"], [{"digest": digest, "reason": "loaded"}])
        evicted = server.cli("artifacts", "evict", "--all", json_output=True).json
        self.assertEqual(evicted["evicted"], [other])
        self.assertGreater(evicted["bytes_freed"], 0)
        self.assertFalse(os.path.exists(self.cache_file(other)))
        self.assertEqual([a["digest"] for a in self.listed(server)], [digest])
        # Neither digests nor --all: refused by the CLI, never sent.
        self.assertEqual(server.cli("artifacts", "evict", check=False).returncode, 1)
        samples = parse_metrics(server.metrics())
        self.assertEqual(metric(samples, "kiln_requests_total", rpc="EvictArtifacts", model=""), 2)
        self.assertIsNone(metric(samples, "kiln_request_failures_total", rpc="EvictArtifacts",
                                 model="", code="INVALID_ARGUMENT"))
        self.stop(server)


class MergedCompileTest(ServerCase):
    # Followers started after the leader's compile is seen running; it lasts seconds (about
    # 6 s at 100 products on one core), starting a CLI process takes milliseconds.
    MATMULS = 100
    FOLLOWERS = 4

    def test_identical_concurrent_compiles_run_the_compiler_once(self):
        server = self.start()
        source = self.write("slow.mlir", slow_compile_source(self.MATMULS))

        def compile_once(key):
            r = subprocess.run([ARGS.kiln, "--server", server.address, "--json", "--timeout",
                                "240", "compile", source], capture_output=True, text=True,
                               timeout=300)
            results[key] = json.loads(r.stdout) if r.returncode == 0 else r.stderr

        # The leader: its compile is in flight once kiln_compiles_total is 1 (counted when the
        # compiler starts) while kiln_compile_seconds_count is 0 (observed when it ends).
        results = {}
        leader = threading.Thread(target=compile_once, args=("leader",))
        leader.start()
        deadline = time.time() + 60
        while True:
            samples = parse_metrics(server.metrics())
            if metric(samples, "kiln_compiles_total") == 1:
                break
            self.assertLess(time.time(), deadline, "the leader's compile never started")
            time.sleep(0.02)
        self.assertEqual(metric(samples, "kiln_compile_seconds_count") or 0, 0,
                         "the compile ended before the followers were started: make it slower")

        # The followers, released together.
        barrier = threading.Barrier(self.FOLLOWERS)

        def follower(i):
            barrier.wait()
            compile_once(i)
        threads = [threading.Thread(target=follower, args=(i,)) for i in range(self.FOLLOWERS)]
        for t in threads:
            t.start()
        for t in threads + [leader]:
            t.join()
        failed = {k: r for k, r in results.items() if not isinstance(r, dict)}
        self.assertEqual(failed, {}, server.logs())

        # Invariants of every interleaving: one compiler run for identical requests (a request
        # that misses the cache either joins the compile in flight or, if that has finished,
        # finds its artifact: the leader looks in the cache again before compiling), one digest,
        # and each other request either merged or hit the cache.
        samples = parse_metrics(server.metrics())
        self.assertEqual(metric(samples, "kiln_compiles_total"), 1)
        self.assertEqual(len({r["digest"] for r in results.values()}), 1, results)
        self.assertFalse(results["leader"]["merged"] or results["leader"]["cache_hit"])
        followers = [results[i] for i in range(self.FOLLOWERS)]
        self.assertTrue(all(r["merged"] != r["cache_hit"] for r in followers), followers)
        merged = sum(r["merged"] for r in followers)
        self.assertEqual(metric(samples, "kiln_compiles_merged_total"), merged)
        self.assertEqual(self.stats(server)["merged_compiles"], merged)
        # And by the ordering above, every follower joined the compile in flight.
        self.assertEqual(merged, self.FOLLOWERS,
                         f"{followers}: the compile took "
                         f"{metric(samples, 'kiln_compile_seconds_sum')} s")
        self.stop(server)


class ServingTest(unittest.TestCase):
    """One kilnd serving the examples (the MLP) for the tests that only read or add traffic;
    each asserts on what it changed (before/after) so that their order does not matter."""

    @classmethod
    def setUpClass(cls):
        cls.server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=["--model-dir", MLP_REPO],
                           workers=2)
        try:
            cls.server.wait_ready()
        except Exception:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop_cleanly()

    def samples(self):
        return parse_metrics(self.server.metrics())

    def test_models(self):
        models = self.server.cli("models", json_output=True).json["models"]
        self.assertEqual([(m["name"], m["status"]) for m in models], [("mlp", "READY")])
        self.assertIn("READY", self.server.cli("models").stdout)

    def test_bench(self):
        calls = self.server.cli("stats", json_output=True).json["invocations"]["mlp"]
        bench = self.server.cli("bench", "mlp", "--input", x_spec(), "-n", "300", "-c", "2",
                                json_output=True).json
        self.assertEqual(bench["requests"], 300)
        self.assertEqual(bench["errors"], 0)
        self.assertEqual(bench["concurrency"], 2)
        lat = bench["latency_ms"]
        self.assertTrue(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat)
        self.assertGreater(bench["throughput_rps"], 0)
        human = self.server.cli("bench", "mlp", "--input", x_spec(), "-n", "50").stdout
        self.assertRegex(human, r"p50 [0-9.]+ ms, p90 [0-9.]+ ms, p99 [0-9.]+ ms")
        self.assertRegex(human, r"throughput: [0-9.]+ requests/s")
        # At least the measured requests ran (`kiln stats` counts every invocation).
        after = self.server.cli("stats", json_output=True).json["invocations"]["mlp"]
        self.assertGreaterEqual(after - calls, 300 + 50)

    def test_metrics_count_requests(self):
        before = self.samples()
        for _ in range(5):
            self.server.cli("infer", "mlp", "--input", x_spec())
        samples = self.samples()

        def delta(name, **labels):
            return metric(samples, name, **labels) - (metric(before, name, **labels) or 0)
        self.assertEqual(delta("kiln_requests_total", rpc="Invoke", model="mlp"), 5)
        self.assertEqual(delta("kiln_invoke_request_seconds_count", model="mlp"), 5)
        self.assertEqual(delta("kiln_invoke_compute_seconds_count", model="mlp"), 5)
        self.assertEqual(delta("kiln_invoke_queue_seconds_count", model="mlp"), 5)
        # Within one scrape: the histograms agree with the counters and with `kiln stats`.
        invokes = metric(samples, "kiln_requests_total", rpc="Invoke", model="mlp")
        self.assertEqual(metric(samples, "kiln_invoke_request_seconds_count", model="mlp"),
                         invokes)
        self.assertEqual(metric(samples, "kiln_invoke_request_seconds_bucket", model="mlp",
                                le="+Inf"), invokes)
        calls = self.server.cli("stats", json_output=True).json["invocations"]["mlp"]
        self.assertEqual(metric(samples, "kiln_invoke_compute_seconds_count", model="mlp"), calls)
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in samples.items()
                         if k[0] == "kiln_invoke_compute_seconds_bucket")
        self.assertGreater(len(buckets), 1)
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertEqual(buckets[-1], (float("inf"), calls))
        self.assertGreater(metric(samples, "kiln_invoke_compute_seconds_sum", model="mlp"), 0)
        self.assertGreater(metric(samples, "kiln_worker_busy_seconds_total"), 0)
        # The server's state.
        self.assertEqual(metric(samples, "kiln_compiles_total"), 1)  # the start-up compile
        self.assertEqual(metric(samples, "kiln_compile_seconds_count"), 1)
        self.assertEqual(metric(samples, "kiln_cache_entries"), 1)
        self.assertEqual(metric(samples, "kiln_loaded_models"), 1)
        self.assertEqual(metric(samples, "kiln_queue_depth"), 0)
        self.assertEqual(metric(samples, "kiln_workers"), 2)

    def test_metrics_count_failures(self):
        # An unknown name is counted under one label, never as a label of its own: a client
        # could otherwise grow kilnd's memory and /metrics with every name it makes up.
        def failures():
            return metric(self.samples(), "kiln_request_failures_total", rpc="Invoke",
                          model="<unknown>", code="NOT_FOUND") or 0
        before = failures()
        failed = self.server.cli("infer", "nope", "--input", x_spec(), check=False)
        self.assertEqual(failed.returncode, 1)
        self.assertEqual(failures(), before + 1)
        self.assertNotIn('model="nope"', self.server.metrics())

    def test_metrics_cli(self):
        address = self.server.metrics_address
        text = self.server.cli("metrics", "--metrics-address", address).stdout
        self.assertEqual(metric(parse_metrics(text), "kiln_loaded_models"), 1)
        as_json = self.server.cli("metrics", "--metrics-address", address,
                                  json_output=True).json["samples"]
        self.assertIn("kiln_loaded_models", {s["name"] for s in as_json})


def main():
    global ARGS, MLP_REPO
    ARGS, argv = suite_args()
    # A repository of the MLP example alone: these tests count what its one model compiles,
    # caches and loads (the examples hold other models too).
    MLP_REPO = tempfile.mkdtemp(prefix="kiln-ops-repo-")
    shutil.copytree(os.path.join(ARGS.examples, "mlp"), os.path.join(MLP_REPO, "mlp"))
    try:
        unittest.main(argv=argv, verbosity=2)
    finally:
        shutil.rmtree(MLP_REPO, ignore_errors=True)


if __name__ == "__main__":
    main()
