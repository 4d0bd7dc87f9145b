#!/usr/bin/python3
"""Soak (issue 15): kilnd under a long mixed load with faults injected.

8 client threads (Python client) run a random mix for --minutes (default 30, or $SOAK_MINUTES):
compiles of small generated programs (elementwise f32/i32 and matmuls, varied constants and
shapes, both execution models, some repeated for cache hits, some with short deadlines), loads
and unloads under per-thread names, Invoke and KServe inference with every answer compared with
numpy, requests whose deadline passes before kilnd gets to them, wrong shapes, and a few hostile compiles
(a 10^5-deep nested attribute that overflows the parser's stack, a chain of 1500 linalg.add
sent with a 3 s deadline). A 9th thread SIGKILLs a random compile worker every ~20 s and, every
~5 min (at the midpoint of runs under 10 min), SIGTERMs kilnd and restarts it on the same
port and cache; clients wait out the restart and load their modules again.

The main thread samples kilnd every 10 s: RSS, open fds, threads, live compile workers and
their directories. It prints the table and writes JSON (--json).

Pass criteria:
- zero wrong answers;
- no unexpected status: each operation has its expected codes (EXPECTED below); besides those,
  UNAVAILABLE / CANCELLED (and NOT_FOUND for a module that a restart unloaded) only for a call
  overlapping a restart, and RESOURCE_EXHAUSTED "the compile worker was killed (SIGKILL)" only
  for a compile overlapping one of our worker kills;
- kilnd never exits except on our SIGTERM, and then with code 0 and "kilnd stopped";
- flat resources, per kilnd incarnation, after a 60 s warm-up: the median of the last third
  of samples against the median of the first third: fds and threads at most +5, RSS at most
  +max(25 %, 64 MiB) (incarnations with fewer than 6 samples after warm-up are not judged);
- after each SIGTERM and the final one: no compile worker process left and no kiln-compile-*
  directory left in kilnd's private TMPDIR.
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd  # noqa: E402
from cli_test import mlp_reference  # noqa: E402
from hostile_compile_test import DEEP_ATTRIBUTE, slow_program  # noqa: E402

grpc = None
KilnClient = None
runtime_pb2 = None
module_pb2 = None
_print_lock = threading.Lock()


def log(text):
    with _print_lock:
        print(text, flush=True)

SAMPLE_SECONDS = 10
WARMUP_SECONDS = 60
FD_SLACK = 5
THREAD_SLACK = 5
RSS_SLACK_FRACTION = 0.25
RSS_SLACK_BYTES = 64 << 20
MIN_JUDGED_SAMPLES = 6
COMPILE_WORKERS = 2
WORKER_KILLED = "the compile worker was killed (SIGKILL)"

# Each operation's expected status codes (besides OK) when no fault touched it.
EXPECTED = {
    "compile": set(),
    "compile_short_deadline": {"DEADLINE_EXCEEDED"},  # 200 ms: may finish or not
    "compile_deep_attribute": {"INVALID_ARGUMENT"},   # the worker dies of the parser's stack
    "compile_slow_chain": {"DEADLINE_EXCEEDED"},      # 3 s deadline, minutes of compiling
    "load": set(),
    "reload": set(),
    "invoke": set(),
    "infer_mlp": set(),
    "unload": set(),
    "expired_deadline": {"DEADLINE_EXCEEDED"},        # or OK within it (checked)
    "wrong_shape": {"INVALID_ARGUMENT"},
}
# What a call overlapping a SIGTERM/restart may also see.
RESTART_CODES = {"UNAVAILABLE", "CANCELLED"}
# Operations a compile worker kill may fail.
COMPILES = {"compile", "compile_short_deadline", "compile_deep_attribute", "compile_slow_chain"}


# ---- generated programs and their numpy references ----

F32_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "max": np.maximum}
I32_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply}


def make_spec(rng):
    """A random small program: {kind, op, shapes, c, model}; c (a constant added to the result)
    and the shapes make most programs new to the cache."""
    kind = rng.choice(["f32", "f32", "i32", "matmul"])
    model = rng.choice([None, "async", "inline-dynamic"])
    if kind == "matmul":
        m, k, n = rng.randint(1, 24), rng.randint(1, 24), rng.randint(1, 24)
        return {"kind": kind, "shapes": [[m, k], [k, n]], "out": [m, n],
                "c": round(rng.uniform(-2, 2), 3), "model": model}
    shape = [rng.randint(1, 16), rng.randint(1, 16)]
    ops = F32_OPS if kind == "f32" else I32_OPS
    c = round(rng.uniform(-2, 2), 3) if kind == "f32" else rng.randint(-1000, 1000)
    return {"kind": kind, "op": rng.choice(sorted(ops)), "shapes": [shape, shape], "out": shape,
            "c": c, "model": model}


def ttype(shape, elem):
    return f"tensor<{'x'.join(map(str, shape))}x{elem}>"


def spec_source(spec):
    elem = "i32" if spec["kind"] == "i32" else "f32"
    a, b, o = (ttype(s, elem) for s in (*spec["shapes"], spec["out"]))
    c = spec["c"]
    constant = f"{c}" if elem == "i32" else f"{float(c):e}"
    lines = [f"func.func @main(%a: {a}, %b: {b}) -> {o} {{",
             f"  %e = tensor.empty() : {o}",
             f"  %c = arith.constant dense<{constant}> : {o}"]
    if spec["kind"] == "matmul":
        lines += ["  %zero = arith.constant 0.0 : f32",
                  f"  %f = linalg.fill ins(%zero : f32) outs(%e : {o}) -> {o}",
                  f"  %s = linalg.matmul ins(%a, %b : {a}, {b}) outs(%f : {o}) -> {o}"]
    else:
        lines.append(f"  %s = linalg.{spec['op']} ins(%a, %b : {a}, {b}) outs(%e : {o}) -> {o}")
    lines += [f"  %r = linalg.add ins(%s, %c : {o}, {o}) outs(%e : {o}) -> {o}",
              f"  return %r : {o}", "}"]
    return "\n".join(lines) + "\n"


def spec_inputs(spec, nrng):
    if spec["kind"] == "i32":
        return [nrng.integers(-1000, 1000, size=s).astype(np.int32) for s in spec["shapes"]]
    return [nrng.uniform(-1, 1, size=s).astype(np.float32) for s in spec["shapes"]]


def spec_check(spec, inputs, out):
    """None if `out` is the right answer, else why not."""
    a, b = inputs
    if spec["kind"] == "i32":
        expected = (I32_OPS[spec["op"]](a.astype(np.int64), b) + spec["c"]).astype(np.int32)
        ok = out.dtype == np.int32 and out.shape == expected.shape and np.array_equal(out, expected)
    else:
        if spec["kind"] == "matmul":
            expected = a.astype(np.float64) @ b.astype(np.float64) + spec["c"]
        else:
            expected = F32_OPS[spec["op"]](a.astype(np.float64), b) + spec["c"]
        # float32 rounding of one op and an add (or a k-term dot product).
        ok = (out.dtype == np.float32 and out.shape == expected.shape and
              bool(np.all(np.abs(out - expected) <= 1e-5 + 1e-5 * np.abs(expected))))
    if ok:
        return None
    return f"{spec} inputs {[x.tolist() for x in inputs]}: got {out.tolist()}"


# ---- /proc ----

def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def children(pid):
    """Child pids of `pid` (every thread's)."""
    result = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    result += [int(p) for p in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return result


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")]
    except OSError:
        return []


def compile_workers(kilnd_pid):
    return [p for p in children(kilnd_pid) if cmdline(p)[1:2] == ["--compile-worker"]]


def stray_workers(worker_tmp):
    """Every compile worker process on the machine whose directory is under `worker_tmp`
    (ours, whether or not kilnd still is its parent)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            args = cmdline(int(entry))
            if args[1:2] == ["--compile-worker"] and args[2:3] and \
                    args[2].startswith(worker_tmp + "/"):
                found.append(int(entry))
    return found


def worker_dirs(worker_tmp):
    return sorted(d for d in os.listdir(worker_tmp) if d.startswith("kiln-compile-"))


def metric_values(address, names):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in names:
            values[parts[0]] = float(parts[1])
    return values


WORKER_METRICS = ("kiln_compile_workers_started_total", "kiln_compile_worker_failures_total",
                  "kiln_compile_worker_kills_total")


# ---- the soak ----

class RpcFailed(Exception):
    def __init__(self, code, why):
        super().__init__(code)
        self.code = code
        self.why = why


class Soak:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="kiln-soak-")
        self.cache_dir = os.path.join(self.work, "cache")
        # kilnd's own TMPDIR: its compile workers' directories, told apart from other kilnds'.
        self.worker_tmp = os.path.join(self.work, "tmp")
        os.makedirs(self.worker_tmp)
        self.logs_dir = os.path.join(self.work, "logs")
        os.makedirs(self.logs_dir)
        self.env = dict(os.environ, TMPDIR=self.worker_tmp)
        self.extra_args = ["--model-dir", args.examples, "--compile-workers",
                           str(COMPILE_WORKERS), "--drain-seconds", "10"]
        self.mlp_path = os.path.join(args.examples, "mlp", "1", "model.mlir")
        self.lock = threading.Lock()
        self.restart_lock = threading.Lock()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.gen = 0
        self.windows = []        # [sigterm time, ready time or None]
        self.kills = []          # times of our worker kills
        self.counts = {}         # op -> {outcome: n}
        self.unexpected = []
        self.wrong = []
        self.answers_checked = 0
        self.samples = []
        self.incarnations = []   # {pid, started, ready, ended, exit_code, stopped_line, ...}
        self.failures = []
        self.worker_metrics = {name: 0.0 for name in WORKER_METRICS}
        self.shared_specs = []   # specs any client may compile again (cache hits)
        self.server = None
        self.start_time = time.time()

    def now(self):
        return time.time() - self.start_time

    # -- kilnd incarnations --

    def start_kilnd(self, port=None, metrics_port=None):
        server = Kilnd(self.args.kilnd, self.args.kiln, extra_args=self.extra_args,
                       cache_dir=self.cache_dir, port=port, metrics_port=metrics_port,
                       env=self.env)
        started = self.now()
        server.wait_ready(timeout=180)
        self.incarnations.append({"pid": server.proc.pid, "started": started,
                                  "ready": self.now(), "ended": None, "exit_code": None})
        return server

    def snapshot_metrics(self, server):
        try:
            values = metric_values(server.metrics_address, WORKER_METRICS)
        except OSError as e:
            self.failure(f"/metrics of kilnd {server.proc.pid} did not answer: {e}")
            return
        for name in WORKER_METRICS:
            self.worker_metrics[name] += values.get(name, 0.0)

    def stop_kilnd(self, server, reason):
        """SIGTERM (or collect a kilnd that already died); checks the exit and that no worker
        or worker directory is left; keeps the log."""
        incarnation = self.incarnations[-1]
        if server.proc.poll() is None:
            self.snapshot_metrics(server)
            start = time.time()
            code = server.terminate(timeout=60)
            incarnation["drain_seconds"] = round(time.time() - start, 1)
            if code != 0:
                self.failure(f"kilnd {server.proc.pid} exited with {code} on SIGTERM ({reason})")
        else:
            code = server.proc.returncode
            self.failure(f"kilnd {server.proc.pid} died by itself with exit code {code}")
        incarnation["ended"] = self.now()
        incarnation["exit_code"] = code
        logs = server.logs()
        incarnation["stopped_line"] = "kilnd stopped" in logs
        if code == 0 and "kilnd stopped" not in logs:
            self.failure(f"kilnd {server.proc.pid}: no 'kilnd stopped' in its log")
        # The workers die with kilnd (it kills them; the kernel closes their channel).
        deadline = time.time() + 5
        while stray_workers(self.worker_tmp) and time.time() < deadline:
            time.sleep(0.1)
        strays, dirs = stray_workers(self.worker_tmp), worker_dirs(self.worker_tmp)
        incarnation["stray_workers"], incarnation["leftover_dirs"] = len(strays), len(dirs)
        if strays or dirs:
            self.failure(f"after kilnd {server.proc.pid} stopped: worker processes {strays}, "
                         f"directories {dirs}")
        shutil.copy(server.log_path,
                    os.path.join(self.logs_dir, f"kilnd-{len(self.incarnations)}.log"))
        server.cleanup()

    def restart(self, reason):
        with self.restart_lock:
            with self.lock:
                self.ready.clear()
                window = [self.now(), None]
                self.windows.append(window)
            old = self.server
            log(f"[{self.now():7.1f}s] restart ({reason}): SIGTERM kilnd {old.proc.pid}")
            self.stop_kilnd(old, reason)
            try:
                self.server = self.start_kilnd(port=old.port, metrics_port=old.metrics_port)
            except RuntimeError as e:
                self.failure(f"kilnd did not restart: {e}")
                self.stop.set()
                return
            with self.lock:
                self.gen += 1
                window[1] = self.now()
            self.ready.set()
            log(f"[{self.now():7.1f}s] kilnd {self.server.proc.pid} serving again after "
                f"{window[1] - window[0]:.1f}s")

    # -- bookkeeping --

    def failure(self, text):
        with self.lock:
            self.failures.append(f"[{self.now():.1f}s] {text}")
        log(f"[{self.now():7.1f}s] FAILURE: {text}")

    def overlaps_restart(self, t0, t1):
        with self.lock:
            return any(start <= t1 and (end is None or end >= t0) for start, end in self.windows)

    def overlaps_kill(self, t0, t1):
        with self.lock:
            return any(t0 <= k <= t1 for k in self.kills)

    def record(self, op, outcome):
        with self.lock:
            per_op = self.counts.setdefault(op, {})
            per_op[outcome] = per_op.get(outcome, 0) + 1

    def call(self, op, fn, module_gen=None):
        """Runs one RPC: records OK, an expected code, or an unexpected one (with details).
        Raises RpcFailed on any error. module_gen: the generation a used module was loaded in
        (a NOT_FOUND for it is expected once a restart has unloaded it)."""
        t0 = self.now()
        try:
            result = fn()
        except grpc.RpcError as e:
            t1 = self.now()
            code, details = e.code().name, e.details() or ""
            why = None
            if code in EXPECTED[op]:
                why = "expected"
            elif code in RESTART_CODES and self.overlaps_restart(t0, t1):
                why = "restart"
            elif code == "NOT_FOUND" and module_gen is not None and \
                    (module_gen != self.gen or self.overlaps_restart(t0, t1)):
                why = "restart"
            elif (op in COMPILES and code == "RESOURCE_EXHAUSTED" and WORKER_KILLED in details
                  and self.overlaps_kill(t0, t1)):
                why = "worker kill"
            if why is None:
                self.record(op, f"{code} (UNEXPECTED)")
                with self.lock:
                    self.unexpected.append({"t": round(t0, 1), "op": op, "code": code,
                                            "details": details[:500]})
                log(f"[{t0:7.1f}s] UNEXPECTED {op}: {code} {details[:300]}")
            else:
                self.record(op, code if why == "expected" else f"{code} ({why})")
            raise RpcFailed(code, why) from None
        self.record(op, "OK")
        return result

    def check(self, what, problem):
        with self.lock:
            self.answers_checked += 1
            if problem is not None:
                self.wrong.append({"t": round(self.now(), 1), "what": what,
                                   "problem": problem[:2000]})
        if problem is not None:
            log(f"[{self.now():7.1f}s] WRONG ANSWER {what}: {problem[:300]}")

    # -- faults --

    def fault_loop(self):
        rng = random.Random(self.args.seed + 1000)
        next_kill = self.now() + rng.uniform(0.5, 1.5) * self.args.kill_every
        next_restart = self.args.restart_every
        while not self.stop.wait(0.5):
            if self.now() >= next_restart:
                self.restart("scheduled")
                next_restart = self.now() + self.args.restart_every
            if self.now() >= next_kill and self.ready.is_set():
                next_kill = self.now() + rng.uniform(0.5, 1.5) * self.args.kill_every
                workers = compile_workers(self.server.proc.pid)
                if workers:
                    victim = rng.choice(workers)
                    with self.lock:
                        self.kills.append(self.now())
                    try:
                        os.kill(victim, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    self.record("fault_worker_kill", "sent")
                else:
                    self.record("fault_worker_kill", "no worker alive")

    # -- clients --

    def client_loop(self, index):
        rng = random.Random(self.args.seed * 100 + index)
        nrng = np.random.default_rng(self.args.seed * 100 + index)
        client = KilnClient(self.server.address, timeout=120)
        # name -> {spec, digest, gen}; gen None: loaded during a restart (which kilnd has it?)
        modules = {}
        serial = 0
        seen_gen = self.gen
        ops = [("compile_new", 22), ("invoke", 25), ("infer_mlp", 20), ("unload", 5),
               ("expired_deadline", 6), ("wrong_shape", 6), ("compile_short_deadline", 4),
               ("compile_deep_attribute", 2), ("compile_slow_chain", 1)]
        names, weights = zip(*ops)
        try:
            while not self.stop.is_set():
                if not self.ready.wait(timeout=1):
                    continue
                if seen_gen != self.gen:
                    # The channel may still be backing off from the connections refused during
                    # the restart: wait until it reconnects rather than fail fast (UNAVAILABLE).
                    seen_gen = self.gen
                    client.wait_ready(timeout=60)
                self.refresh_modules(client, modules)
                op = rng.choices(names, weights)[0]
                try:
                    if op == "compile_new":
                        serial += 1
                        self.op_compile_new(client, rng, nrng, modules, f"c{index}_{serial}")
                    elif op == "invoke" and modules:
                        self.op_invoke(client, nrng, modules, rng.choice(sorted(modules)))
                    elif op == "infer_mlp" or op == "invoke":
                        x = nrng.standard_normal((1, 64)).astype(np.float32)
                        out = self.call("infer_mlp", lambda: client.infer("mlp", {"x": x}))
                        self.check("mlp", mlp_problem(x, out.get("logits"), self.mlp_path))
                    elif op == "unload" and modules:
                        name = rng.choice(sorted(modules))
                        entry = modules.pop(name)
                        self.call("unload", lambda: client.unload(name), module_gen=entry["gen"])
                    elif op == "expired_deadline":
                        self.op_expired(client, rng, nrng, modules)
                    elif op == "wrong_shape":
                        self.op_wrong_shape(client, rng, modules)
                    elif op == "compile_short_deadline":
                        source = spec_source(make_spec(rng)).encode()
                        self.call(op, lambda: client.compiler.Compile(
                            compile_request(source, do_not_cache=True), timeout=0.2))
                    elif op == "compile_deep_attribute":
                        self.call(op, lambda: client.compiler.Compile(
                            compile_request(DEEP_ATTRIBUTE.encode(), do_not_cache=True),
                            timeout=120))
                    elif op == "compile_slow_chain":
                        source = slow_program(1500, salt=rng.randrange(1 << 30)).encode()
                        self.call(op, lambda: client.compiler.Compile(
                            compile_request(source, do_not_cache=True), timeout=3))
                except RpcFailed as e:
                    if e.why == "restart":
                        self.ready.wait(timeout=240)
                time.sleep(rng.uniform(0, 2 * self.args.think_ms / 1000))
        except Exception as e:  # a bug in the soak itself: report it, don't hang
            self.failure(f"client {index} crashed: {e!r}")
            raise
        finally:
            client.close()

    def refresh_modules(self, client, modules):
        """After a restart the modules are gone: load each again from the cache."""
        for name, entry in list(modules.items()):
            if entry["gen"] == self.gen:
                continue
            if entry["gen"] is None:
                # Loaded while kilnd restarted: it may be in the new kilnd already.
                try:
                    client.unload(name)
                except grpc.RpcError:
                    pass
            try:
                gen = self.gen
                self.call("reload", lambda: client.load(entry["digest"], name))
                entry["gen"] = gen if self.ready.is_set() and gen == self.gen else None
            except RpcFailed:
                modules.pop(name)

    def op_compile_new(self, client, rng, nrng, modules, name):
        with self.lock:
            reuse = self.shared_specs and rng.random() < 0.25
            spec = rng.choice(self.shared_specs) if reuse else make_spec(rng)
            if not reuse:
                self.shared_specs.append(spec)
                del self.shared_specs[:-64]
        source = spec_source(spec).encode()
        response = self.call("compile", lambda: client.compile(
            source, source_name=f"{name}.mlir", execution_model=spec["model"]))
        gen = self.gen
        self.call("load", lambda: client.load(response.digest, name))
        modules[name] = {"spec": spec, "digest": response.digest,
                         "gen": gen if self.ready.is_set() and gen == self.gen else None}
        self.op_invoke(client, nrng, modules, name)
        # At most 4 modules a client: unload the oldest.
        while len(modules) > 4:
            old = next(iter(modules))
            entry = modules.pop(old)
            self.call("unload", lambda: client.unload(old), module_gen=entry["gen"])

    def op_invoke(self, client, nrng, modules, name):
        entry = modules[name]
        inputs = spec_inputs(entry["spec"], nrng)
        try:
            out = self.call("invoke", lambda: client.invoke(name, inputs),
                            module_gen=entry["gen"])
        except RpcFailed as e:
            if e.code == "NOT_FOUND":
                modules.pop(name, None)
            raise
        self.check(name, spec_check(entry["spec"], inputs, out["result0"]))

    def op_expired(self, client, rng, nrng, modules):
        """A deadline that has passed by the time kilnd works on the request (1 us to 2 ms):
        DEADLINE_EXCEEDED, or an answer kilnd got back within it, which is checked too."""
        timeout = rng.choice([1e-6, 1e-4, 2e-3])
        choice = rng.choice(["infer", "compile", "invoke"])
        if choice == "invoke" and modules:
            name = rng.choice(sorted(modules))
            entry = modules[name]
            inputs = spec_inputs(entry["spec"], nrng)
            request = runtime_pb2.InvokeRequest(module=name, inputs=[
                runtime_pb2.Tensor(dtype=module_pb2.DATA_TYPE_I32 if a.dtype == np.int32
                                   else module_pb2.DATA_TYPE_F32, shape=a.shape,
                                   data=a.tobytes()) for a in inputs])
            response = self.call("expired_deadline", lambda: client.runtime.Invoke(
                request, timeout=timeout), module_gen=entry["gen"])
            out = np.frombuffer(response.outputs[0].data, dtype=inputs[0].dtype).reshape(
                tuple(response.outputs[0].shape))
            self.check(name, spec_check(entry["spec"], inputs, out))
        elif choice == "compile":
            source = spec_source(make_spec(rng)).encode()
            self.call("expired_deadline", lambda: client.compiler.Compile(
                compile_request(source), timeout=timeout))
        else:
            x = nrng.standard_normal((1, 64)).astype(np.float32)
            out = self.call("expired_deadline", lambda: client.infer("mlp", {"x": x},
                                                                     timeout=timeout))
            self.check("mlp", mlp_problem(x, out.get("logits"), self.mlp_path))

    def op_wrong_shape(self, client, rng, modules):
        if modules and rng.random() < 0.5:
            name = rng.choice(sorted(modules))
            entry = modules[name]
            wrong = [np.zeros([d + 1 for d in s], np.int32 if entry["spec"]["kind"] == "i32"
                              else np.float32) for s in entry["spec"]["shapes"]]
            self.call("wrong_shape", lambda: client.invoke(name, wrong), module_gen=entry["gen"])
        else:
            x = np.zeros((1, rng.choice([1, 63, 65, 128])), np.float32)
            self.call("wrong_shape", lambda: client.infer("mlp", {"x": x}))

    # -- sampling --

    def sample(self):
        if not self.ready.is_set():
            return
        server = self.server
        pid = server.proc.pid
        if server.proc.poll() is not None:
            self.restart("kilnd died")
            return
        try:
            status = proc_status(pid)
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            return  # restarted meanwhile
        row = {"t": round(self.now(), 1), "incarnation": len(self.incarnations), "pid": pid,
               "rss_mib": round(int(status["VmRSS"].split()[0]) / 1024, 1), "fds": fds,
               "threads": int(status["Threads"]), "workers": len(compile_workers(pid)),
               "worker_dirs": len(worker_dirs(self.worker_tmp))}
        self.samples.append(row)
        log(f"[{row['t']:7.1f}s] kilnd {pid}: rss {row['rss_mib']} MiB, fds {fds}, threads "
            f"{row['threads']}, workers {row['workers']}, dirs {row['worker_dirs']}; "
            f"answers checked {self.answers_checked}")

    def run(self):
        self.server = self.start_kilnd()
        self.ready.set()
        clients = [threading.Thread(target=self.client_loop, args=(i,), name=f"client{i}")
                   for i in range(self.args.clients)]
        faults = threading.Thread(target=self.fault_loop, name="faults")
        for t in clients + [faults]:
            t.start()
        end = self.start_time + self.args.minutes * 60
        next_sample = time.time()
        while time.time() < end and not self.stop.is_set():
            if time.time() >= next_sample:
                self.sample()
                next_sample += SAMPLE_SECONDS
            time.sleep(0.2)
        self.stop.set()
        for t in clients + [faults]:
            t.join(timeout=300)
            if t.is_alive():
                self.failure(f"thread {t.name} did not stop")
        self.stop_kilnd(self.server, "final")


def compile_request(source, do_not_cache=False):
    from kiln.compiler.v1 import compiler_pb2
    return compiler_pb2.CompileRequest(source=source, source_name="soak.mlir",
                                       options=compiler_pb2.CompileOptions(
                                           do_not_cache=do_not_cache))


def mlp_problem(x, out, model_path):
    """None if `out` is the example MLP's answer for x, else why not."""
    expected = mlp_reference(model_path, x)
    if out is not None and out.shape == expected.shape and \
            bool(np.all(np.abs(out - expected) <= 1e-5 + 1e-4 * np.abs(expected))):
        return None
    return f"x {x.tolist()}: got {None if out is None else out.tolist()}, " \
           f"expected {expected.tolist()}"


# ---- verdicts ----

def median(values):
    return statistics.median(values) if values else None


def flatness(soak):
    """Per incarnation: first vs last third of the samples after warm-up."""
    verdicts = []
    for number, incarnation in enumerate(soak.incarnations, start=1):
        rows = [s for s in soak.samples if s["incarnation"] == number and
                s["t"] - incarnation["ready"] >= soak.args.warmup]
        verdict = {"incarnation": number, "pid": incarnation["pid"], "samples": len(rows)}
        if len(rows) < MIN_JUDGED_SAMPLES:
            verdict["judged"] = False
            verdicts.append(verdict)
            continue
        third = len(rows) // 3
        first, last = rows[:third], rows[-third:]
        verdict["judged"] = True
        problems = []
        for key, slack in (("fds", FD_SLACK), ("threads", THREAD_SLACK)):
            a, b = median([r[key] for r in first]), median([r[key] for r in last])
            verdict[key] = [a, b]
            if b > a + slack:
                problems.append(f"{key} {a} -> {b} (more than +{slack})")
        a, b = median([r["rss_mib"] for r in first]), median([r["rss_mib"] for r in last])
        verdict["rss_mib"] = [a, b]
        allowed = max(a * RSS_SLACK_FRACTION, RSS_SLACK_BYTES / (1 << 20))
        if b > a + allowed:
            problems.append(f"RSS {a} -> {b} MiB (more than +{allowed:.0f} MiB)")
        verdict["problems"] = problems
        verdicts.append(verdict)
    return verdicts


def report(soak):
    print("\n   t(s)  inc     pid   RSS MiB   fds  threads  workers  dirs")
    for s in soak.samples:
        print(f"{s['t']:7.1f}  {s['incarnation']:3d}  {s['pid']:6d}  {s['rss_mib']:8.1f}  "
              f"{s['fds']:4d}  {s['threads']:7d}  {s['workers']:7d}  {s['worker_dirs']:4d}")
    print("\noperation outcomes:")
    for op in sorted(soak.counts):
        print(f"  {op:24s} " + ", ".join(f"{k} {v}" for k, v in sorted(soak.counts[op].items())))
    print(f"\nanswers checked against numpy: {soak.answers_checked}, wrong: {len(soak.wrong)}")
    print(f"worker kills sent: {len(soak.kills)}; restarts: {len(soak.windows)}")
    print("compile worker metrics (summed over incarnations): " +
          ", ".join(f"{k} {v:.0f}" for k, v in soak.worker_metrics.items()))
    for i in soak.incarnations:
        print(f"  kilnd {i['pid']}: ready at {i['ready']:.1f}s, ended at {i['ended']:.1f}s, "
              f"exit {i['exit_code']}, drain {i.get('drain_seconds')}s, "
              f"stray workers {i.get('stray_workers')}, leftover dirs {i.get('leftover_dirs')}")
    verdicts = flatness(soak)
    print("flatness (median of first vs last third after warm-up):")
    for v in verdicts:
        if not v["judged"]:
            print(f"  kilnd {v['pid']}: not judged ({v['samples']} samples after warm-up)")
        else:
            print(f"  kilnd {v['pid']}: rss {v['rss_mib']}, fds {v['fds']}, threads "
                  f"{v['threads']}: {'; '.join(v['problems']) or 'flat'}")
    failures = list(soak.failures)
    if soak.wrong:
        failures.append(f"{len(soak.wrong)} wrong answers, first: {soak.wrong[0]}")
    if soak.unexpected:
        failures.append(f"{len(soak.unexpected)} unexpected statuses, first: "
                        f"{soak.unexpected[:3]}")
    for v in verdicts:
        if v.get("problems"):
            failures.append(f"kilnd {v['pid']} not flat: {'; '.join(v['problems'])}")
    if soak.answers_checked == 0:
        failures.append("no answer was checked")
    return verdicts, failures


def main():
    global grpc, KilnClient, runtime_pb2, module_pb2
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kilnd", required=True)
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--examples", required=True)
    parser.add_argument("--client-dir", required=True, help="build/client_cli/python")
    parser.add_argument("--minutes", type=float,
                        default=float(os.environ.get("SOAK_MINUTES", "30")))
    parser.add_argument("--json", help="write samples, outcomes and verdicts here")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "1")))
    parser.add_argument("--kill-every", type=float, default=20.0,
                        help="mean seconds between compile worker kills")
    parser.add_argument("--restart-every", type=float,
                        help="seconds between SIGTERM/restarts (default 300; half the run "
                             "when it is shorter than 10 minutes)")
    parser.add_argument("--warmup", type=float, default=WARMUP_SECONDS)
    parser.add_argument("--think-ms", type=float, default=20.0,
                        help="mean pause between a client's operations")
    args = parser.parse_args()
    if args.restart_every is None:
        args.restart_every = 300.0 if args.minutes >= 10 else args.minutes * 30.0
    sys.path.insert(0, args.client_dir)
    import grpc as grpc_module
    from kiln_client import KilnClient as Client
    from kiln.module.v1 import module_pb2 as mpb2
    from kiln.runtime.v1 import runtime_pb2 as rpb2
    grpc, KilnClient, runtime_pb2, module_pb2 = grpc_module, Client, rpb2, mpb2

    soak = Soak(args)
    print(f"soak: {args.minutes} min, {args.clients} clients, worker kill every "
          f"~{args.kill_every:.0f}s, restart every {args.restart_every:.0f}s; work dir "
          f"{soak.work}", flush=True)
    try:
        soak.run()
    finally:
        if soak.server is not None and soak.server.proc.poll() is None:
            soak.server.cleanup()
    verdicts, failures = report(soak)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"minutes": args.minutes, "clients": args.clients, "seed": args.seed,
                       "criteria": {"warmup_s": args.warmup, "fd_slack": FD_SLACK,
                                    "thread_slack": THREAD_SLACK,
                                    "rss_slack": f"max({RSS_SLACK_FRACTION:.0%}, "
                                                 f"{RSS_SLACK_BYTES >> 20} MiB)"},
                       "samples": soak.samples, "outcomes": soak.counts,
                       "answers_checked": soak.answers_checked, "wrong": soak.wrong,
                       "unexpected": soak.unexpected, "incarnations": soak.incarnations,
                       "restarts": soak.windows, "worker_kills": len(soak.kills),
                       "worker_metrics": soak.worker_metrics, "flatness": verdicts,
                       "failures": failures, "passed": not failures}, f, indent=1)
    if failures:
        print("\nSOAK FAILED:\n  " + "\n  ".join(failures))
        print(f"kilnd logs kept in {soak.logs_dir}")
        return 1
    shutil.rmtree(soak.work, ignore_errors=True)
    print("\nSOAK PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
