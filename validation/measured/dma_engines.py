"""Copy engines (DMA) on one NVIDIA GPU: what silica's `dma` block claims, measured.

    python3 validation/measured/dma_engines.py OUT.json [PART,PART...]   (default: every part)

silica moves T3's chunks, KV-cache blocks and DMA-engine collectives on `dma.engines` engines of
`dma.engine_gbps` each, after `dma.setup_ns`, taking no SM time but sharing the HBM with kernels.
On one GPU the engines can be measured on local copies (a peer needs a second GPU), through
dma_probe.cu (built here with nvcc, or LIB=path to a prebuilt libdmaprobe.so):

1. `modes`: one device-to-device copy of 4 KiB - 1 GiB, three ways: cudaMemcpyAsync ("memcpy"),
   cudaMemcpyBatchAsync with no flag ("batch") and with PreferOverlapWithCompute ("batch-ce").
   Back-to-back copies, median per copy: small sizes give the per-copy cost, large the rate.
2. `under_spin`: each way's 1 GiB copy issued while a kernel holds every SM's thread slots for
   40 ms: an SM copy cannot start until the kernel ends; a copy engine's finishes inside it.
3. `concurrency`: K = 1-8 streams each copying its own 256 MiB (batch-ce) at once: whether engines
   add up, and to what.
4. `contention`: a workload on the whole chip (GEMMs, a memory-bound skinny GEMM, an SM copy)
   beside a stream of batch-ce copies, alone and together, as sm_scaling.py's co-runs: each
   side's slowdown is how the HBM is shared between SM traffic and engine traffic (T3's question).
5. `pcie`: 1 GiB host-to-device and device-to-host from pinned memory (copy engines over PCIe).
6. `ce_search`: every other way to copy device memory (2D, strided, through a CUDA array, peer to
   itself), with a pinned host-to-device copy as the control, under the same spinning kernel.
7. `pcie_sizes`: copy-engine copies over PCIe from 4 KiB to 256 MiB, and both directions at once.

Timing as measure_gpu.time_ms: CUDA events, warm-up, median of repeats, short copies back to back.
Copies are verified (destination poisoned first). Every part is independent.
"""
import ctypes, json, os, statistics, subprocess, sys, traceback

import torch

from measure_gpu import build_cuda_library, time_ms  # same directory
from sm_scaling import close_lanes, co_window, green_lanes, run_part

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = {"memcpy": -1, "batch": 0, "batch-ce": 1}
RES = {"device": torch.cuda.get_device_name(0), "sms": torch.cuda.get_device_properties(0).multi_processor_count,
       "torch": torch.__version__, "cuda": torch.version.cuda, "method": __doc__.strip().splitlines()[0]}


def load_lib():
    path = os.environ.get("LIB")
    if not path:
        path = "/tmp/libdmaprobe.so"
        try:
            RES["built_with"] = build_cuda_library("dma_probe.cu", path)
        except (OSError, subprocess.CalledProcessError) as exc:  # no nvcc there: a build carried along
            path = os.environ.get("FALLBACK_LIB", "")
            RES["built_with"] = f"prebuilt {path} (nvcc failed: {exc})"
    lib = ctypes.CDLL(path)
    lib.probe_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int]
    lib.probe_spin.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_ulonglong, ctypes.c_void_p]
    lib.probe_error_string.restype = ctypes.c_char_p
    lib.probe_copy_method.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
    lib.probe_array_create.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    lib.probe_array_create.restype = ctypes.c_void_p
    lib.probe_array_destroy.argtypes = [ctypes.c_void_p]
    return lib


LIB = None


def _ok(err, what):
    if err != 0:
        raise RuntimeError(f"{what}: CUDA error {err} ({LIB.probe_error_string(err).decode()})")


def copy(dst, src, nbytes, stream, mode):
    _ok(LIB.probe_copy(dst.data_ptr(), src.data_ptr(), nbytes, stream.cuda_stream, MODES[mode]), f"copy {mode}")


def spin(stream, ns, sink):
    _ok(LIB.probe_spin(stream.cuda_stream, 2 * RES["sms"], ns, sink.data_ptr()), "spin")


def save(path):
    with open(path, "w") as f:
        json.dump(RES, f, indent=1)


def verified(dst, src, nbytes, stream, mode):
    """Poison dst, copy, compare the first nbytes (as bytes) exactly."""
    dst.view(torch.uint8)[:nbytes].fill_(0xFF)
    torch.cuda.synchronize()   # the fill ran on the current stream, the copy goes on `stream`
    copy(dst, src, nbytes, stream, mode)
    stream.synchronize()
    return bool(torch.equal(dst.view(torch.uint8)[:nbytes], src.view(torch.uint8)[:nbytes]))


