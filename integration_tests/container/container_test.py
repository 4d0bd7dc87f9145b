#!/usr/bin/python3
"""kilnd in containers (the image run.sh builds), driven from the host over loopback-published
ports with the host's kiln CLI and the Python client:

1. one kilnd with examples/ mounted at /models and a fresh cache volume: the image's health
   check, CLI inference checked against numpy, compile/load/infer of a host file, KServe
   ModelInfer through the Python client, and a /metrics scrape;
2. a second kilnd sharing the first one's cache volume: it serves the model the first compiled
   without compiling it (kiln_compiles_total 0, kiln_cache_hits_total > 0, same digest);
3. SIGTERM (`podman stop`) drains both cleanly: exit code 0 and "kilnd stopped";
4. compose.yaml through podman-compose: kilnd and the one-shot client's inference;
5. deploy/kubernetes/kilnd.yaml through `podman kube play`: its pod template as two replicas on
   one cache volume (the second compiles nothing), both reached, SIGTERM within the grace
   period draining each, `podman kube down` removing them.

Tests run in name order (test_1_..., test_2_...) because the scenarios build on each other.
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cli_test import mlp_reference, spec  # noqa: E402
from kiln_harness import free_port, run_cli  # noqa: E402
from ops_test import metric, parse_metrics  # noqa: E402

ARGS = None
KilnClient = None
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def podman(*args, check=True, timeout=120):
    r = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r


class Container:
    """One kilnd container from the image, ports published on 127.0.0.1 (host ports chosen by
    podman), `examples` at /models (read-only) and `cache_volume` at /cache."""

    def __init__(self, name, cache_volume):
        self.name = f"kiln-test-{ARGS.run_id}-{name}"
        podman("run", "-d", "--name", self.name, "--label", f"kiln.test-run={ARGS.run_id}",
               *LIMITS, "-p", "127.0.0.1::8001", "-p", "127.0.0.1::8002",
               "-v", f"{ARGS.models}:/models:ro",
               "-v", f"{cache_volume}:/cache",
               ARGS.image, "--workers", "2")
        self.address = self.published(8001)
        self.metrics_address = self.published(8002)

    def published(self, port):
        host = podman("port", self.name, f"{port}/tcp").stdout.strip().splitlines()[0]
        assert host.startswith("127.0.0.1:"), f"{port} published on {host}, not loopback"
        return host

    def running(self):
        return self.inspect()["State"]["Running"]

    def inspect(self):
        return json.loads(podman("inspect", self.name).stdout)[0]

    def logs(self):
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def cli(self, *args, check=True, json_output=False):
        return run_cli(ARGS.kiln, self.address, args, check=check, json_output=json_output,
                       logs=self.logs, timeout=120)

    def wait_ready(self, timeout=180):
        """Until grpc.health.v1 says SERVING through the published port."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.running():
                raise AssertionError(f"{self.name} exited early:\n{self.logs()}")
            r = self.cli("health", "--timeout", "2", check=False)
            if r.returncode == 0 and r.stdout.strip() == "SERVING":
                return
            time.sleep(0.25)
        raise AssertionError(f"{self.name} not SERVING after {timeout}s:\n{self.logs()}")

    def metrics(self):
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=10) as r:
            return parse_metrics(r.read().decode())

    def stop(self, grace=30):
        """SIGTERM, SIGKILL after `grace` seconds; returns (exit code, seconds it took)."""
        started = time.time()
        podman("stop", "-t", str(grace), self.name, timeout=grace + 60)
        return self.inspect()["State"]["ExitCode"], time.time() - started

    def remove(self):
        podman("rm", "-f", "-t", "0", self.name, check=False)


class ContainerEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
        cls.x, cls.expected = ARGS.x, ARGS.expected
        cls.volume = f"kiln-test-{ARGS.run_id}-cache"
        cls.containers = []
        podman("volume", "create", "--label", f"kiln.test-run={ARGS.run_id}", cls.volume)
        started = time.time()
        cls.first = cls.start("first")
        cls.first.wait_ready()
        print(f"\nfirst kilnd SERVING on {cls.first.address} in {time.time() - started:.1f} s",
              file=sys.stderr)

    @classmethod
    def start(cls, name):
        container = Container(name, cls.volume)
        cls.containers.append(container)
        return container

    @classmethod
    def tearDownClass(cls):
        for c in cls.containers:
            c.remove()
        podman("volume", "rm", "-f", cls.volume, check=False)

    def assert_close(self, out):
        np.testing.assert_allclose(np.asarray(out, np.float64).reshape(1, 10), self.expected,
                                   rtol=1e-4, atol=1e-5)

    # --- 1: one kilnd ---

    def test_1_image_and_health_check(self):
        config = self.first.inspect()["Config"]
        self.assertEqual(config["User"], "kiln")
        self.assertIn("kiln", config["Healthcheck"]["Test"])
        image = json.loads(podman("image", "inspect", ARGS.image).stdout)[0]["Config"]
        self.assertEqual(sorted(image["ExposedPorts"]), ["8000/tcp", "8001/tcp", "8002/tcp"])
        self.assertEqual(sorted(image["Volumes"]), ["/cache", "/models"])
        # kilnd runs as the non-root user, as PID 1.
        top = podman("top", self.first.name, "user", "pid", "comm").stdout.split("\n")[1].split()
        self.assertEqual(top, ["kiln", "1", "kilnd"])
        # The image's HEALTHCHECK (grpc.health.v1 through `kiln health` inside the container).
        r = podman("healthcheck", "run", self.first.name, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        state = self.first.inspect()["State"]
        self.assertEqual(state.get("Health", state.get("Healthcheck", {})).get("Status"), "healthy")

    def test_2_cli_infer_matches_numpy(self):
        r = self.first.cli("infer", "mlp", "--input", spec("x", self.x), json_output=True)
        out = r.json["outputs"][0]
        self.assertEqual((out["name"], out["dtype"], out["shape"]), ("logits", "f32", [1, 10]))
        self.assert_close(out["data"])
        human = self.first.cli("infer", "mlp", "--input", spec("", self.x)).stdout
        self.assertTrue(human.startswith("logits: f32[1x10] = ["), human)

    def test_3_cli_compile_load_infer(self):
        # The host's file travels in the request; the container compiled the same source at
        # start-up, so this is a cache hit in the container's cache volume.
        compiled = self.first.cli("compile", self.model, json_output=True).json
        self.assertTrue(compiled["cache_hit"], compiled)
        self.first.cli("load", compiled["digest"], "--name", "mlp2")
        out = self.first.cli("infer", "mlp2", "--input", spec("x", self.x), json_output=True)
        self.assert_close(out.json["outputs"][0]["data"])
        self.first.cli("unload", "mlp2")

    def test_4_kserve_model_infer(self):
        with KilnClient(self.first.address) as client:
            self.assertTrue(client.server_live())
            self.assertTrue(client.server_ready())
            self.assertTrue(client.model_ready("mlp"))
            meta = client.model_metadata("mlp")
            self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in meta.inputs],
                             [("x", "FP32", [1, 64])])
            for raw in (True, False):
                out = client.infer("mlp", {"x": self.x}, raw=raw)
                self.assertEqual(list(out), ["logits"])
                self.assertEqual(out["logits"].dtype, np.float32)
                self.assert_close(out["logits"])
            # kiln's own RuntimeService too.
            self.assert_close(client.invoke("mlp", {"x": self.x})["logits"])

    def test_5_metrics_scrape(self):
        samples = self.first.metrics()
        self.assertEqual(metric(samples, "kiln_compiles_total"), 1)  # the start-up compile
        self.assertEqual(metric(samples, "kiln_compile_failures_total"), 0)
        self.assertEqual(metric(samples, "kiln_cache_entries"), 1)
        self.assertGreater(metric(samples, "kiln_cache_bytes"), 0)
        self.assertEqual(metric(samples, "kiln_loaded_models"), 1)
        self.assertEqual(metric(samples, "kiln_workers"), 2)
        self.assertEqual(metric(samples, "kiln_queue_depth"), 0)
        # Invoke RPCs: two CLI infers (test_2) and the Python client's invoke (test_4).
        self.assertGreaterEqual(metric(samples, "kiln_requests_total", rpc="Invoke", model="mlp"), 3)
        # Every inference ran on a worker, the two KServe ModelInfer calls (test_4) included.
        computed = metric(samples, "kiln_invoke_compute_seconds_count", model="mlp")
        self.assertGreaterEqual(computed, 5)  # CLI x2, KServe x2, Invoke x1
        self.assertEqual(metric(samples, "kiln_invoke_compute_seconds_bucket", model="mlp",
                                le="+Inf"), computed)
        self.assertGreater(metric(samples, "kiln_invoke_compute_seconds_sum", model="mlp"), 0)

    # --- 2: a second kilnd on the same cache volume ---

    def test_6_shared_cache_volume(self):
        digest = self.first.cli("compile", self.model, json_output=True).json["digest"]
        second = self.start("second")
        second.wait_ready()
        samples = second.metrics()
        # It served the start-up model out of the first one's artifact: nothing compiled.
        self.assertEqual(metric(samples, "kiln_compiles_total"), 0, samples)
        self.assertEqual(metric(samples, "kiln_cache_misses_total"), 0, samples)
        self.assertGreater(metric(samples, "kiln_cache_hits_total"), 0, samples)
        self.assertEqual(metric(samples, "kiln_loaded_models"), 1)
        listed = second.cli("list", json_output=True).json["modules"]
        self.assertEqual([(m["name"], m["digest"]) for m in listed], [("mlp", digest)])
        out = second.cli("infer", "mlp", "--input", spec("x", self.x), json_output=True)
        self.assert_close(out.json["outputs"][0]["data"])
        # Both serve at once from the one volume.
        self.assertEqual(self.first.cli("health").stdout.strip(), "SERVING")

    # --- 3: SIGTERM drains ---

    def test_7_sigterm_drains_cleanly(self):
        self.assertEqual(len(self.containers), 2, "test_6 did not start the second kilnd")
        for c in reversed(self.containers):
            code, took = c.stop(grace=30)
            logs = c.logs()
            # 0, not 137 (SIGKILL after the grace period): kilnd got SIGTERM as PID 1 and drained.
            self.assertEqual(code, 0, f"{c.name} exit code {code} after {took:.1f} s:\n{logs}")
            self.assertLess(took, 25, logs)
            self.assertIn("received Terminated; draining", logs)
            self.assertEqual(logs.strip().splitlines()[-1].split("] ")[-1], "kilnd stopped", logs)

    # --- 4: the compose file ---

    @unittest.skipUnless(shutil.which("podman-compose"), "podman-compose is not installed")
    def test_8_compose(self):
        project = f"kiln-test-{ARGS.run_id}"
        port = free_port()
        env = dict(os.environ, KILN_IMAGE=ARGS.image, KILN_PORT=str(port),
                   KILN_METRICS_PORT=str(free_port()))
        compose_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compose.yaml")

        def compose(*args, check=True):
            r = subprocess.run(["podman-compose", "--podman-args=--runtime runc", "-p", project,
                                "-f", compose_file, *args], env=env, capture_output=True,
                               text=True, timeout=180)
            if check:
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return r

        try:
            compose("up", "-d")
            client = f"{project}_infer_1"
            deadline = time.time() + 120
            while podman("inspect", "--format", "{{.State.Status}}", client).stdout.strip() \
                    != "exited":
                self.assertLess(time.time(), deadline, podman("logs", client).stderr)
                time.sleep(0.5)
            state = json.loads(podman("inspect", client).stdout)[0]["State"]
            logs = podman("logs", client)
            self.assertEqual(state["ExitCode"], 0, logs.stdout + logs.stderr)
            head, _, values = logs.stdout.strip().partition(" = ")
            self.assertEqual(head, "logits: f32[1x10]", logs.stdout)
            np.testing.assert_allclose(np.array(json.loads(values)).reshape(1, 10), ARGS.half,
                                       rtol=1e-4, atol=1e-5)
            # The service's port is published on the host's loopback.
            health = subprocess.run([ARGS.kiln, "--server", f"127.0.0.1:{port}", "health"],
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(health.stdout.strip(), "SERVING", health.stderr)
            compose("stop")
            server = json.loads(podman("inspect", f"{project}_kilnd_1").stdout)[0]["State"]
            self.assertEqual(server["ExitCode"], 0)
        finally:
            compose("down", "-v", check=False)
            podman("network", "rm", "-f", f"{project}_default", check=False)


    # --- 5: the Kubernetes deployment, as podman runs it ---

    def test_9_kube_play(self):
        import yaml  # python3-yaml
        deploy = os.path.join(REPO, "deploy", "kubernetes", "kilnd.yaml")
        with open(deploy) as f:
            docs = list(yaml.safe_load_all(f))
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        self.assertEqual(deployment["spec"]["replicas"], 2)
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        # podman runs one replica of a Deployment: the replicas are its pod template played as
        # two pods, on one named volume for the cache claim; the models claim is a host path.
        volume = f"kiln-test-{ARGS.run_id}-kube-cache"
        work = tempfile.mkdtemp(prefix="kiln-kube-")
        names, files = [], []
        for replica in ("a", "b"):
            pod_spec = copy.deepcopy(deployment["spec"]["template"]["spec"])
            pod_spec["containers"][0]["image"] = ARGS.image
            # podman publishes a pod's container ports on the host: on free loopback ports here.
            for port in pod_spec["containers"][0]["ports"]:
                port.update(hostPort=free_port(), hostIP="127.0.0.1")
            for v in pod_spec["volumes"]:
                if v["name"] == "cache":
                    v["persistentVolumeClaim"]["claimName"] = volume
                else:
                    v.pop("persistentVolumeClaim")
                    v["hostPath"] = {"path": ARGS.models, "type": "Directory"}
            name = f"kiln-test-{ARGS.run_id}-{replica}"
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "labels": {"app": "kilnd"}}, "spec": pod_spec}
            path = os.path.join(work, f"{replica}.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(pod, f)
            names.append(f"{name}-kilnd")  # podman names a pod's container <pod>-<container>
            files.append(path)

        # kube play takes no --ulimit: the bound every other container here runs with (the
        # defaults fail on this kind of host) comes from a containers.conf of the test's own.
        conf = os.path.join(work, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n')
        env = dict(os.environ, CONTAINERS_CONF=conf)

        def kube(*args, check=True):
            r = subprocess.run(PODMAN + ["kube", *args], capture_output=True, text=True,
                               timeout=300, env=env)
            if check:
                self.assertEqual(r.returncode, 0, f"podman kube {' '.join(args)}:\n{r.stderr}")
            return r

        def exec_cli(container, *args):
            return subprocess.run(PODMAN + ["exec", container, "kiln", *args],
                                  capture_output=True, text=True, timeout=120)

        def wait_serving(container):
            deadline = time.time() + 180
            while time.time() < deadline:
                r = exec_cli(container, "health", "--timeout", "2")
                if r.returncode == 0 and r.stdout.strip() == "SERVING":
                    return
                time.sleep(0.5)
            self.fail(f"{container} not SERVING:\n{podman('logs', container, check=False).stderr}")

        def samples(container):
            text = exec_cli(container, "metrics", "--metrics-address", "127.0.0.1:8002").stdout
            return parse_metrics(text)

        try:
            for path, container in zip(files, names):
                kube("play", path)
                wait_serving(container)
            # The first replica compiled the models into the shared volume; the second loads them.
            self.assertGreater(metric(samples(names[0]), "kiln_compiles_total"), 0)
            second = samples(names[1])
            self.assertEqual(metric(second, "kiln_compiles_total"), 0, second)
            self.assertGreater(metric(second, "kiln_cache_hits_total"), 0, second)
            for container in names:
                out = exec_cli(container, "--json", "infer", "mlp", "--input", spec("x", self.x))
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assert_close(json.loads(out.stdout)["outputs"][0]["data"])
            # Deleting a pod is SIGTERM, then SIGKILL after terminationGracePeriodSeconds:
            # `podman pod stop -t` does the same. Each replica drains and exits 0 well within
            # it; then `kube down` removes the pods.
            for container in names:
                pod = container[:-len("-kilnd")]
                started = time.time()
                podman("pod", "stop", "-t", str(grace), pod, timeout=grace + 60)
                took = time.time() - started
                state = json.loads(podman("inspect", container).stdout)[0]["State"]
                r = podman("logs", container, check=False)
                logs = r.stdout + r.stderr
                self.assertEqual(state["ExitCode"], 0, logs)
                self.assertLess(took, grace, logs)
                self.assertIn("received Terminated; draining", logs)
                self.assertEqual(logs.strip().splitlines()[-1].split("] ")[-1], "kilnd stopped")
            for path in files:
                kube("down", path)
        finally:
            for path in files:
                kube("down", path, check=False)
            podman("volume", "rm", "-f", volume, check=False)
            shutil.rmtree(work, ignore_errors=True)


def main():
    global ARGS, KilnClient
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--client-dir", required=True, help="build/client_cli/python (stubs)")
    parser.add_argument("--examples", required=True)
    ARGS, rest = parser.parse_known_args()
    # The containers serve the MLP example alone: these tests count what it compiles and loads
    # (the examples hold other models too).
    ARGS.models = tempfile.mkdtemp(prefix="kiln-models-")
    os.chmod(ARGS.models, 0o755)
    shutil.copytree(os.path.join(ARGS.examples, "mlp"), os.path.join(ARGS.models, "mlp"))
    ARGS.x = np.random.default_rng(3).uniform(-1, 1, size=(1, 64)).astype(np.float32)
    model = os.path.join(ARGS.examples, "mlp", "1", "model.mlir")
    ARGS.expected = mlp_reference(model, ARGS.x)
    ARGS.half = mlp_reference(model, np.full((1, 64), 0.5, np.float32))  # compose.yaml's input
    sys.path.insert(0, ARGS.client_dir)
    from kiln_client import KilnClient as client_class
    KilnClient = client_class
    try:
        unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
    finally:
        shutil.rmtree(ARGS.models, ignore_errors=True)


if __name__ == "__main__":
    main()
