#!/usr/bin/python3
"""kiln vs PyTorch on the ONNX zoo of issue 14 (benchmarks/onnx_zoo.py), batch 1, in one run.

For each model (resnet18, mobilenet_v2, the 4-layer TransformerEncoder, the MLP; exported from
PyTorch at --opset with a static batch of 1, random weights from a fixed seed):

- compile: kiln-compile model.onnx -o model.kmod pinned to one core (taskset -c 0), a cold
  compile (kiln-compile has no cache), best of --compile-runs; with a kilnd built, also the
  Compile RPC's cache hit (best of 5) after one compile through it: kilnd's own timing and
  the Python client's round trip;
- run time: kiln-benchmark on the .kmod and PyTorch's best CPU path,
  torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model))) under no_grad, for
  1 and 2 threads, min and median over --runs samples each (kiln-benchmark: --runs
  repetitions of at least one call; PyTorch: --runs timed calls), kiln and PyTorch alternating
  over --rounds rounds so that machine noise hits both.
  Threads as bench_kernels.py matches them: 1 thread = kiln inline on the calling thread
  (local-sync) vs torch.set_num_threads(1); 2 threads = the function's own execution model on
  a local-task device with one executor worker plus the submitting thread (what kilnd runs)
  vs torch.set_num_threads(2).

Prints a table with ratios PyTorch time / kiln time (> 1: kiln is faster) and writes the rows
as JSON (--json); then, per model, the costliest dispatches of an inline run
(`kiln-run --profile`, --profile-top of them), the place to look where kiln falls behind.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import onnx_zoo  # noqa: E402


def kiln_compile(tool, model_path, module_path, runs):
    """Best wall time of `runs` cold compiles on core 0."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        r = subprocess.run(["taskset", "-c", "0", tool, model_path, "-o", module_path],
                           capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if r.returncode != 0:
            raise RuntimeError(f"kiln-compile {model_path} failed:\n{r.stderr}")
        best = min(best, seconds)
    return best


