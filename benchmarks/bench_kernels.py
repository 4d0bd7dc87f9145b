#!/usr/bin/python3
"""kiln vs OpenBLAS (numpy) on matmul shapes, measured side by side in one run.

For each shape: kiln compiles an MLIR matmul (kiln-compile), kiln-benchmark runs it through
the runtime, and numpy runs the same matmul, alternating kiln and the peer over several
repetitions so that machine noise hits both. Prints a table of GFLOP/s and kiln/peer ratios,
and writes the same rows as JSON.

Threads are matched: with --threads 1 kiln runs inline-dynamic on the calling thread
(local-sync) against single-threaded OpenBLAS; with --threads N > 1 kiln runs each function
in its own execution model, as kilnd does: async ones on a local-task device with N-1
executor workers plus the submitting thread, which helps run workgroups; ones the compiler
kept inline (too little work for a worker hand-off) on the calling thread. The peers get N
threads.

numpy's OpenBLAS is asked for its AVX-512 kernels (OPENBLAS_CORETYPE=SkylakeX) when the CPU
has AVX-512, as the codegen-performance issue specifies; this only affects this process.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def matmul_mlir(m, k, n):
    a, b, c = f"{m}x{k}xf32", f"{k}x{n}xf32", f"{m}x{n}xf32"
    return f"""func.func @main(%a: tensor<{a}>, %b: tensor<{b}>) -> tensor<{c}> {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{c}>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<{c}>) -> tensor<{c}>
  %r = linalg.matmul ins(%a, %b : tensor<{a}>, tensor<{b}>) outs(%f : tensor<{c}>) -> tensor<{c}>
  return %r : tensor<{c}>
}}
"""


def conv_mlir(n, h, w, c, f, kh, kw, s=1):
    oh, ow = (h - kh) // s + 1, (w - kw) // s + 1
    x, wt, y = f"{n}x{h}x{w}x{c}xf32", f"{kh}x{kw}x{c}x{f}xf32", f"{n}x{oh}x{ow}x{f}xf32"
    return f"""func.func @main(%x: tensor<{x}>, %w: tensor<{wt}>) -> tensor<{y}> {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{y}>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<{y}>) -> tensor<{y}>
  %r = linalg.conv_2d_nhwc_hwcf {{dilations = dense<1> : tensor<2xi64>, strides = dense<{s}> : tensor<2xi64>}}
    ins(%x, %w : tensor<{x}>, tensor<{wt}>) outs(%f : tensor<{y}>) -> tensor<{y}>
  return %r : tensor<{y}>
}}
"""


def depthwise_mlir(n, h, w, c, kh, kw, s=1):
    oh, ow = (h - kh) // s + 1, (w - kw) // s + 1
    x, wt, y = f"{n}x{h}x{w}x{c}xf32", f"{kh}x{kw}x{c}xf32", f"{n}x{oh}x{ow}x{c}xf32"
    return f"""func.func @main(%x: tensor<{x}>, %w: tensor<{wt}>) -> tensor<{y}> {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{y}>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<{y}>) -> tensor<{y}>
  %r = linalg.depthwise_conv_2d_nhwc_hwc {{dilations = dense<1> : tensor<2xi64>, strides = dense<{s}> : tensor<2xi64>}}
    ins(%x, %w : tensor<{x}>, tensor<{wt}>) outs(%f : tensor<{y}>) -> tensor<{y}>
  return %r : tensor<{y}>
}}
"""


def grouped_mlir(n, h, w, c, f, kh, kw, s, g):
    # The grouped form MLIR has for it: channels split into (group, channel) in the input
    # and output, weights [G, F/G, KH, KW, C/G]. ONNX Conv with 1 < group < C imports to this.
    oh, ow = (h - kh) // s + 1, (w - kw) // s + 1
    x, wt = f"{n}x{h}x{w}x{g}x{c // g}xf32", f"{g}x{f // g}x{kh}x{kw}x{c // g}xf32"
    y = f"{n}x{oh}x{ow}x{g}x{f // g}xf32"
    return f"""func.func @main(%x: tensor<{x}>, %w: tensor<{wt}>) -> tensor<{y}> {{
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{y}>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<{y}>) -> tensor<{y}>
  %r = linalg.conv_2d_nhwgc_gfhwc {{dilations = dense<1> : tensor<2xi64>, strides = dense<{s}> : tensor<2xi64>}}
    ins(%x, %w : tensor<{x}>, tensor<{wt}>) outs(%f : tensor<{y}>) -> tensor<{y}>
  return %r : tensor<{y}>
}}
"""


def run_onednn(peer, args, min_time):
    out = subprocess.run([peer] + [str(a) for a in args] + [str(min_time)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["seconds"]


def run_kiln(bench, module, inputs, device, workers, min_time):
    # One thread: everything inline on the calling thread. More: the function's own execution
    # model, as kilnd runs it (the compiler keeps small programs inline: a worker hand-off
    # costs more than they take).
    name = "local-sync" if device == "local-sync" else "own-model"
    cmd = [bench, "--module", module, "--function", "main", "--device", device,
           "--workers", str(workers), f"--benchmark_filter=invoke/main/{name}/",
           f"--benchmark_min_time={min_time}", "--benchmark_format=json"]
    for path in inputs:
        cmd += ["--input", "@" + path]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]
    return min(b["real_time"] for b in runs) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}[runs[0]["time_unit"]]


def run_numpy(np, a, b, min_time):
    np.matmul(a, b)  # warm up
    best, start, count = float("inf"), time.perf_counter(), 0
    while time.perf_counter() - start < min_time or count < 3:
        t = time.perf_counter()
        np.matmul(a, b)
        best = min(best, time.perf_counter() - t)
        count += 1
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--shapes", default="256x256x256,512x512x512,1024x1024x1024,"
                        "2048x2048x2048,"
                        "1x513x1000,384x383x384,49x576x64,197x768x768,"
                        # A vector times 16 MB of weights (batch-1 inference), from memory.
                        "1x4096x1024")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=1)
    # Convolutions, against oneDNN only (numpy has none): NxHxWxC (output size), then F for
    # dense ones or "dw" for depthwise, then optionally kK (a KxK window, 3 if not given) and
    # sS (stride S, 1 if not given), gG (G groups, F and C divided among them); the input is
    # pre-padded to what the window and stride read.
    parser.add_argument("--convs", default="1x56x56x64x64,1x28x28x128x128,1x56x56x128xdw,"
                        "1x112x112x64xdw")
    parser.add_argument("--json", default="")
    # avx2: the AVX2 fallback on an AVX-512 machine, against the peers' AVX2 kernels.
    parser.add_argument("--isa", choices=["native", "avx2"], default="native")
    args = parser.parse_args()

    probe = [os.path.join(args.build, "benchmarks", "kiln-fma-peak")]
    if args.isa == "avx2":
        probe.append("avx2")
    peak = json.loads(subprocess.run(probe, capture_output=True, text=True, check=True).stdout)
    compile_flags = []
    if args.isa == "avx2":
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"
        os.environ["ONEDNN_MAX_CPU_ISA"] = os.environ["DNNL_MAX_CPU_ISA"] = "AVX2"
        compile_flags = ["--target-cpu", "haswell"]
    elif peak["isa"] == "avx512":
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    os.environ.pop("OPENBLAS_L2_SIZE", None)
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # oneDNN's OpenMP
    onednn = os.path.join(args.build, "benchmarks", "kiln-onednn-peer")
    if not os.path.exists(onednn):
        print("kiln-onednn-peer not built (no libdnnl-dev): oneDNN columns are left out")
        onednn = None
    import numpy as np  # after the environment is set: OpenBLAS reads it at load

    compile_tool = os.path.join(args.build, "compiler_service", "kiln-compile")
    bench = os.path.join(args.build, "runtime_service", "tools", "kiln-benchmark")
    tmp = tempfile.mkdtemp(prefix="kiln-bench-")
    rows = []
    print(f"peak probe: {peak['peak_gflops_per_core']:.1f} GFLOP/s per core ({peak['isa']}); "
          f"threads: {args.threads}")
    print(f"{'shape (MxKxN)':>16} {'kiln':>10} {'numpy':>10} {'ratio':>7} {'%peak':>6}"
          f"{'oneDNN':>10} {'ratio':>7}" if onednn else "")
    for shape in [s for s in args.shapes.split(",") if s]:
        m, k, n = (int(v) for v in shape.split("x"))
        src = os.path.join(tmp, f"mm_{shape}.mlir")
        mod = os.path.join(tmp, f"mm_{shape}.kmod")
        with open(src, "w") as f:
            f.write(matmul_mlir(m, k, n))
        subprocess.run([compile_tool, src, "-o", mod] + compile_flags, check=True,
                       capture_output=True)
        rng = np.random.default_rng(0)
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        pa, pb = os.path.join(tmp, "a.npy"), os.path.join(tmp, "b.npy")
        np.save(pa, a)
        np.save(pb, b)
        flops = 2.0 * m * k * n
        device = "local-sync" if args.threads == 1 else "local-task"
        workers = max(1, args.threads - 1)
        kiln = peer = dnn = float("inf")
        for _ in range(args.repetitions):  # alternate so noise hits both sides
            kiln = min(kiln, run_kiln(bench, mod, [pa, pb], device, workers, args.min_time))
            peer = min(peer, run_numpy(np, a, b, args.min_time))
            if onednn:
                dnn = min(dnn, run_onednn(onednn, ["matmul", m, k, n], args.min_time))
        row = {"shape": shape, "threads": args.threads, "kiln_device": device,
               "kiln_gflops": flops / kiln / 1e9, "numpy_gflops": flops / peer / 1e9,
               "ratio_vs_numpy": peer / kiln,
               "fraction_of_peak": flops / kiln / 1e9 / (peak["peak_gflops_per_core"] * args.threads)}
        if onednn:
            row.update({"onednn_gflops": flops / dnn / 1e9, "ratio_vs_onednn": dnn / kiln})
        rows.append(row)
        print(f"{shape:>16} {row['kiln_gflops']:>10.1f} {row['numpy_gflops']:>10.1f} "
              f"{row['ratio_vs_numpy']:>7.2f} {100 * row['fraction_of_peak']:>5.0f}%" +
              (f"{row['onednn_gflops']:>10.1f} {row['ratio_vs_onednn']:>7.2f}" if onednn else ""))
    if onednn and args.convs:
        print(f"{'conv (NxHxWxC,F)':>22} {'kiln':>10} {'oneDNN':>10} {'ratio':>7} {'%peak':>6}")
    for conv in (args.convs.split(",") if onednn and args.convs else []):
        match = re.fullmatch(r"(\d+)x(\d+)x(\d+)x(\d+)x(\d+|dw)(?:k(\d+))?(?:s(\d+))?(?:g(\d+))?",
                             conv)
        if not match:
            parser.error(f"--convs: '{conv}' is not NxHxWxCx(F|dw)[kK][sS][gG]")
        n, h, w, c = (int(v) for v in match.groups()[:4])
        depthwise = match.group(5) == "dw"
        f = c if depthwise else int(match.group(5))
        k = int(match.group(6) or 3)
        s = int(match.group(7) or 1)
        g = int(match.group(8) or 1)
        if depthwise and g != 1 or c % g or f % g:
            parser.error(f"--convs: '{conv}': groups must divide C and F (depthwise has none)")
        ih, iw = (h - 1) * s + k, (w - 1) * s + k  # the pre-padded input
        src = os.path.join(tmp, f"conv_{conv}.mlir")
        mod = os.path.join(tmp, f"conv_{conv}.kmod")
        with open(src, "w") as out:
            out.write(depthwise_mlir(n, ih, iw, c, k, k, s) if depthwise
                      else grouped_mlir(n, ih, iw, c, f, k, k, s, g) if g > 1
                      else conv_mlir(n, ih, iw, c, f, k, k, s))
        subprocess.run([compile_tool, src, "-o", mod] + compile_flags, check=True,
                       capture_output=True)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, ih, iw, g, c // g) if g > 1 else (n, ih, iw, c),
                                dtype=np.float32)
        wt = rng.standard_normal((k, k, c) if depthwise else (g, f // g, k, k, c // g) if g > 1
                                 else (k, k, c, f), dtype=np.float32)
        px, pw = os.path.join(tmp, "x.npy"), os.path.join(tmp, "w.npy")
        np.save(px, x)
        np.save(pw, wt)
        flops = 2.0 * n * h * w * f * k * k * (1 if depthwise else c // g)
        device = "local-sync" if args.threads == 1 else "local-task"
        workers = max(1, args.threads - 1)
        peer_args = (["depthwise", n, ih, iw, c, k, k, s] if depthwise
                     else ["gconv", n, ih, iw, c, f, k, k, s, g] if g > 1
                     else ["conv", n, ih, iw, c, f, k, k, s])
        kiln = dnn = float("inf")
        for _ in range(args.repetitions):
            kiln = min(kiln, run_kiln(bench, mod, [px, pw], device, workers, args.min_time))
            dnn = min(dnn, run_onednn(onednn, peer_args, args.min_time))
        row = {"conv": conv, "threads": args.threads, "kiln_device": device,
               "kiln_gflops": flops / kiln / 1e9, "onednn_gflops": flops / dnn / 1e9,
               "ratio_vs_onednn": dnn / kiln,
               "fraction_of_peak": flops / kiln / 1e9 / (peak["peak_gflops_per_core"] * args.threads)}
        rows.append(row)
        print(f"{conv:>22} {row['kiln_gflops']:>10.1f} {row['onednn_gflops']:>10.1f} "
              f"{row['ratio_vs_onednn']:>7.2f} {100 * row['fraction_of_peak']:>5.0f}%")
    result = {"peak": peak, "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
