"""Does work bound by an SM's DRAM misses slow down with the SM clock?

    python3 validation/measured/clock_coupling.py OUT.json

silica bounds the DRAM bytes one SM draws by Little's law (misses in flight over a latency,
`compute.dram_gbps_per_cu`) and takes that bound to be clock-free, so its power governor slows
only clock-bound kernels. On the H200, a decode lane on 20-28 SMs slowed by about the clock ratio
beside a prefill lane (`h200-141gb-hbm3e-serving.json`), though its SMs are DRAM-bound. This
measures the bound itself against the clock.

For each split of the chip (a victim lane of V SMs, a partner lane of the other 132-V), one victim
kernel runs back to back in ~0.4-s windows: alone, beside a partner stream, and alone again, while
NVML samples the SM clock and board power (the first tenth of each window's samples is dropped).
Two partners, each drawing power so that the 700 W cap lowers the one SM clock for both lanes:
cuBLAS 8192^3 bf16 GEMMs (as a prefill lane: power and some DRAM and L2 traffic), and tensor-core
products on fragments held in registers (`mma_spin` in clock_probe.cu: power with no memory
traffic at all, so what slows a victim beside it is the clock alone).

Victims: a persistent float4 copy of 1 GiB with one 1024-thread block per SM (the kernel that set
`dram_gbps_per_cu`), PyTorch's copy of 512 MiB, a decode-shaped skinny GEMM (64x4096x14336 bf16,
weights rotating through 3 copies so they stream from DRAM), a dense 4096^3 bf16 GEMM (clock-bound:
the control) and a one-thread pointer chase through 1 GiB (the latency behind Little's law).
If an SM's DRAM rate is misses in flight over a latency counted partly in SM cycles, the copies
slow with the clock and the chase's ns per load rises; if the latency is the DRAM's own, neither
moves. Every (split, victim) is independent: one that fails records its error and the rest run.
"""
import ctypes, json, os, statistics, sys, time, traceback

import torch

from measure_gpu import ClockSampler, build_cuda_library, time_ms  # same directory
from sm_scaling import COPY_SRC, _check, close_lanes, co_window, green_lanes

RES = {"device": torch.cuda.get_device_name(0), "sms": torch.cuda.get_device_properties(0).multi_processor_count,
       "torch": torch.__version__, "cuda": torch.version.cuda, "method": __doc__.strip().splitlines()[0], "runs": [], "errors": []}
WINDOW_MS = int(__import__("os").environ.get("WINDOW_MS", 400))
MMA_ITERS = 8000
VICTIM_SMS = [8, 24, 64]   # green contexts come in steps of 8 SMs


def save(path):
    with open(path, "w") as f:
        json.dump(RES, f, indent=1)


def failed(fields, exc, label="FAILED"):
    """Records a part that raised (the rest still run) in RES["errors"], with the exception's last line."""
    err = {**fields, "error": "".join(traceback.format_exception_only(type(exc), exc)).strip()[:400]}
    RES["errors"].append(err); print(label, err, flush=True)


def finish(path, t_start):
    RES["wall_s"] = time.time() - t_start
    save(path)
    print("done", RES["wall_s"], "s,", len(RES["runs"]), "runs,", len(RES["errors"]), "errors")


def load_probe():
    """clock_probe.cu built with nvcc (or LIB=path to a prebuilt libclockprobe.so)."""
    path = os.environ.get("LIB")
    if not path:
        path = "/tmp/libclockprobe.so"
        RES["built_with"] = build_cuda_library("clock_probe.cu", path)
    lib = ctypes.CDLL(path)
    lib.probe_persistent_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int, ctypes.c_void_p]
    lib.probe_chase.argtypes = [ctypes.c_void_p, ctypes.c_ulonglong, ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p]
    lib.probe_mma_spin.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    lib.probe_mma_busy.argtypes = lib.probe_mma_spin.argtypes   # power_probe.py's
    lib.probe_error_string.restype = ctypes.c_char_p
    return lib