def kiln_samples(bench, module, x_path, threads, runs):
    """Per-call seconds of `runs` repetitions (each the mean of >= 1 calls)."""
    if threads == 1:
        device, workers, name = "local-sync", 1, "local-sync"
    else:
        device, workers, name = "local-task", threads - 1, "own-model"
    cmd = [bench, "--module", module, "--function", "main", "--input", "@" + x_path,
           "--device", device, "--workers", str(workers),
           f"--benchmark_filter=^invoke/main/{name}/", "--benchmark_min_time=0.0001",
           f"--benchmark_repetitions={runs}", "--benchmark_format=json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    runs_json = [b for b in json.loads(r.stdout)["benchmarks"] if b.get("run_type") == "iteration"]
    if not runs_json:
        raise RuntimeError(f"no benchmark ran: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return [b["real_time"] * unit[b["time_unit"]] for b in runs_json]


def torch_samples(torch, jit_model, x, threads, runs):
    torch.set_num_threads(threads)
    example = torch.from_numpy(x)
    times = []
    with torch.no_grad():
        for _ in range(5):  # warm up at this thread count
            jit_model(example)
        for _ in range(runs):
            start = time.perf_counter()
            jit_model(example)
            times.append(time.perf_counter() - start)
    return times


def cache_hit_times(build, modules):
    """{model: (server seconds, round-trip seconds)} of a Compile that hits the cache (best of
    5) on a private kilnd: the server's own phase timings, and the Python client's round trip.
    The client names the model by its tree hash (source_digest) instead of sending it, so the
    round trip is the client's hash of the file plus one small RPC."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration_tests"))
    sys.path.insert(0, os.path.join(build, "client_cli", "python"))
    from kiln_harness import Kilnd
    from kiln_client import KilnClient
    server = Kilnd(os.path.join(build, "server", "kilnd"),
                   os.path.join(build, "client_cli", "kiln"))
    result = {}
    try:
        server.wait_ready()
        with KilnClient(server.address, timeout=600) as client:
            for name, path in modules.items():
                client.compile(path, source_format="onnx")
                server_best = round_trip_best = float("inf")
                for _ in range(5):
                    start = time.perf_counter()
                    response = client.compile(path, source_format="onnx")
                    round_trip_best = min(round_trip_best, time.perf_counter() - start)
                    assert response.cache_hit, name
                    server_best = min(server_best,
                                      sum(t.milliseconds for t in response.timings) / 1e3)
                result[name] = (server_best, round_trip_best)
    finally:
        server.terminate()
        server.cleanup()
    return result


def dispatch_profile(run_tool, module, x_path, runs, top):
    """The head of `kiln-run --profile runs`: the summary line and the `top` costliest
    dispatches (one thread, inline)."""
    r = subprocess.run([run_tool, "--module", module, "--input", "@" + x_path, "--profile",
                        str(runs)], capture_output=True, text=True)
    if r.returncode != 0:
        return f"kiln-run --profile failed: {r.stderr.strip()}"
    lines = r.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if " runs, " in line), 0)
    return "\n".join(lines[start:start + 2 + top])


def fmt_ms(seconds):
    return f"{seconds * 1e3:8.3f}" if seconds < 0.1 else f"{seconds * 1e3:8.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--models", default=",".join(onnx_zoo.MODELS))
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=60, help="samples per side (>= 50)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="kiln/PyTorch alternations; samples are pooled")
    parser.add_argument("--compile-runs", type=int, default=1)
    parser.add_argument("--no-cache-hit", action="store_true",
                        help="skip the Compile RPC cache-hit timing (needs kilnd)")
    parser.add_argument("--profile-runs", type=int, default=20,
                        help="kiln-run --profile N per model (0: no dispatch profile)")
    parser.add_argument("--profile-top", type=int, default=8)
    parser.add_argument("--json", default="")
    parser.add_argument("--keep", default="", help="keep the .onnx/.kmod/.npy files here")
    args = parser.parse_args()

    import numpy as np
    import torch

    compile_tool = os.path.join(args.build, "compiler_service", "kiln-compile")
    bench = os.path.join(args.build, "runtime_service", "tools", "kiln-benchmark")
    run_tool = os.path.join(args.build, "runtime_service", "tools", "kiln-run")
    tmp = args.keep or tempfile.mkdtemp(prefix="kiln-bench-models-")
    os.makedirs(tmp, exist_ok=True)
    threads = [int(t) for t in args.threads.split(",") if t]
    names = [m for m in args.models.split(",") if m]
    rows = []
    try:
        prepared = {}
        for name in names:
            model = onnx_zoo.build_model(name)
            x = onnx_zoo.example_input(name, 1)
            onnx_path = os.path.join(tmp, f"{name}.onnx")
            onnx_zoo.export_onnx(model, name, onnx_path, args.opset, dynamic=False)
            x_path = os.path.join(tmp, f"{name}_x.npy")
            np.save(x_path, x)
            module = os.path.join(tmp, f"{name}.kmod")
            compile_seconds = kiln_compile(compile_tool, onnx_path, module, args.compile_runs)
            jit_model = onnx_zoo.torch_jit(model, x)
            prepared[name] = (onnx_path, x, x_path, module, compile_seconds, jit_model)
            print(f"{name}: exported (opset {args.opset}), compiled in {compile_seconds:.2f} s "
                  f"on one core", flush=True)
        hits = {}
        if not args.no_cache_hit and os.path.exists(os.path.join(args.build, "server", "kilnd")):
            hits = cache_hit_times(args.build, {n: p[0] for n, p in prepared.items()})

        print()
        print("compile: kiln-compile on one core; hit: a Compile RPC cache hit, in kilnd / "
              "round trip from Python; times in ms; ratio = PyTorch / kiln")
        print(f"{'model':>13} {'compile':>8} {'hit':>15} {'thr':>3} | {'kiln min':>8} "
              f"{'median':>8} | {'torch min':>9} {'median':>8} | {'ratio min':>9} "
              f"{'median':>6}")
        for name in names:
            onnx_path, x, x_path, module, compile_seconds, jit_model = prepared[name]
            for t in threads:
                kiln, peer = [], []
                for _ in range(args.rounds):
                    kiln += kiln_samples(bench, module, x_path, t, args.runs // args.rounds +
                                         (args.runs % args.rounds > 0))
                    peer += torch_samples(torch, jit_model, x, t, args.runs // args.rounds +
                                          (args.runs % args.rounds > 0))
                row = {"model": name, "opset": args.opset, "threads": t,
                       "compile_seconds_one_core": compile_seconds,
                       "cache_hit_server_seconds": hits[name][0] if name in hits else None,
                       "cache_hit_round_trip_seconds": hits[name][1] if name in hits else None,
                       "kiln_min_s": min(kiln), "kiln_median_s": statistics.median(kiln),
                       "torch_min_s": min(peer), "torch_median_s": statistics.median(peer),
                       "kiln_samples": len(kiln), "torch_samples": len(peer)}
                row["ratio_min"] = row["torch_min_s"] / row["kiln_min_s"]
                row["ratio_median"] = row["torch_median_s"] / row["kiln_median_s"]
                rows.append(row)
                hit = (f"{hits[name][0] * 1e3:5.1f}/{hits[name][1] * 1e3:6.1f}" if name in hits
                       else "-")
                print(f"{name:>13} {compile_seconds:7.2f}s {hit:>15} {t:>3} | "
                      f"{fmt_ms(row['kiln_min_s'])} {fmt_ms(row['kiln_median_s'])} | "
                      f"{fmt_ms(row['torch_min_s']):>9} {fmt_ms(row['torch_median_s'])} | "
                      f"{row['ratio_min']:9.2f} {row['ratio_median']:6.2f}", flush=True)
        if args.profile_runs > 0:
            for name in names:
                _, _, x_path, module, _, _ = prepared[name]
                print(f"\n{name}: per-dispatch time, inline on one thread (kiln-run --profile "
                      f"{args.profile_runs})")
                print(dispatch_profile(run_tool, module, x_path, args.profile_runs,
                                       args.profile_top))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=2)
    slower = [r for r in rows if r["ratio_median"] < 1.0]
    if slower:
        print("\nkiln is slower than PyTorch (median) on: " +
              ", ".join(f"{r['model']} ({r['threads']} thread{'s' if r['threads'] > 1 else ''}"
                        f", {r['ratio_median']:.2f}x)" for r in slower))
    return 0


if __name__ == "__main__":
    sys.exit(main())
