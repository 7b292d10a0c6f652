"""How kernels scale with the number of SMs they may use: the NVIDIA counterpart of CU masking.

    python3 validation/measured/sm_scaling.py OUT.json [PART,PART...]   (default: every part)

silica's serving study runs prefill and decode on disjoint CU sets, so how a GEMM and a memory-bound
kernel slow down on part of the chip is the quantity it must get right. Three measurements:

1. `persistent_copy`: a grid-stride float4 copy of 1 GiB (CuPy/NVRTC kernel) launched with exactly N
   blocks of 1024 threads, each block asking for 120 KB of shared memory so no SM holds two: the
   copy runs on N SMs. Two variants differ only in loads in flight per thread (1 and 4 float4s),
   i.e. 16 KB and 64 KB per SM: Little's law says bandwidth = bytes in flight / latency until HBM
   saturates.
2. `green_context`: PyTorch's own kernels (cuBLAS GEMMs, its copy kernel, a GEMV-like skinny GEMM)
   on a CUDA green context of N SMs (torch.cuda.GreenContext where this PyTorch has it, else the
   driver API through cuda-bindings and an external stream). Recorded with the SM count the driver
   actually granted.
3. `corun`: two green contexts that split the chip (A of N SMs, B the rest), each with its own
   stream: a workload on A and one on B, first alone and then together (launches interleaved), so
   the slowdown each suffers from the other (shared HBM, L2 and power) is measured.
4. `latency`: one thread chasing a random cycle through 1 GiB (256-byte spaced slots): the unloaded
   DRAM latency (TLB misses included), in ns per dependent load.

Every part is independent: a part that fails records its error and the others still run.
"""
import json, sys, time, statistics, traceback

import torch

from measure_gpu import time_ms  # same directory

RES = {"device": torch.cuda.get_device_name(0), "sms": torch.cuda.get_device_properties(0).multi_processor_count,
       "torch": torch.__version__, "cuda": torch.version.cuda, "method": __doc__.strip().splitlines()[0]}
SM_COUNTS = [8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 132]


def save(path):
    with open(path, "w") as f:
        json.dump(RES, f, indent=1)


def events_ms(fn, stream=None, repeats=15, warmup=3):
    """measure_gpu.time_ms with this script's repeat counts."""
    return time_ms(fn, repeats=repeats, warmup=warmup, stream=stream)


COPY_SRC = r"""
extern "C" __global__ void copy_u1(const float4* __restrict__ a, float4* __restrict__ c, long long n4) {
  extern __shared__ float pad[];  // only to keep one block per SM
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  for (; i < n4; i += stride) c[i] = a[i];
  if (n4 < 0) pad[threadIdx.x] = 0.f;
}
extern "C" __global__ void copy_u4(const float4* __restrict__ a, float4* __restrict__ c, long long n4) {
  extern __shared__ float pad[];
  long long stride = (long long)gridDim.x * blockDim.x;
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n4; i += 4 * stride) {
    float4 x0 = a[i], x1 = a[i + stride], x2 = a[i + 2 * stride], x3 = a[i + 3 * stride];
    c[i] = x0; c[i + stride] = x1; c[i + 2 * stride] = x2; c[i + 3 * stride] = x3;
  }
  for (; i < n4; i += stride) c[i] = a[i];
  if (n4 < 0) pad[threadIdx.x] = 0.f;
}
extern "C" __global__ void chase(const unsigned long long* __restrict__ next, unsigned long long start, long long steps, unsigned long long* out) {
  unsigned long long p = start;
  for (long long i = 0; i < steps; i++) p = next[p];
  out[0] = p;
}
"""


