"""Measure real kernels on an NVIDIA GPU to validate silica's kernel models.

Run on a machine with PyTorch and an NVIDIA GPU:
    python3 validation/measured/measure_gpu.py OUT.json

Every figure is the median of timed repeats with CUDA events after warm-up (short kernels launched
back to back, at least ~1 ms between the events, so the host's launch time is hidden), on random data
(never zeros), with rotating input buffers for kernels whose inputs would fit in L2. The SM clock
and power are sampled through NVML during each GEMM so the sustained clock under matrix load is
recorded next to the throughput (silica's `clock_sustained_mhz` is that figure).
"""
import json, os, subprocess, sys, threading, time, statistics
import torch

try:
    import pynvml
    pynvml.nvmlInit()
    NVML = pynvml.nvmlDeviceGetHandleByIndex(0)
except Exception:  # pragma: no cover
    NVML = None

dev = torch.device("cuda")
props = torch.cuda.get_device_properties(0)


class ClockSampler:
    """NVML's SM clock (MHz) and board power (W), sampled every `interval_s` while in the block."""
    def __init__(self, interval_s=0.005):
        self.samples, self.power, self.stop, self.interval_s = [], [], False, interval_s

    def __enter__(self):
        def run():
            while not self.stop:
                if NVML is not None:
                    self.samples.append(pynvml.nvmlDeviceGetClockInfo(NVML, pynvml.NVML_CLOCK_SM))
                    self.power.append(pynvml.nvmlDeviceGetPowerUsage(NVML) / 1000)
                time.sleep(self.interval_s)
        self.t = threading.Thread(target=run, daemon=True)
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop = True
        self.t.join()


