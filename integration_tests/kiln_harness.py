"""Starts a real kilnd on a free loopback port with a temporary cache and drives it with the
kiln CLI. Shared by the integration tests; standard library only (plus numpy in tests)."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def suite_args(client_dir=False):
    """The flags CMake passes every kilnd suite; returns them and the argv left for unittest.
    client_dir: the suite also takes --client-dir (the generated Python stubs), put on the path.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--kilnd", required=True)
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--examples", required=True)
    if client_dir:
        parser.add_argument("--client-dir", required=True, help="build/client_cli/python")
    args, rest = parser.parse_known_args()
    if client_dir:
        sys.path.insert(0, args.client_dir)
    return args, [sys.argv[0]] + rest


def run_cli(kiln, address, args, check=True, json_output=False, logs=lambda: "",
            timeout=300):
    """Runs `kiln --server address args...`; with check, a failure raises with the server's log
    (`logs()`); with json_output, the parsed output is on the result's .json."""
    cmd = [kiln, "--server", address] + (["--json"] if json_output else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n"
                             f"{r.stderr}\n--- server log ---\n{logs()}")
    if json_output and r.returncode == 0:
        r.json = json.loads(r.stdout)
    return r


class RpcAssertions:
    """For unittest.TestCase suites that call kilnd over gRPC."""

    def assert_rpc_error(self, code, fragment, fn, *args, **kwargs):
        """fn(*args) fails with status `code` and a message containing `fragment`; returns it."""
        import grpc  # the suite has put the client's dependencies on the path (suite_args)
        with self.assertRaises(grpc.RpcError) as ctx:
            fn(*args, **kwargs)
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        self.assertIn(fragment, ctx.exception.details())
        return ctx.exception.details()


class Kilnd:
    def __init__(self, kilnd, kiln, extra_args=(), workers=2, cache_dir=None, port=None,
                 metrics_port=None, env=None):
        """cache_dir: reuse a cache (e.g. a previous Kilnd's) instead of a fresh one.
        port, metrics_port: fixed ports (a restart on a previous Kilnd's address) instead of
        free ones. env: kilnd's environment (default: ours).

        Free ports are kilnd's own: it listens on port 0 and logs the ports it bound, which
        are read back here (.port, .metrics_port, .http_port). Picking free ports here and
        handing them over raced with other suites doing the same (one suite's kilnd could take
        a port another had just been given)."""
        self.kilnd = kilnd
        self.kiln = kiln
        self.tmp = tempfile.mkdtemp(prefix="kiln-it-")
        self.cache_dir = cache_dir or os.path.join(self.tmp, "cache")
        # Every kilnd gets its own gRPC, metrics and HTTP/REST ports (kilnd's defaults, 8001,
        # 8002 and 8000, would collide), so tests can run side by side.
        listen_args = ["--listen", f"127.0.0.1:{port or 0}"]
        if "--metrics-listen" not in extra_args:
            listen_args += ["--metrics-listen", f"127.0.0.1:{metrics_port or 0}"]
        if "--http-listen" not in extra_args:
            listen_args += ["--http-listen", "127.0.0.1:0"]
        self.log_path = os.path.join(self.tmp, "kilnd.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [kilnd, *listen_args, "--cache-dir", self.cache_dir, "--workers", str(workers),
             *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.port = self.metrics_port = self.http_port = None
        self._read_ports()

    def _read_ports(self, timeout=60):
        """Waits for kilnd's "listening on" line (logged once every listener is bound, before
        the start-up models load) and reads the bound ports from the log. A kilnd that exits
        first (a bad flag, a port that is taken) leaves them None; wait_ready reports it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            logs = self.logs()
            listening = re.search(r"listening on \S+ \(port (\d+)", logs)
            if listening:
                self.port = int(listening.group(1))
                metrics = re.search(r"metrics on \S+ \(port (\d+)\)", logs)
                http = re.search(r"HTTP/REST on \S+ \(port (\d+)\)", logs)
                self.metrics_port = int(metrics.group(1)) if metrics else None
                self.http_port = int(http.group(1)) if http else None
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.address = f"127.0.0.1:{self.port}"
        self.metrics_address = f"127.0.0.1:{self.metrics_port}"

    def wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kilnd exited early with {self.proc.returncode}:\n{self.logs()}")
            r = self.cli("health", check=False)
            if r.returncode == 0 and r.stdout.strip() == "SERVING":
                return
            time.sleep(0.2)
        raise RuntimeError(f"kilnd not ready after {timeout}s:\n{self.logs()}")

    def cli(self, *args, check=True, json_output=False):
        return run_cli(self.kiln, self.address, args, check=check, json_output=json_output,
                       logs=self.logs)

    def metrics(self):
        """The Prometheus text from /metrics."""
        import urllib.request
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=10) as r:
            return r.read().decode()

    def logs(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def terminate(self, timeout=30):
        """SIGTERM, then the exit code (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def stop_cleanly(self):
        """SIGTERM, clean-up, and the assertion every suite makes of a drain: exit code 0 and
        the final log line. Returns the logs."""
        code = self.terminate()
        logs = self.logs()
        self.cleanup()
        assert code == 0, f"kilnd exit code {code} on SIGTERM:\n{logs}"
        assert "kilnd stopped" in logs, logs
        return logs

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