def persistent_copy():
    import cupy as cp
    mod = cp.RawModule(code=COPY_SRC, options=("-std=c++17",))
    nbytes = 1 << 30
    n4 = nbytes // 16
    a = torch.randn(nbytes // 4, device="cuda"); c = torch.empty_like(a)
    ca = cp.asarray(a); cc = cp.asarray(c)
    out = []
    smem = 120 * 1024
    for name in ["copy_u1", "copy_u4"]:
        k = mod.get_function(name)
        k.max_dynamic_shared_size_bytes = smem
        for n in SM_COUNTS:
            fn = lambda: k((n,), (1024,), (ca, cc, cp.int64(n4)), shared_mem=smem)
            ms = events_ms(fn)
            ok = bool(torch.equal(a[:1024], c[:1024])) and bool(torch.equal(a[-1024:], c[-1024:]))
            out.append({"kernel": name, "sms": n, "threads_per_sm": 1024, "bytes_in_flight_per_sm": 1024 * 16 * (4 if name == "copy_u4" else 1),
                        "time_us": ms * 1e3, "achieved_gbps": 2 * nbytes / (ms * 1e-3) / 1e9, "verified": ok})
            print("persistent", out[-1], flush=True)
    return out


def latency():
    import cupy as cp, numpy as np
    mod = cp.RawModule(code=COPY_SRC, options=("-std=c++17",))
    k = mod.get_function("chase")
    slots = 1 << 22                       # 4 Mi slots, 256 B apart: 1 GiB footprint, 20x the L2
    spacing = 32                          # uint64 per slot
    rng = np.random.default_rng(7)
    order = rng.permutation(slots).astype(np.uint64) * spacing
    nxt = np.zeros(slots * spacing, dtype=np.uint64)
    nxt[order] = np.roll(order, -1)
    dnext = cp.asarray(nxt); out = cp.zeros(1, dtype=cp.uint64)
    res = []
    for steps in [20000, 200000]:
        fn = lambda: k((1,), (1,), (dnext, cp.uint64(int(order[0])), cp.int64(steps), out))
        ms = events_ms(fn, repeats=5, warmup=1)
        res.append({"steps": steps, "footprint_bytes": slots * spacing * 8, "slot_spacing_bytes": spacing * 8, "time_us": ms * 1e3, "ns_per_load": ms * 1e6 / steps})
        print("latency", res[-1], flush=True)
    return res


def workloads(stream):
    """(name, fn, flops, bytes) on `stream`, all bf16 except the fp32 copy."""
    dt = torch.bfloat16
    with torch.cuda.stream(stream):
        A = torch.randn(4096, 4096, device="cuda", dtype=dt); B = torch.randn(4096, 4096, device="cuda", dtype=dt)
        X = torch.randn(8, 8192, device="cuda", dtype=dt); W = torch.randn(8192, 8192, device="cuda", dtype=dt)
        P = torch.randn(8192, 8192, device="cuda", dtype=dt); Q = torch.randn(8192, 2048, device="cuda", dtype=dt)
        s = torch.randn(1 << 28, device="cuda"); d = torch.empty_like(s)
    stream.synchronize()
    return [
        ("gemm 4096x4096x4096", lambda: torch.matmul(A, B), 2 * 4096 ** 3, None),
        ("gemm 8192x2048x8192", lambda: torch.matmul(P, Q), 2 * 8192 * 2048 * 8192, None),
        ("gemm 8x8192x8192", lambda: torch.matmul(X, W), 2 * 8 * 8192 * 8192, 8192 * 8192 * 2),
        ("copy fp32 1GiB", lambda: d.copy_(s), 0, 2 * (1 << 30)),
    ]


def measure_on(stream, n_req, n_got, how):
    rows = []
    with torch.cuda.stream(stream):
        for name, fn, flops, nbytes in workloads(stream):
            ms = events_ms(fn, stream=stream)
            r = {"workload": name, "sms_requested": n_req, "sms": n_got, "via": how, "time_us": ms * 1e3}
            if flops: r["tflops"] = flops / (ms * 1e-3) / 1e12
            if nbytes: r["achieved_gbps"] = nbytes / (ms * 1e-3) / 1e9
            rows.append(r); print("green", r, flush=True)
    return rows


def green_torch():
    GC = getattr(torch.cuda, "GreenContext", None)
    if GC is None:
        from torch.cuda.green_contexts import GreenContext as GC  # noqa: N814
    rows = []
    for n in SM_COUNTS:
        ctx = GC.create(num_sms=n, device_id=0)
        ctx.make_current()
        try:
            rows += measure_on(torch.cuda.current_stream(), n, None, "torch.cuda.GreenContext")
        finally:
            ctx.pop_context()
    return rows


def _check(r):
    """A cuda-bindings call's return values, once its CUresult (the first) says success."""
    err = r[0] if isinstance(r, tuple) else r
    if (err.value if hasattr(err, "value") else int(err)) != 0:
        raise RuntimeError(f"CUDA driver error {err}")
    return r[1:] if isinstance(r, tuple) and len(r) > 2 else (r[1] if isinstance(r, tuple) and len(r) == 2 else None)


def green_lanes(n, rest=False):
    """A green context of n SMs (and, with `rest`, one of the SMs left over), each with a stream
    PyTorch can launch on; returns [(stream, sms, ctx, raw stream)]. Close with close_lanes."""
    from cuda.bindings import driver as cu
    dev = _check(cu.cuDeviceGet(0))
    full = _check(cu.cuDeviceGetDevResource(dev, cu.CUdevResourceType.CU_DEV_RESOURCE_TYPE_SM))
    groups, _, remaining = _check(cu.cuDevSmResourceSplitByCount(1, full, 0, n))
    out = []
    for res in (groups[0], remaining) if rest else (groups[0],):
        desc = _check(cu.cuDevResourceGenerateDesc([res], 1))
        g = _check(cu.cuGreenCtxCreate(desc, dev, cu.CUgreenCtxCreate_flags.CU_GREEN_CTX_DEFAULT_STREAM))
        st = _check(cu.cuGreenCtxStreamCreate(g, cu.CUstream_flags.CU_STREAM_NON_BLOCKING, 0))
        out.append((torch.cuda.ExternalStream(int(st)), int(res.sm.smCount), g, st))
    return out


def close_lanes(lanes):
    from cuda.bindings import driver as cu
    torch.cuda.synchronize()
    for _, _, g, st in lanes:
        cu.cuStreamDestroy(st); cu.cuGreenCtxDestroy(g)


def green_driver():
    torch.cuda.init(); torch.zeros(1, device="cuda")
    rows = []
    for n in SM_COUNTS:
        lanes = green_lanes(n)
        try:
            ext, got, _, _ = lanes[0]
            rows += measure_on(ext, n, got, "cuda-bindings green context + ExternalStream")
        finally:
            close_lanes(lanes)
    return rows


def co_window(a, b):
    """Each side (stream, fn, reps) launches fn reps times on its stream, the two interleaved so
    both start together; returns each side's window in ms, its first launch to its last completion
    (None for a side with 0 reps)."""
    torch.cuda.synchronize()
    sides = [(s, fn, n, [torch.cuda.Event(enable_timing=True) for _ in range(2)]) for s, fn, n in (a, b)]
    for s, _, n, ev in sides:
        if n: ev[0].record(s)
    # Each side's end event goes in right after its last launch, not after the loop: where the other
    # side's calls are short, the host enqueues them slower than the GPU runs them, and an event
    # recorded after the loop would end an idle side's window at the host's pace, not its own
    # (h200-141gb-hbm3e-loaded-latency-launch-length.json: partners of 5-26 us calls).
    for i in range(max(a[2], b[2])):
        for s, fn, n, ev in sides:
            if i < n:
                with torch.cuda.stream(s): fn()
                if i == n - 1: ev[1].record(s)
    torch.cuda.synchronize()
    return tuple(ev[0].elapsed_time(ev[1]) if n else None for _, _, n, ev in sides)


def corun():
    dt = torch.bfloat16
    P = torch.randn(8192, 8192, device="cuda", dtype=dt); Q = torch.randn(8192, 2048, device="cuda", dtype=dt)
    X = torch.randn(8, 8192, device="cuda", dtype=dt); W = torch.randn(8192, 8192, device="cuda", dtype=dt)
    s1 = torch.randn(1 << 27, device="cuda"); d1 = torch.empty_like(s1)   # 512 MiB each
    s2 = torch.randn(1 << 27, device="cuda"); d2 = torch.empty_like(s2)
    torch.cuda.synchronize()
    kinds = {
        "gemm 8192x2048x8192": (lambda: torch.matmul(P, Q), lambda: torch.matmul(P, Q)),
        "gemm 8x8192x8192": (lambda: torch.matmul(X, W), lambda: torch.matmul(X, W)),
        "copy fp32 512MiB": (lambda: d1.copy_(s1), lambda: d2.copy_(s2)),
    }
    pairs = [("gemm 8192x2048x8192", "gemm 8x8192x8192"), ("gemm 8192x2048x8192", "copy fp32 512MiB"),
             ("copy fp32 512MiB", "copy fp32 512MiB"), ("gemm 8192x2048x8192", "gemm 8192x2048x8192")]
    rows = []
    for n_a in [66, 100, 116]:
        lanes = green_lanes(n_a, rest=True)
        try:
            (sa, na, _, _), (sb, nb, _, _) = lanes
            for wa, wb in pairs:
                fa, fb = kinds[wa][0], kinds[wb][1]
                with torch.cuda.stream(sa):
                    ta = events_ms(fa, stream=sa)
                with torch.cuda.stream(sb):
                    tb = events_ms(fb, stream=sb)
                ra = max(1, int(60 / ta)); rb = max(1, int(60 / tb))   # ~60 ms of work on each side
                window = lambda run_a, run_b: co_window((sa, fa, ra if run_a else 0), (sb, fb, rb if run_b else 0))
                window(True, True)  # warm-up
                alone_a = window(True, False)[0]; alone_b = window(False, True)[1]
                tog_a, tog_b = window(True, True)
                r = {"sms_a": na, "sms_b": nb, "a": wa, "b": wb, "reps_a": ra, "reps_b": rb,
                     "a_alone_ms": alone_a, "b_alone_ms": alone_b, "a_together_ms": tog_a, "b_together_ms": tog_b,
                     "a_slowdown": tog_a / alone_a, "b_slowdown": tog_b / alone_b}
                rows.append(r); print("corun", r, flush=True)
        finally:
            close_lanes(lanes)
    return rows


def run_part(res, name, fn, save_fn):
    """res[name] = fn(), or res[name + "_error"] if it raises (the other parts still run); then save."""
    t0 = time.time()
    try:
        res[name] = fn()
    except Exception as exc:  # keep the other parts
        res[name + "_error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:500]
        print(name, "FAILED:", res[name + "_error"], flush=True)
    res.setdefault("part_seconds", {})[name] = time.time() - t0
    save_fn()


def part(name, fn, path):
    run_part(RES, name, fn, lambda: save(path))


if __name__ == "__main__":
    out = sys.argv[1]
    only = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None
    _part = part
    def part(name, fn, path):  # noqa: F811
        if only is None or name in only:
            _part(name, fn, path)
    RES["green_context_api"] = {"torch.cuda.GreenContext": hasattr(torch.cuda, "GreenContext"),
                                "torch.cuda.green_contexts": hasattr(torch.cuda, "green_contexts")}
    part("latency", latency, out)
    part("persistent_copy", persistent_copy, out)
    part("full_chip", lambda: measure_on(torch.cuda.current_stream(), RES["sms"], RES["sms"], "no partition"), out)
    part("green_torch", green_torch, out)
    if not RES.get("green_torch"):
        part("green_driver", green_driver, out)
    part("corun", corun, out)
    print("done", json.dumps(RES.get("part_seconds")))