def back_to_back(fn, stream, seconds, batch):
    """fn launched back to back on `stream` for `seconds` (in batches of `batch`, synchronising between
    them) while NVML samples every 10 ms. Returns (ms of the whole run by CUDA events, calls, the SM
    clock samples and the power samples of the last two thirds: NVML's power lags a change, and the
    number of samples taken in all)."""
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    calls = 0
    with ClockSampler(interval_s=0.01) as c:
        t0 = time.time(); e0.record(stream)
        with torch.cuda.stream(stream):
            while time.time() - t0 < seconds:
                for _ in range(batch): fn()
                calls += batch
                stream.synchronize()
        e1.record(stream); stream.synchronize()
    return e0.elapsed_time(e1), calls, c.samples[len(c.samples) // 3:], c.power[len(c.power) // 3:], len(c.samples)


def build_cuda_library(source, lib_path):
    """nvcc builds `source` (a .cu file beside this one) into the shared library `lib_path`, its
    CUDA runtime linked in; returns the command as the results record it. Raises if nvcc fails."""
    cmd = ["nvcc", "-O2", "-arch=sm_90a", "-shared", "-Xcompiler", "-fPIC", "-cudart", "static", "-o", lib_path,
           os.path.join(os.path.dirname(os.path.abspath(__file__)), source)]
    subprocess.run(cmd, check=True)
    return " ".join(cmd[:-1] + [source])


def time_ms(fn, repeats=20, warmup=5, stream=None):
    """Median per-call time of `inner` back-to-back calls of fn between two events on `stream`
    (default: the current stream; fn launches on whatever stream the caller made current). One
    call between events also times the host's launch (cuBLASLt and PyTorch spend 10-20 us
    enqueueing a call while the GPU idles), which is not the GPU's time: short kernels are batched
    so the queue stays full, as in a real program (ncu confirmed it: an 8x8192x8192 GEMM's kernel
    takes 34 us, one event-timed call 51 us). `inner` makes each timed window at least ~1 ms."""
    s = stream or torch.cuda.current_stream()
    for _ in range(warmup):
        fn()
    s.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record(s); fn(); b.record(s); b.synchronize()
    inner = max(1, min(50, int(1.0 / max(a.elapsed_time(b), 1e-3))))
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(s)
        for _ in range(inner):
            fn()
        b.record(s); b.synchronize()
        times.append(a.elapsed_time(b) / inner)
    return statistics.median(times)


def gemm(m, n, k, dtype=torch.bfloat16, repeats=20):
    # Rotate among enough operand sets that they do not all fit in L2 (50 MB on H100).
    per_set = (m * k + k * n) * torch.tensor([], dtype=dtype).element_size()
    sets = max(1, min(8, int(256e6 // max(per_set, 1)) + 1)) if per_set < 128e6 else 1
    As = [torch.randn(m, k, device=dev, dtype=dtype) for _ in range(sets)]
    Bs = [torch.randn(k, n, device=dev, dtype=dtype) for _ in range(sets)]
    i = [0]
    def fn():
        j = i[0] % sets; i[0] += 1
        torch.matmul(As[j], Bs[j])
    with ClockSampler() as c:
        ms = time_ms(fn, repeats=repeats)
    clk = statistics.median(c.samples) if c.samples else None
    pw = statistics.median(c.power) if c.power else None
    del As, Bs
    return {"m": m, "n": n, "k": k, "dtype": str(dtype).replace("torch.", ""), "time_us": ms * 1e3,
            "tflops": 2 * m * n * k / (ms * 1e-3) / 1e12, "sm_clock_mhz_median": clk, "power_w_median": pw}


def stream(op, nbytes=2**30):
    n = nbytes // 4
    a = torch.randn(n, device=dev); b = torch.randn(n, device=dev); c = torch.empty(n, device=dev)
    if op == "copy":
        fn, moved = (lambda: c.copy_(a)), 2 * nbytes
    elif op == "scale":
        fn, moved = (lambda: torch.mul(a, 3.0, out=c)), 2 * nbytes
    elif op == "add":
        fn, moved = (lambda: torch.add(a, b, out=c)), 3 * nbytes
    else:  # triad
        fn, moved = (lambda: torch.add(a, b, alpha=3.0, out=c)), 3 * nbytes
    ms = time_ms(fn, repeats=30)
    return {"op": op, "array_bytes": nbytes, "time_us": ms * 1e3, "achieved_gbps": moved / (ms * 1e-3) / 1e9}


def rowops(rows, cols, dtype=torch.bfloat16):
    x = torch.randn(rows, cols, device=dev, dtype=dtype)
    ln = torch.nn.LayerNorm(cols, device=dev, dtype=dtype)
    out = []
    for name, fn in [("layernorm", lambda: ln(x)), ("softmax", lambda: torch.softmax(x, dim=-1)),
                     ("gelu", lambda: torch.nn.functional.gelu(x))]:
        ms = time_ms(fn, repeats=30)
        b = rows * cols * x.element_size() * 2
        out.append({"op": name, "rows": rows, "cols": cols, "dtype": "bf16", "time_us": ms * 1e3, "achieved_gbps": b / (ms * 1e-3) / 1e9})
    return out


def attention(b, h, s, d, causal):
    q = torch.randn(b, h, s, d, device=dev, dtype=torch.bfloat16)
    k = torch.randn_like(q); v = torch.randn_like(q)
    fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    ms = time_ms(fn, repeats=20)
    flops = 4 * b * h * s * s * d * (0.5 if causal else 1.0)
    return {"batch": b, "heads": h, "seq": s, "head_dim": d, "causal": causal, "time_us": ms * 1e3, "tflops": flops / (ms * 1e-3) / 1e12}


def decode_llama7b(batch=1, layers=32, hidden=4096, ffn=11008, vocab=32000, graph=True):
    """One decode step's GEMV chain of a Llama-2-7B-shaped model (random bf16 weights, no attention
    over a cache beyond a 1-token context): the weight-streaming floor that batch-1 decode sits on."""
    dt = torch.bfloat16
    W = [dict(qkv=torch.randn(hidden, 3 * hidden, device=dev, dtype=dt) * 0.01,
              o=torch.randn(hidden, hidden, device=dev, dtype=dt) * 0.01,
              gu=torch.randn(hidden, 2 * ffn, device=dev, dtype=dt) * 0.01,
              d=torch.randn(ffn, hidden, device=dev, dtype=dt) * 0.01) for _ in range(layers)]
    head = torch.randn(hidden, vocab, device=dev, dtype=dt) * 0.01
    x0 = torch.randn(batch, hidden, device=dev, dtype=dt)
    norm = torch.nn.RMSNorm(hidden, device=dev, dtype=dt) if hasattr(torch.nn, "RMSNorm") else torch.nn.LayerNorm(hidden, device=dev, dtype=dt)
    def step():
        x = x0
        for w in W:
            h = norm(x)
            qkv = h @ w["qkv"]
            x = x + qkv[:, :hidden] @ w["o"]
            h = norm(x)
            gu = h @ w["gu"]
            x = x + (torch.nn.functional.silu(gu[:, :ffn]) * gu[:, ffn:]) @ w["d"]
        return norm(x) @ head
    weight_bytes = sum(t.numel() * 2 for w in W for t in w.values()) + head.numel() * 2
    if graph:
        s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3): step()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            step()
        fn = g.replay
    else:
        fn = step
    ms = time_ms(fn, repeats=30)
    del W
    return {"model": "llama2-7b-shaped", "batch": batch, "cuda_graph": graph, "ms_per_token": ms, "weight_bytes": weight_bytes,
            "effective_gbps": weight_bytes / (ms * 1e-3) / 1e9}


def main(out_path):
    t0 = time.time()
    res = {"device": torch.cuda.get_device_name(0), "sms": props.multi_processor_count,
           "l2_bytes": getattr(props, "L2_cache_size", None), "memory_bytes": props.total_memory,
           "torch": torch.__version__, "cuda": torch.version.cuda,
           "method": "median of CUDA-event-timed repeats after warm-up, short kernels back to back (>= ~1 ms per timed window); random data; rotating operand sets for GEMMs below 128 MB of operands; NVML SM clock sampled every 5 ms during GEMMs",
           "gemm": [], "stream": [], "rowops": [], "attention": [], "decode": []}
    shapes = [(8192, 8192, 8192), (2048, 2048, 13312), (4096, 4864, 32896), (1024, 10240, 5120), (4096, 4096, 4096),
              (2048, 2048, 2048), (1024, 1024, 1024), (16384, 1024, 4096), (8192, 3072, 1024), (8192, 1024, 4096),
              (1, 4096, 4096), (1, 11008, 4096), (8, 8192, 8192), (32, 8192, 8192), (128, 8192, 8192), (512, 8192, 8192)]
    for m, n, k in shapes:
        res["gemm"].append(gemm(m, n, k)); print("gemm", res["gemm"][-1], flush=True)
    for m, n, k in [(8192, 8192, 8192), (4096, 4096, 4096)]:
        res["gemm"].append(gemm(m, n, k, torch.float16)); print("gemm", res["gemm"][-1], flush=True)
        res["gemm"].append(gemm(m, n, k, torch.float32, repeats=10)); print("gemm", res["gemm"][-1], flush=True)
    for op in ["copy", "scale", "add", "triad"]:
        res["stream"].append(stream(op)); print("stream", res["stream"][-1], flush=True)
    for rows, cols in [(16384, 1024), (65536, 1024), (8192, 4096)]:
        res["rowops"] += rowops(rows, cols); print("rowops", res["rowops"][-3:], flush=True)
    for b, h, s, d, c in [(16, 16, 512, 64, False), (8, 32, 2048, 128, True), (1, 32, 8192, 128, True)]:
        res["attention"].append(attention(b, h, s, d, c)); print("attn", res["attention"][-1], flush=True)
    for batch, graph in [(1, True), (1, False), (16, True)]:
        res["decode"].append(decode_llama7b(batch=batch, graph=graph)); print("decode", res["decode"][-1], flush=True)
    res["wall_s"] = time.time() - t0
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print("done in", res["wall_s"], "s")


if __name__ == "__main__":
    main(sys.argv[1])