def modes():
    s = torch.cuda.Stream()
    src = torch.randn(1 << 28, device="cuda"); dst = torch.empty_like(src)   # 1 GiB each
    rows = []
    for mode in MODES:
        for nbytes in [4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20, 1 << 30]:
            ok = verified(dst, src, nbytes, s, mode)
            with torch.cuda.stream(s):
                ms = time_ms(lambda: copy(dst, src, nbytes, s, mode), repeats=20, warmup=5, stream=s)
            r = {"mode": mode, "bytes": nbytes, "time_us": ms * 1e3, "copied_gbps": nbytes / (ms * 1e-3) / 1e9, "verified": ok}
            rows.append(r); print("modes", r, flush=True)
    return rows


def under_spin():
    spin_ns = 40_000_000
    a, b = torch.cuda.Stream(), torch.cuda.Stream()
    src = torch.randn(1 << 28, device="cuda"); dst = torch.empty_like(src)
    sink = torch.zeros(1, dtype=torch.int64, device="cuda")
    rows = []
    for mode in MODES:
        copy(dst, src, 1 << 30, b, mode); spin(a, 1_000_000, sink); torch.cuda.synchronize()  # warm
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
        ev[0].record(a); spin(a, spin_ns, sink); ev[1].record(a)
        b.wait_event(ev[0]); ev[2].record(b); copy(dst, src, 1 << 30, b, mode); ev[3].record(b)
        torch.cuda.synchronize()
        r = {"mode": mode, "spin_ms": ev[0].elapsed_time(ev[1]), "copy_done_after_ms": ev[0].elapsed_time(ev[3]),
             "copy_window_ms": ev[2].elapsed_time(ev[3]), "spin_blocks": 2 * RES["sms"], "spin_threads_per_block": 1024,
             "verified": bool(torch.equal(dst[-4096:], src[-4096:]))}
        r["finished_inside_spin"] = r["copy_done_after_ms"] < r["spin_ms"]
        rows.append(r); print("under_spin", r, flush=True)
    return rows