class Victims:
    """The victim kernels, their data allocated once; fn(name, raw stream, sms) -> (run, work)."""

    def __init__(self):
        import numpy as np
        dt = torch.bfloat16
        self.lib = load_probe()
        self.big_a = torch.randn(1 << 28, device="cuda"); self.big_c = torch.empty_like(self.big_a)   # 1 GiB each
        self.s = torch.randn(1 << 27, device="cuda"); self.d = torch.empty_like(self.s)               # 512 MiB each
        self.x = torch.randn(64, 4096, device="cuda", dtype=dt)
        self.w = [torch.randn(4096, 14336, device="cuda", dtype=dt) for _ in range(3)]                 # 117 MB each
        self.turn = 0
        self.ga = torch.randn(4096, 4096, device="cuda", dtype=dt); self.gb = torch.randn_like(self.ga)
        slots, spacing = 1 << 22, 32          # 1 GiB footprint, 256-byte slots: as sm_scaling.latency
        order = np.random.default_rng(7).permutation(slots).astype(np.int64) * spacing
        nxt = np.zeros(slots * spacing, dtype=np.int64); nxt[order] = np.roll(order, -1)
        self.next, self.start = torch.from_numpy(nxt).cuda(), int(order[0])
        self.out = torch.zeros(1, dtype=torch.int64, device="cuda")
        self.chase_steps = 20000
        torch.cuda.synchronize()

    def names(self):
        return ["persistent_copy", "torch_copy", "skinny_gemm_64x4096x14336", "gemm_4096", "chase"]

    def _checked(self, err):
        if err:
            raise RuntimeError(self.lib.probe_error_string(err).decode())

    def fn(self, name, raw, sms):
        stream = ctypes.c_void_p(int(raw))
        if name == "persistent_copy":
            n4 = self.big_a.numel() // 4
            a, c = self.big_a.data_ptr(), self.big_c.data_ptr()
            return (lambda: self._checked(self.lib.probe_persistent_copy(a, c, n4, sms, stream))), {"bytes": 2 * self.big_a.numel() * 4}
        if name == "torch_copy":
            return (lambda: self.d.copy_(self.s)), {"bytes": 2 * self.s.numel() * 4}
        if name == "skinny_gemm_64x4096x14336":
            def run():
                self.turn = (self.turn + 1) % 3
                torch.matmul(self.x, self.w[self.turn])
            return run, {"bytes": 4096 * 14336 * 2, "flops": 2 * 64 * 4096 * 14336}
        if name == "gemm_4096":
            return (lambda: torch.matmul(self.ga, self.gb)), {"flops": 2 * 4096 ** 3}
        if name == "chase":
            nxt, out = self.next.data_ptr(), self.out.data_ptr()
            return (lambda: self._checked(self.lib.probe_chase(nxt, self.start, self.chase_steps, out, stream))), {"loads": self.chase_steps}
        raise ValueError(name)


def clock_window(stream_fn_reps_a, stream_fn_reps_b):
    """co_window with NVML sampling: (window a ms, window b ms, clock MHz median, power W median)."""
    with ClockSampler(0.01) as clk:
        wa, wb = co_window(stream_fn_reps_a, stream_fn_reps_b)
    keep = len(clk.samples) // 10
    mhz, watts = clk.samples[keep:], clk.power[keep:]
    return wa, wb, (statistics.median(mhz) if mhz else None), (statistics.median(watts) if watts else None)


def victim_windows(fn, sv, sp, partner, partner_ms):
    """The victim `fn` on stream sv in ~WINDOW_MS windows: alone, beside `partner` on sp (enough
    partner calls to outlast it), and alone again. Returns (one call's ms, victim calls, partner
    calls, and each window's clock_window tuple: alone, together, alone again)."""
    with torch.cuda.stream(sv):
        one_ms = time_ms(fn, repeats=5, warmup=2, stream=sv)
    reps = max(3, int(round(WINDOW_MS / one_ms)))
    preps = max(2, int(round(1.3 * reps * one_ms / partner_ms)))   # the partner outlasts the victim
    vic, par = (sv, fn, reps), (sp, partner, preps)
    co_window(vic, (sp, partner, 0))                               # warm-up
    a1 = clock_window(vic, (sp, partner, 0))
    tog = clock_window(vic, par)
    a2 = clock_window(vic, (sp, partner, 0))
    return one_ms, reps, preps, a1, tog, a2


