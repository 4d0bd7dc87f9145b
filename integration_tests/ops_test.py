#!/usr/bin/python3
"""End-to-end operations: the artifact cache (download, list/stats/evict, a size bound that never
evicts a loaded module's artifact, persistence across a restart), merged concurrent compiles,
the Prometheus endpoint, and `kiln bench`, against real kilnd processes."""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, suite_args  # noqa: E402

ARGS = None
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


class OpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kiln-ops-")
        cls.model = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        with open(cls.model) as f:
            cls.source = f.read()
        cls.cache_dir = os.path.join(cls.tmp, "cache")
        cls.servers = []

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers:
            server.terminate()
            server.cleanup()

    def start(self, *extra, workers=2):
        server = Kilnd(ARGS.kilnd, ARGS.kiln, extra_args=list(extra), workers=workers,
                       cache_dir=self.cache_dir)
        self.servers.append(server)
        server.wait_ready()
        return server

    def variant(self, i):
        """The MLP with a different comment: same program, another artifact digest."""
        path = os.path.join(self.tmp, f"variant{i}.mlir")
        with open(path, "w") as f:
            f.write(f"// variant {i}\n" + self.source)
        return path

    def cache_file(self, digest):
        return os.path.join(self.cache_dir, "modules", digest[len("sha256:"):] + ".kmod")

    def test_operations(self):
        # --- first kilnd: a fresh cache ---
        first = self.start()

        # Concurrent identical compiles from several processes: one compiler run.
        source = self.variant(0)
        procs = [subprocess.Popen([ARGS.kiln, "--server", first.address, "--json", "compile",
                                   source], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(4)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            results.append(json.loads(out))
        self.assertEqual(len({r["digest"] for r in results}), 1)
        merged = sum(r["merged"] for r in results)
        hits = sum(r["cache_hit"] for r in results)
        self.assertEqual(merged + hits, 3, results)
        self.assertGreaterEqual(merged, 1, "the compiles did not overlap")
        samples = parse_metrics(first.metrics())
        self.assertEqual(metric(samples, "kiln_compiles_total"), 1)
        self.assertEqual(metric(samples, "kiln_compiles_merged_total"), merged)

        # compile -o: the module downloaded through GetArtifact is the cache file, byte for byte.
        out_path = os.path.join(self.tmp, "mlp.kmod")
        compiled = first.cli("compile", self.model, "-o", out_path, json_output=True).json
        digest = compiled["digest"]
        self.assertFalse(compiled["cache_hit"])
        self.assertIn(compiled["executable_format"], ("embedded-elf", "system-library"))
        with open(out_path, "rb") as f, open(self.cache_file(digest), "rb") as g:
            self.assertEqual(f.read(), g.read())
        module_size = compiled["module_size"]
        self.assertEqual(os.path.getsize(out_path), module_size)

        listed = first.cli("artifacts", "list", json_output=True).json["artifacts"]
        self.assertEqual(listed[0]["digest"], digest)  # most recently used first
        self.assertEqual({a["digest"] for a in listed}, {digest, results[0]["digest"]})
        stats = first.cli("artifacts", "stats", json_output=True).json
        self.assertEqual(stats["entries"], 2)
        self.assertEqual(stats["compiles"], 2)
        self.assertEqual(stats["bytes"], sum(a["size_bytes"] for a in listed))
        human = first.cli("artifacts", "list").stdout
        self.assertTrue(human.startswith("DIGEST"), human)
        self.assertIn(digest, human)
        self.assertEqual(first.terminate(), 0)

        # --- second kilnd on the same cache, bounded to two modules and a half ---
        bound = module_size * 5 // 2
        second = self.start("--model-dir", ARGS.examples, "--cache-max-bytes", str(bound))
        # The start-up model came from the cache: nothing compiled.
        self.assertEqual(metric(parse_metrics(second.metrics()), "kiln_compiles_total"), 0)
        again = second.cli("compile", self.model, json_output=True).json
        self.assertTrue(again["cache_hit"])
        self.assertEqual(again["digest"], digest)
        # Over the bound now? Three entries would not fit: the least recently used went.
        stats = second.cli("artifacts", "stats", json_output=True).json
        self.assertLessEqual(stats["bytes"], bound)
        self.assertEqual(stats["pinned_entries"], 1)

        # New artifacts push older ones out, never the loaded "mlp" (the oldest by now).
        for i in range(1, 4):
            second.cli("compile", self.variant(i))
        listed = second.cli("artifacts", "list", json_output=True).json["artifacts"]
        by_digest = {a["digest"]: a for a in listed}
        self.assertIn(digest, by_digest)
        self.assertTrue(by_digest[digest]["loaded"])
        self.assertTrue(os.path.exists(self.cache_file(digest)))
        self.assertEqual(len(listed), 2)
        stats = second.cli("artifacts", "stats", json_output=True).json
        self.assertGreaterEqual(stats["evictions"], 2)
        self.assertLessEqual(stats["bytes"], bound)

        # Explicit eviction keeps it too.
        evicted = second.cli("artifacts", "evict", digest, json_output=True).json
        self.assertEqual(evicted["evicted"], [])
        self.assertEqual(evicted["skipped"], [{"digest": digest, "reason": "loaded"}])
        evicted = second.cli("artifacts", "evict", "--all", json_output=True).json
        self.assertEqual(len(evicted["evicted"]), 1)
        self.assertGreater(evicted["bytes_freed"], 0)
        self.assertEqual([a["digest"] for a in
                          second.cli("artifacts", "list", json_output=True).json["artifacts"]],
                         [digest])
        self.assertEqual(second.cli("artifacts", "evict", check=False).returncode, 1)

        # Models and stats.
        models = second.cli("models", json_output=True).json["models"]
        self.assertEqual([(m["name"], m["status"]) for m in models], [("mlp", "READY")])
        self.assertIn("READY", second.cli("models").stdout)

        # Inference, then bench (N requests over C clients).
        for _ in range(5):
            second.cli("infer", "mlp", "--input", x_spec())
        bench = second.cli("bench", "mlp", "--input", x_spec(), "-n", "300", "-c", "2",
                           json_output=True).json
        self.assertEqual(bench["requests"], 300)
        self.assertEqual(bench["errors"], 0)
        self.assertEqual(bench["concurrency"], 2)
        lat = bench["latency_ms"]
        self.assertTrue(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat)
        self.assertGreater(bench["throughput_rps"], 0)
        human = second.cli("bench", "mlp", "--input", x_spec(), "-n", "50").stdout
        self.assertRegex(human, r"p50 [0-9.]+ ms, p90 [0-9.]+ ms, p99 [0-9.]+ ms")
        self.assertRegex(human, r"throughput: [0-9.]+ requests/s")
        stats = second.cli("stats", json_output=True).json
        calls = stats["invocations"]["mlp"]
        self.assertGreaterEqual(calls, 5 + 300 + 50)

        # The scrape: expected series with sane values.
        text = second.metrics()
        self.assertEqual(second.cli("metrics", "--metrics-address",
                                    second.metrics_address).returncode, 0)
        samples = parse_metrics(text)
        invokes = metric(samples, "kiln_requests_total", rpc="Invoke", model="mlp")
        self.assertGreaterEqual(invokes, 5 + 300 + 50)
        self.assertEqual(metric(samples, "kiln_invoke_compute_seconds_count", model="mlp"), calls)
        self.assertEqual(metric(samples, "kiln_invoke_queue_seconds_count", model="mlp"), calls)
        self.assertEqual(metric(samples, "kiln_invoke_request_seconds_count", model="mlp"),
                         invokes)
        self.assertEqual(metric(samples, "kiln_invoke_request_seconds_bucket", model="mlp",
                                le="+Inf"), invokes)
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in samples.items()
                         if k[0] == "kiln_invoke_compute_seconds_bucket")
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertGreater(metric(samples, "kiln_invoke_compute_seconds_sum", model="mlp"), 0)
        self.assertEqual(metric(samples, "kiln_compiles_total"), 3)  # the three variants
        self.assertGreaterEqual(metric(samples, "kiln_compile_seconds_count"), 3)
        self.assertGreaterEqual(metric(samples, "kiln_compile_cache_hit_seconds_count"), 2)
        self.assertGreaterEqual(metric(samples, "kiln_cache_hits_total"), 2)
        self.assertGreaterEqual(metric(samples, "kiln_cache_misses_total"), 3)
        self.assertGreaterEqual(metric(samples, "kiln_cache_evictions_total"), 3)
        self.assertEqual(metric(samples, "kiln_cache_entries"), 1)
        self.assertEqual(metric(samples, "kiln_cache_bytes"), module_size)
        self.assertEqual(metric(samples, "kiln_cache_max_bytes"), bound)
        self.assertEqual(metric(samples, "kiln_loaded_models"), 1)
        self.assertEqual(metric(samples, "kiln_queue_depth"), 0)
        self.assertEqual(metric(samples, "kiln_workers"), 2)
        self.assertGreater(metric(samples, "kiln_worker_busy_seconds_total"), 0)
        self.assertEqual(metric(samples, "kiln_requests_total", rpc="EvictArtifacts", model=""), 2)
        self.assertEqual(metric(samples, "kiln_request_failures_total", rpc="EvictArtifacts",
                                model="", code="INVALID_ARGUMENT"), None)  # refused locally
        failed = second.cli("infer", "nope", "--input", x_spec(), check=False)
        self.assertEqual(failed.returncode, 1)
        samples = parse_metrics(second.metrics())
        self.assertEqual(metric(samples, "kiln_request_failures_total", rpc="Invoke",
                                model="nope", code="NOT_FOUND"), 1)
        as_json = second.cli("metrics", "--metrics-address", second.metrics_address,
                             json_output=True).json["samples"]
        self.assertIn("kiln_loaded_models", {s["name"] for s in as_json})
        self.assertEqual(second.terminate(), 0)


def main():
    global ARGS
    ARGS, argv = suite_args()
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