def concurrency_rows(mode, copy_fn, ks=(1, 2, 3, 4, 6, 8)):
    """K streams, each copying its own 256 MiB `reps` times with copy_fn(dst, src, nbytes, stream)."""
    per = 256 << 20
    reps = 8
    rows = []
    # twice the copy's size, so a strided method's rows stay inside
    bufs = [(torch.randn(per // 2, device="cuda"), torch.empty(per // 2, device="cuda")) for _ in range(max(ks))]
    streams = [torch.cuda.Stream() for _ in range(max(ks))]
    for k in ks:
        times = []
        for trial in range(4):
            torch.cuda.synchronize()
            start = torch.cuda.Event(enable_timing=True); start.record()
            ends = []
            for i in range(k):
                streams[i].wait_event(start)
            for r in range(reps):
                for i in range(k):
                    copy_fn(bufs[i][1], bufs[i][0], per, streams[i])
            for i in range(k):
                e = torch.cuda.Event(enable_timing=True); e.record(streams[i]); ends.append(e)
            torch.cuda.synchronize()
            if trial:  # the first is a warm-up
                times.append(max(start.elapsed_time(e) for e in ends))
        ms = statistics.median(times)
        r = {"mode": mode, "streams": k, "bytes_per_copy": per, "copies_per_stream": reps, "window_ms": ms,
             "copied_gbps": k * reps * per / (ms * 1e-3) / 1e9,
             "verified": all(bool(torch.equal(d[per // 4 - 4096:per // 4], s_[per // 4 - 4096:per // 4])) for s_, d in bufs[:k])}
        rows.append(r); print("concurrency", r, flush=True)
    return rows


def concurrency():
    rows = []
    for mode in ["batch-ce", "memcpy"]:
        rows += concurrency_rows(mode, lambda d, s_, n, st, mode=mode: copy(d, s_, n, st, mode))
    return rows


def contention_rows(label, copy_fn, nbytes=1 << 29):
    """A workload on the whole chip beside a stream of `nbytes` copies by copy_fn, ~60 ms of each."""
    dt = torch.bfloat16
    A = torch.randn(8192, 8192, device="cuda", dtype=dt); B = torch.randn(8192, 8192, device="cuda", dtype=dt)
    Q = torch.randn(8192, 2048, device="cuda", dtype=dt)
    X = torch.randn(8, 8192, device="cuda", dtype=dt)
    s1 = torch.randn(1 << 27, device="cuda"); d1 = torch.empty_like(s1)   # 512 MiB
    s2 = torch.randn(nbytes // 2, device="cuda"); d2 = torch.empty_like(s2)   # twice the copy: room for strided rows
    sa, sb = torch.cuda.Stream(), torch.cuda.Stream()
    work = {
        "gemm 8192x8192x8192": lambda: torch.matmul(A, B),
        "gemm 8192x2048x8192": lambda: torch.matmul(A, Q),
        "gemm 8x8192x8192": lambda: torch.matmul(X, B),
        "sm copy fp32 512MiB": lambda: copy(d1, s1, 1 << 29, sa, "memcpy"),
    }
    ce = lambda: copy_fn(d2, s2, nbytes, sb)
    rows = []
    for name, fa in work.items():
        with torch.cuda.stream(sa):
            ta = time_ms(fa, stream=sa)
        with torch.cuda.stream(sb):
            tb = time_ms(ce, stream=sb)
        ra = max(1, int(60 / ta)); rb = max(1, int(60 / tb))
        window = lambda run_a, run_b: co_window((sa, fa, ra if run_a else 0), (sb, ce, rb if run_b else 0))
        window(True, True)
        alone_a = window(True, False)[0]; alone_b = window(False, True)[1]
        tog_a, tog_b = window(True, True)
        r = {"a": name, "b": f"{label} copy of {nbytes >> 20} MiB", "reps_a": ra, "reps_b": rb, "a_alone_ms": alone_a, "b_alone_ms": alone_b,
             "a_together_ms": tog_a, "b_together_ms": tog_b, "a_slowdown": tog_a / alone_a, "b_slowdown": tog_b / alone_b,
             "b_alone_copied_gbps": rb * nbytes / (alone_b * 1e-3) / 1e9}
        rows.append(r); print("contention", r, flush=True)
    return rows


def contention():
    return contention_rows("batch-ce", lambda d, s_, n, st: copy(d, s_, n, st, "batch-ce"))


CE_CANDIDATES = {"memcpy2d": 2, "memcpy2d-strided": 3, "to-array": 4, "from-array": 5, "peer-self": 6, "memcpy-d2d": 7}


def ce_search():
    """Every other way to move device bytes (dma_probe.cu's methods 2-7), plus a pinned host-to-device
    copy as the control that is known to use a copy engine: each one's 256 MiB time alone, under the
    spinning kernel, and from a green context of 8 SMs. If one finishes inside the spin (a copy
    engine), its concurrency and contention are measured as the batch-ce copies' were."""
    nbytes, row = 256 << 20, 64 << 10
    src = torch.randn(nbytes // 2, device="cuda"); dst = torch.empty_like(src)   # 512 MiB: room for the strided rows
    host = torch.empty(nbytes // 4).pin_memory(); host.normal_()
    arr = LIB.probe_array_create(row, nbytes // row)
    if not arr:
        raise RuntimeError("cudaMallocArray failed")
    sink = torch.zeros(1, dtype=torch.int64, device="cuda")
    a, b = torch.cuda.Stream(), torch.cuda.Stream()

    def method_fn(name, m):
        return lambda d, s_, n, st: _ok(LIB.probe_copy_method(m, d.data_ptr(), s_.data_ptr(), n, row, st.cuda_stream, arr), name)

    fns = {name: method_fn(name, m) for name, m in CE_CANDIDATES.items()}
    fns["h2d-pinned (control)"] = lambda d, s_, n, st: copy(d, host, n, st, "memcpy")
    rows, found = [], None
    only = os.environ.get("CE_ONLY")   # a comma-separated subset of the methods, for a rerun
    for name, fn in fns.items():
        if only and name not in only.split(","):
            continue
        r = {"method": name, "bytes": nbytes}
        try:
            dst.view(torch.uint8)[:nbytes].fill_(0xFF)
            torch.cuda.synchronize()   # the fill ran on the current stream, the copies go on b
            if name == "from-array":
                fns["to-array"](dst, src, nbytes, b)
            fn(dst, src, nbytes, b); b.synchronize()
            ref = host.to("cuda") if name.startswith("h2d") else src
            if name == "to-array":
                r["verified"] = None   # checked through from-array's round trip
            elif name == "memcpy2d-strided":
                r["verified"] = bool(torch.equal(dst.view(torch.uint8)[:row], ref.view(torch.uint8)[:row]))
            else:
                r["verified"] = bool(torch.equal(dst.view(torch.uint8)[:nbytes], ref.view(torch.uint8)[:nbytes]))
            with torch.cuda.stream(b):
                ms = time_ms(lambda: fn(dst, src, nbytes, b), repeats=10, warmup=2, stream=b)
            r["time_us"] = ms * 1e3; r["copied_gbps"] = nbytes / (ms * 1e-3) / 1e9
            ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
            torch.cuda.synchronize()
            ev[0].record(a); spin(a, 40_000_000, sink); ev[1].record(a)
            b.wait_event(ev[0]); fn(dst, src, nbytes, b); ev[2].record(b)
            torch.cuda.synchronize()
            r["spin_ms"] = ev[0].elapsed_time(ev[1]); r["copy_done_after_ms"] = ev[0].elapsed_time(ev[2])
            r["finished_inside_spin"] = r["copy_done_after_ms"] < r["spin_ms"]
            if r["finished_inside_spin"] and found is None and not name.startswith("h2d"):
                found = (name, fn)
            lanes = green_lanes(8)
            try:
                ext = lanes[0][0]
                with torch.cuda.stream(ext):
                    gms = time_ms(lambda: fn(dst, src, nbytes, ext), repeats=5, warmup=1, stream=ext)
                r["green_8sm_copied_gbps"] = nbytes / (gms * 1e-3) / 1e9
            finally:
                close_lanes(lanes)
        except Exception as exc:
            r["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]
        rows.append(r); print("ce_search", r, flush=True)
    LIB.probe_array_destroy(arr)
    RES["ce_method"] = found[0] if found else None
    if found:
        small = []
        for n in [64 << 10, 1 << 20, 16 << 20]:   # whole rows, so every method can take them
            with torch.cuda.stream(b):
                ms = time_ms(lambda: found[1](dst, src, n, b), repeats=20, warmup=5, stream=b)
            small.append({"method": found[0], "bytes": n, "time_us": ms * 1e3, "copied_gbps": n / (ms * 1e-3) / 1e9})
            print("ce_small", small[-1], flush=True)
        RES["ce_small"] = small
        RES["ce_concurrency"] = concurrency_rows(found[0], found[1])
        RES["ce_contention"] = contention_rows(found[0], found[1], nbytes)   # the array holds nbytes
    return rows


def green():
    """batch-ce and memcpy 1 GiB copies launched from a green context of 8 SMs."""
    src = torch.randn(1 << 28, device="cuda"); dst = torch.empty_like(src)
    torch.cuda.synchronize()
    rows = []
    lanes = green_lanes(8)
    try:
        ext, got, _, _ = lanes[0]
        for mode in ["memcpy", "batch-ce"]:
            with torch.cuda.stream(ext):
                ms = time_ms(lambda: copy(dst, src, 1 << 30, ext, mode), repeats=10, warmup=3, stream=ext)
            r = {"mode": mode, "sms": got, "time_us": ms * 1e3, "copied_gbps": (1 << 30) / (ms * 1e-3) / 1e9}
            rows.append(r); print("green", r, flush=True)
    finally:
        close_lanes(lanes)
    return rows


def pcie():
    s = torch.cuda.Stream()
    h = torch.empty(1 << 28, dtype=torch.float32).pin_memory(); h.normal_()
    d = torch.empty(1 << 28, device="cuda")
    rows = []
    for name, fn in [("h2d", lambda: d.copy_(h, non_blocking=True)), ("d2h", lambda: h.copy_(d, non_blocking=True))]:
        with torch.cuda.stream(s):
            ms = time_ms(fn, repeats=10, warmup=2, stream=s)
        r = {"direction": name, "bytes": 1 << 30, "pinned": True, "time_us": ms * 1e3, "copied_gbps": (1 << 30) / (ms * 1e-3) / 1e9}
        rows.append(r); print("pcie", r, flush=True)
    return rows


def pcie_sizes():
    """Copy-engine copies over PCIe (the only copy engine a one-GPU program can reach, ce_search
    found): per-copy time from 4 KiB to 256 MiB each way, back to back, so the small sizes give the
    engine's fixed cost per copy; then both directions at once (two engines, one per direction?)."""
    s, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    h = torch.empty(1 << 26, dtype=torch.float32).pin_memory(); h.normal_()
    h2 = torch.empty(1 << 26, dtype=torch.float32).pin_memory()
    d = torch.randn(1 << 26, device="cuda"); d2 = torch.empty(1 << 26, device="cuda")
    rows = []
    for name, dst, src in [("h2d", d2, h), ("d2h", h2, d)]:
        for n in [4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20]:
            with torch.cuda.stream(s):
                ms = time_ms(lambda: copy(dst, src, n, s, "memcpy"), repeats=20, warmup=5, stream=s)
            r = {"direction": name, "bytes": n, "time_us": ms * 1e3, "copied_gbps": n / (ms * 1e-3) / 1e9}
            rows.append(r); print("pcie_sizes", r, flush=True)
    h2d = lambda: copy(d2, h, 256 << 20, s, "memcpy")
    d2h = lambda: copy(h2, d, 256 << 20, s2, "memcpy")
    co_window((s, h2d, 2), (s2, d2h, 2))
    alone_a = co_window((s, h2d, 8), (s2, d2h, 0))[0]; alone_b = co_window((s, h2d, 0), (s2, d2h, 8))[1]
    tog_a, tog_b = co_window((s, h2d, 8), (s2, d2h, 8))
    rows.append({"direction": "both", "bytes": 8 * (256 << 20), "h2d_alone_ms": alone_a, "d2h_alone_ms": alone_b,
                 "h2d_together_ms": tog_a, "d2h_together_ms": tog_b,
                 "together_copied_gbps": 2 * 8 * (256 << 20) / (max(tog_a, tog_b) * 1e-3) / 1e9})
    print("pcie_sizes", rows[-1], flush=True)
    return rows


def part(name, fn, path):
    run_part(RES, name, fn, lambda: save(path))


def table():
    print("\n--- summary ---")
    for r in RES.get("modes", []):
        if r["bytes"] in (4 << 10, 1 << 20, 1 << 30):
            print(f"{r['mode']:9s} {r['bytes']:>11d} B  {r['time_us']:9.1f} us  {r['copied_gbps']:8.1f} GB/s  ok={r['verified']}")
    for r in RES.get("under_spin", []):
        print(f"spin {r['mode']:9s} spin {r['spin_ms']:.1f} ms, copy done at {r['copy_done_after_ms']:.2f} ms, inside={r['finished_inside_spin']}")
    for r in RES.get("concurrency", []):
        print(f"conc {r['mode']:9s} K={r['streams']} {r['copied_gbps']:8.1f} GB/s")
    for r in RES.get("contention", []):
        print(f"cont {r['a']:22s} a x{r['a_slowdown']:.3f} ce x{r['b_slowdown']:.3f} (ce alone {r['b_alone_copied_gbps']:.0f} GB/s)")
    for r in RES.get("ce_search", []):
        print(f"ce? {r['method']:22s} {r.get('copied_gbps', 0):7.1f} GB/s, inside spin={r.get('finished_inside_spin')}, 8 SMs {r.get('green_8sm_copied_gbps', 0):.0f} GB/s ok={r.get('verified')} {r.get('error', '')}")
    for r in RES.get("ce_concurrency", []):
        print(f"ce conc {r['mode']} K={r['streams']} {r['copied_gbps']:8.1f} GB/s")
    for r in RES.get("ce_contention", []):
        print(f"ce cont {r['a']:22s} a x{r['a_slowdown']:.3f} ce x{r['b_slowdown']:.3f} (ce alone {r['b_alone_copied_gbps']:.0f} GB/s)")
    for r in RES.get("green", []) + RES.get("pcie", []):
        print("    ", r)
    print({k: v for k, v in RES.items() if k.endswith("_error")})


if __name__ == "__main__":
    out = sys.argv[1]
    only = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None
    LIB = load_lib()
    RES["cuda_runtime_in_probe"] = LIB.probe_runtime_version()
    torch.zeros(1, device="cuda"); torch.cuda.synchronize()
    RES["async_engine_count"] = LIB.probe_async_engine_count()
    RES["location_hints_refused"] = None
    print("async engines:", RES["async_engine_count"], "runtime", RES["cuda_runtime_in_probe"], flush=True)
    for name, fn in [("modes", modes), ("under_spin", under_spin), ("concurrency", concurrency),
                     ("contention", contention), ("green", green), ("pcie", pcie), ("ce_search", ce_search),
                     ("pcie_sizes", pcie_sizes)]:
        if only is None or name in only:
            part(name, fn, out)
    RES["location_hints_refused"] = bool(LIB.probe_hints_refused())
    save(out)
    table()