def add_rates(r, work, alone_ms, together_ms):
    """A victim's GB/s or ns per dependent load, alone and together, from its work per call."""
    if "bytes" in work:
        r["gbps_alone"], r["gbps_together"] = work["bytes"] / alone_ms / 1e6, work["bytes"] / together_ms / 1e6
    if "loads" in work:
        r["ns_per_load_alone"], r["ns_per_load_together"] = alone_ms * 1e6 / work["loads"], together_ms * 1e6 / work["loads"]


def partner_of(kind, victims, raw, sms):
    """The partner lane's kernel: cuBLAS 8192^3 bf16 GEMMs ("gemm": power and memory traffic), or
    tensor-core products from registers ("mma_spin": power with no memory traffic)."""
    if kind == "gemm":
        pa, pb = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16), torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
        return lambda: torch.matmul(pa, pb), "gemm 8192^3 bf16 (cuBLAS)"
    ops = torch.randn(64 * 1024, device="cuda", dtype=torch.float16)
    out = torch.zeros(sms * 4 * 8, device="cuda")
    stream = ctypes.c_void_p(int(raw))
    return (lambda: victims._checked(victims.lib.probe_mma_spin(ops.data_ptr(), MMA_ITERS, sms * 4, out.data_ptr(), stream))), \
        f"mma_spin fp16 wmma 16x16x16 from registers, {MMA_ITERS} iterations, 4 blocks of 256 threads per SM"


def measure_split(v, victims, partner_kind, path):
    """One split: victim lane of v SMs, partner lane of the rest, running partner_kind."""
    lanes = green_lanes(v, rest=True)
    try:
        (sv, nv, _, rv), (sp, npart, _, rp) = lanes
        partner, partner_name = partner_of(partner_kind, victims, rp, npart)
        torch.cuda.synchronize()
        with torch.cuda.stream(sp):
            partner_ms = time_ms(partner, repeats=5, warmup=2, stream=sp)
        for name in victims.names():
            t0 = time.time()
            try:
                fn, work = victims.fn(name, rv, nv)
                one_ms, reps, preps, a1, tog, a2 = victim_windows(fn, sv, sp, partner, partner_ms)
                alone_ms = statistics.mean([a1[0]] + ([a2[0]] if a2 else [])) / reps
                r = {"victim": name, "victim_sms": nv, "partner": partner_name, "partner_sms": npart,
                     "reps": reps, "partner_reps": preps, "partner_alone_ms_per_call": partner_ms, "victim_one_call_ms": one_ms,
                     "alone_ms_per_call": alone_ms, "alone_first_ms_per_call": a1[0] / reps,
                     "alone_again_ms_per_call": a2[0] / reps if a2 else None, "together_ms_per_call": tog[0] / reps,
                     "partner_together_window_ms": tog[1], "slowdown": tog[0] / reps / alone_ms,
                     "clock_mhz_alone": a1[2], "clock_mhz_alone_again": a2[2] if a2 else None, "clock_mhz_together": tog[2],
                     "power_w_alone": a1[3], "power_w_together": tog[3], **work}
                if a1[2] and tog[2]:
                    r["clock_ratio"] = a1[2] / tog[2]
                add_rates(r, work, alone_ms, tog[0] / reps)
                r["seconds"] = time.time() - t0
                RES["runs"].append(r); print("run", json.dumps(r), flush=True)
            except Exception as exc:  # keep the other victims
                failed({"victim": name, "victim_sms": v, "partner": partner_kind}, exc)
            save(path)
        del partner
    finally:
        close_lanes(lanes)
    torch.cuda.empty_cache()


if __name__ == "__main__":
    out = sys.argv[1]
    t_start = time.time()
    torch.zeros(1, device="cuda"); torch.cuda.synchronize()
    victims = Victims()
    for v in VICTIM_SMS:
        for kind in ["gemm", "mma_spin"]:
            try:
                measure_split(v, victims, kind, out)
            except Exception as exc:
                failed({"victim_sms": v, "partner": kind}, exc, "SPLIT FAILED")
    finish(out, t_start)
