"""How does DRAM latency, and the rate of work bound by bytes in flight, rise with HBM load?

    python3 validation/measured/loaded_latency.py OUT.json [PLAN]

PLAN is `copy_curve` (the default: the curve against a copy), `partner_kinds` (a read-only and a
write-only partner, the copy at 1-4 blocks, and two copy points again), `gemm_victim` (a dense
4096^3 GEMM on 64 SMs beside the copy, and three points of the curve again), `chase_region`
(the chase and the copy beside a copy confined to the first 8 MiB of its buffers, L2-resident, or
to the first 256 MiB, 128 pages of 2 MiB a buffer, against the usual walk through 1 GiB: does the
chase's step come from DRAM, the L2 or the address translations?), `launch_rate` (the same
victims beside a copy walking 1 GiB in calls of 8 MiB, as short as the L2-resident ones: is it
their launches that slow the victims?), `gemm_pair` (the GEMMs of
configs/experiments/corun-split.yaml: a prefill-like 2048x8192x8192 beside a decode-like
64x8192x28672 on splits of 24-120 SMs, each as the victim beside the other), `alone_curve` (no
partner: decode-shaped skinny GEMMs of 1 and 64 rows, and the persistent copy, read and write, each
alone on 8-132 SMs, so the HBM's load is the kernel's own: is a skinny GEMM's rate per SM its bytes
in flight over a latency its own load sets?), `skinny_reads` (the skinny GEMM and the copy on 24
and 64 SMs beside a read-only partner of 4 SMs to the rest: loaded latency without the partner's
writes), `skinny_shapes` (the four skinny GEMMs of `alone_curve` on 24 and 64 SMs beside a
read-only partner on 4-48 SMs: does a kernel's sensitivity to the load follow its rate per SM
alone?) or `launch_length` (the copy and the skinny GEMM on 8 SMs beside a copy on 16 SMs in calls
of 0 (an empty kernel: launches alone), 1, 2, 4, 16, 64 and 256 MiB: does the partner's call
length, not its bytes, slow a victim? No: session 29's 1.61x was the co-run window's, see
sm_scaling.co_window), `torch_alone` (PyTorch's sum, copy, scale, add and fill on 512 MiB
arrays, each alone on 8-132 SMs: the knee and the per-SM rate for a framework's kernels, from
read-only to write-only) or `l2_partner` (the skinny GEMM and the copy on 24 SMs beside a read-only
partner on 4-48 SMs whose loads the L2 holds, `readl2:8`, and beside the same partner reading DRAM:
does the skinny GEMM's slowdown at low load come from the DRAM or from the way to it?), or
`l2_small` (the same beside 1 and 2 readers, and the GEMMs over 8192x28672 beside 4 and 16 L2
readers: how little traffic it takes, and whether a GEMM at the copy's rate per SM feels it too).

silica's memory controller model (`src/hw/memory/latency.ts`) gives an HBM's loaded latency the
shape L0 / (1 - u), u the HBM's utilisation, from published pointer-chase-under-load curves; only
T3's producers use it. On the H200 a decode-shaped GEMM on 64 SMs slowed 1.34x beside cuBLAS
GEMMs (clock_coupling.py) while silica, which shares HBM bandwidth but not latency, gave 1.15x.
This measures the curve itself on the part.

For each split of the chip (a victim lane of V SMs, a partner lane of the other 132-V), the
partner is the persistent float4 copy of clock_probe.cu with B blocks (one per SM, so B SMs of
the partner lane stream and the rest idle), which sets the HBM's load from a few percent to
saturation without tensor work, so the SM clock stays near its top (NVML's clock is recorded in
every window to show it). Each partner call copies B x 32 MiB (at most 1 GiB) at an offset that
walks through a 1 GiB buffer, so it streams from DRAM, not from the 60 MiB L2.

Victims, each alone, beside the partner, and alone again in ~0.4-s windows (clock_coupling.py's
method): a one-thread pointer chase through 1 GiB (the loaded latency itself), the decode-shaped
skinny GEMM 64x4096x14336 bf16 (weights rotating through 3 copies: bound by bytes in flight, not
by the SMs' port), and the persistent copy on the victim's SMs (bound by the SMs' port on 8 SMs,
by the HBM on 64). The partner's own rate alone and over the together window is recorded, so each
point has the HBM load it ran beside. Every (split, B, victim) is independent: one that fails
records its error and the rest run.
"""
import ctypes, json, statistics, sys, time

import torch

from clock_coupling import RES, Victims, add_rates, failed, finish, save, victim_windows
from measure_gpu import ClockSampler, time_ms  # same directory
from sm_scaling import close_lanes, green_lanes

RES["method"] = __doc__.strip().splitlines()[0]
VICTIMS = ["chase", "skinny_gemm_64x4096x14336", "persistent_copy"]
# name: (M, K, N) of a skinny bf16 GEMM with its weights rotating through 3 copies (streamed from DRAM)
SKINNY = {"skinny_gemm_64x4096x14336": (64, 4096, 14336), "skinny_gemm_1x4096x14336": (1, 4096, 14336),
          "skinny_gemm_64x8192x28672": (64, 8192, 28672), "skinny_gemm_1x8192x28672": (1, 8192, 28672)}
# Each plan: (victim SMs, partner kind, partner blocks[, victims]), the partner lane having the other 132 - V SMs.
PLANS = {
    "copy_curve": [(8, "copy", [8, 16, 32, 48, 64, 96, 124]), (64, "copy", [8, 16, 32, 48, 68]), (24, "copy", [16, 48, 108])],
    "partner_kinds": [(8, "copy", [1, 2, 4]), (8, "read", [1, 4, 16, 64, 124]), (8, "write", [4, 16, 64, 124]),
                      (64, "copy", [16, 68])],
    "gemm_victim": [(64, "copy", [16, 32, 68], ["gemm_4096", "skinny_gemm_64x4096x14336", "persistent_copy"]),
                    (8, "copy", [8, 32, 124])],
    "chase_region": [(8, "copy:8", [1, 16], ["chase", "persistent_copy"]), (8, "copy:256", [1, 16], ["chase", "persistent_copy"]),
                     (8, "copy", [1, 16], ["chase", "persistent_copy"])],
    "launch_rate": [(8, "copy@8", [16], ["chase", "persistent_copy"]), (8, "copy:8", [16], ["chase", "persistent_copy"])],
    "skinny_reads": [(24, "read", [4, 16, 48, 108], VICTIMS[1:]), (64, "read", [4, 16, 68], VICTIMS[1:])],
    "skinny_shapes": [(24, "read", [4, 16, 48], list(SKINNY)), (64, "read", [4, 16], list(SKINNY))],
    "l2_partner": [(24, "readl2:8", [4, 16, 48], VICTIMS[1:]), (24, "read", [4, 16, 48], VICTIMS[1:])],
    "l2_small": [(24, "readl2:8", [1, 2], VICTIMS[1:]), (24, "read", [1, 2], VICTIMS[1:]),
                 (24, "readl2:8", [4, 16], ["skinny_gemm_64x8192x28672", "skinny_gemm_1x8192x28672"])],
    "launch_length": [(8, f"copy@{mib}", [16], ["skinny_gemm_64x4096x14336", "persistent_copy"]) for mib in (0, 1, 2, 4, 16, 64, 256)],
    # victim SMs (negative: the victim takes the SMs left over by a partner lane of -V), "gemm:<partner>",
    # [0] (the partner GEMM takes its whole lane), [victim]
    "gemm_pair": [(v, "gemm:decode", [0], ["prefill_gemm"]) for v in (24, 40, 64, 88, 104, 120)]
                 + [(-v, "gemm:prefill", [0], ["decode_gemm"]) for v in (24, 40, 64, 88, 104, 120)],
}
KIND_CODES = {"read": 1, "write": 2}   # probe_persistent_stream's
CHUNK_FLOAT4_PER_BLOCK = (32 << 20) // 16


class PairGemms:
    """corun-split.yaml's two GEMMs (bf16, cuBLAS through torch.matmul): the prefill-like one, and
    the decode-like one with its weights rotating through 3 copies so they stream from DRAM."""

    def __init__(self):
        dt = torch.bfloat16
        self.pa, self.pb = torch.randn(2048, 8192, device="cuda", dtype=dt), torch.randn(8192, 8192, device="cuda", dtype=dt)
        self.dx = torch.randn(64, 8192, device="cuda", dtype=dt)
        self.dw = [torch.randn(8192, 28672, device="cuda", dtype=dt) for _ in range(3)]   # 470 MB each
        self.turn = 0

    def prefill(self):
        torch.matmul(self.pa, self.pb)

    def decode(self):
        self.turn = (self.turn + 1) % 3
        torch.matmul(self.dx, self.dw[self.turn])

    # DRAM bytes the decode GEMM must move (its weights); the prefill GEMM's are not known here
    WORK = {"prefill": {"flops": 2 * 2048 * 8192 * 8192}, "decode": {"bytes": 8192 * 28672 * 2, "flops": 2 * 64 * 8192 * 28672}}


class GemmPartner:
    """One of PairGemms' GEMMs as the partner, on the whole partner lane's stream."""

    def __init__(self, gemms, which):
        self.fn, self.kind = getattr(gemms, which), which
        self.blocks, self.total4 = 0, 0
        self.bytes_per_call = PairGemms.WORK[which].get("bytes", 0)

    def __call__(self):
        self.fn()


class PartnerStream:
    """The persistent copy (or its read-only or write-only version) with `blocks` blocks on the
    partner lane, walking through 1 GiB (a kind "copy:N" walks through the first N MiB only, and
    "copy@N" copies N MiB a call whatever the blocks)."""

    def __init__(self, victims, raw, blocks, kind="copy"):
        kind, _, chunk_mib = kind.partition("@")
        kind, _, region_mib = kind.partition(":")
        self.lib, self.blocks, self.kind = victims.lib, blocks, kind
        self.check = victims._checked
        self.src = victims.partner_src
        self.dst = victims.partner_dst
        self.total4 = self.src.numel() // 4
        if kind == "readl2":
            # each call reads blocks x 32 MiB, all of it from the first region_mib MiB (the L2 holds it)
            self.region4 = (int(region_mib) << 20) // 16
        elif region_mib:
            self.total4 = min(self.total4, (int(region_mib) << 20) // 16)
        # "copy@0" launches the copy with nothing to copy: a kernel that ends at once (launches alone)
        self.chunk4 = min((int(chunk_mib) << 20) // 16 if chunk_mib else blocks * CHUNK_FLOAT4_PER_BLOCK, self.total4)
        self.stream = ctypes.c_void_p(int(raw))
        self.turn = 0
        self.bytes_per_call = (2 if kind == "copy" else 1) * 16 * self.chunk4

    def __call__(self):
        offsets = max(1, self.total4 // max(1, self.chunk4))
        off = (self.turn % offsets) * self.chunk4 * 16
        self.turn += 1
        a, c = self.src.data_ptr() + off, self.dst.data_ptr() + off
        if self.kind == "copy":
            self.check(self.lib.probe_persistent_copy(a, c, self.chunk4, self.blocks, self.stream))
        elif self.kind == "readl2":
            self.check(self.lib.probe_read_l2(self.src.data_ptr(), c, self.chunk4, self.region4, self.blocks, self.stream))
        else:
            self.check(self.lib.probe_persistent_stream(KIND_CODES[self.kind], a, c, self.chunk4, self.blocks, self.stream))


def measure(v, kind, blocks_list, victims, path, names=VICTIMS):
    lanes = green_lanes(abs(v), rest=True)
    try:
        (sv, nv, _, rv), (sp, npart, _, rp) = lanes if v > 0 else lanes[::-1]
        for blocks in blocks_list:
            blocks = min(blocks, npart)
            partner = GemmPartner(victims.gemms, kind.split(":")[1]) if kind.startswith("gemm:") else PartnerStream(victims, rp, blocks, kind)
            with torch.cuda.stream(sp):
                partner_ms = time_ms(partner, repeats=10, warmup=3, stream=sp)
            partner_gbps = partner.bytes_per_call / partner_ms / 1e6   # 0 for the prefill GEMM partner
            for name in names:
                t0 = time.time()
                try:
                    if name in ("prefill_gemm", "decode_gemm"):
                        which = name.split("_")[0]
                        fn, work = getattr(victims.gemms, which), PairGemms.WORK[which]
                    elif name in SKINNY and name != VICTIMS[1]:
                        fn, work = skinny_fn(SKINNY[name], victims.w if SKINNY[name][1] == 4096 else wide_weights(victims))
                    else:
                        fn, work = victims.fn(name, rv, nv)
                    one_ms, reps, preps, a1, tog, a2 = victim_windows(fn, sv, sp, partner, partner_ms)
                    alone_ms = statistics.mean([a1[0], a2[0]]) / reps
                    together_ms = tog[0] / reps
                    r = {"victim": name, "victim_sms": nv, "partner": f"cuBLAS {kind[5:]} GEMM (torch.matmul)" if kind.startswith("gemm:") else f"persistent {kind} (clock_probe.cu)", "partner_kind": kind,
                         "partner_region_bytes": partner.total4 * 16,
                         "partner_sms": npart, "partner_blocks": blocks, "partner_bytes_per_call": partner.bytes_per_call,
                         "partner_alone_ms_per_call": partner_ms, "partner_gbps_alone": partner_gbps,
                         "partner_reps": preps, "partner_together_window_ms": tog[1],
                         "partner_gbps_together_window": partner.bytes_per_call * preps / tog[1] / 1e6,
                         "reps": reps, "victim_one_call_ms": one_ms, "alone_ms_per_call": alone_ms,
                         "alone_first_ms_per_call": a1[0] / reps, "alone_again_ms_per_call": a2[0] / reps,
                         "together_ms_per_call": together_ms, "slowdown": together_ms / alone_ms,
                         "clock_mhz_alone": a1[2], "clock_mhz_together": tog[2],
                         "power_w_alone": a1[3], "power_w_together": tog[3], **work}
                    add_rates(r, work, alone_ms, together_ms)
                    r["seconds"] = time.time() - t0
                    RES["runs"].append(r); print("run", json.dumps(r), flush=True)
                except Exception as exc:  # keep the other victims
                    failed({"victim": name, "victim_sms": v, "partner_kind": kind, "partner_blocks": blocks}, exc)
                save(path)
    finally:
        close_lanes(lanes)
    torch.cuda.empty_cache()


ALONE_SMS = [8, 16, 24, 32, 48, 64, 96, 132]


def wide_weights(victims):
    """8192x28672 bf16 weights, 3 copies of 470 MB, for the skinny GEMMs over them (allocated once, when first asked)."""
    if not getattr(victims, "wide", None):
        victims.wide = [torch.randn(8192, 28672, device="cuda", dtype=torch.bfloat16) for _ in range(3)]
    return victims.wide


def skinny_fn(shape, weights):
    """A bf16 GEMM of (M, K, N) = shape, its weights rotating through `weights`: (run, work)."""
    m, k, n = shape
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    turn = [0]

    def run():
        turn[0] = (turn[0] + 1) % 3
        torch.matmul(x, weights[turn[0]])
    return run, {"bytes": k * n * 2, "flops": 2 * m * k * n}


def probe_and_skinny_kernels(victims):
    """alone_curve's kernels for one lane: the skinny GEMMs of SKINNY, and the persistent copy, its
    read-only and its write-only versions, one block per SM, on 1 GiB."""
    wide = wide_weights(victims)
    n4 = victims.big_a.numel() // 4
    a, c = victims.big_a.data_ptr(), victims.big_c.data_ptr()

    def kernels(nv, stream):
        out = {name: skinny_fn(shape, victims.w if shape[1] == 4096 else wide) for name, shape in SKINNY.items()}
        out["persistent_copy"] = ((lambda: victims._checked(victims.lib.probe_persistent_copy(a, c, n4, nv, stream))), {"bytes": 2 * n4 * 16})
        for kind, code in KIND_CODES.items():
            out[f"persistent_{kind}"] = ((lambda code=code: victims._checked(victims.lib.probe_persistent_stream(code, a, c, n4, nv, stream))), {"bytes": n4 * 16})
        return out
    return kernels


def torch_op_kernels(victims):
    """torch_alone's kernels: PyTorch's own elementwise kernels on 512 MiB fp32 arrays (grids sized
    for the whole chip, as a framework launches them), from read-only to write-only: a sum (reads),
    a copy and a scale (a read and a write), an add (two reads, a write) and a fill (writes)."""
    n = (512 << 20) // 4
    a, b, c = torch.randn(n, device="cuda"), torch.randn(n, device="cuda"), torch.empty(n, device="cuda")
    nbytes = 4 * n
    ops = {"torch_sum": (lambda: a.sum(), nbytes), "torch_copy": (lambda: c.copy_(a), 2 * nbytes),
           "torch_scale": (lambda: torch.mul(a, 3.0, out=c), 2 * nbytes), "torch_add": (lambda: torch.add(a, b, out=c), 3 * nbytes),
           "torch_fill": (lambda: c.fill_(1.5), nbytes)}
    return lambda nv, stream: {name: (fn, {"bytes": moved}) for name, (fn, moved) in ops.items()}


def alone_curve(victims, path, kernels_for, sms_list=ALONE_SMS):
    """Each kernel alone on a green context of n SMs (the default stream for the whole chip), timed
    by events while NVML samples the clock; kernels_for(sms, raw stream) gives the lane's kernels
    as {name: (run, work)}."""
    chip = torch.cuda.get_device_properties(0).multi_processor_count
    for n in sms_list:
        lanes = green_lanes(n) if n < chip else []
        try:
            if lanes:
                sv, nv, _, rv = lanes[0]
            else:
                sv, nv = torch.cuda.current_stream(), chip
                rv = sv.cuda_stream
            for name, (fn, work) in kernels_for(nv, ctypes.c_void_p(int(rv))).items():
                t0 = time.time()
                try:
                    with torch.cuda.stream(sv), ClockSampler(0.01) as clk:
                        ms = time_ms(fn, repeats=10, warmup=3, stream=sv)
                    r = {"victim": name, "victim_sms": nv, "partner": None, "alone_ms_per_call": ms,
                         "gbps_alone": work["bytes"] / ms / 1e6, "gbps_per_sm_alone": work["bytes"] / ms / 1e6 / nv,
                         "clock_mhz_alone": statistics.median(clk.samples) if clk.samples else None, **work,
                         "seconds": time.time() - t0}
                    RES["runs"].append(r); print("run", json.dumps(r), flush=True)
                except Exception as exc:
                    failed({"victim": name, "victim_sms": n}, exc)
            save(path)
        finally:
            if lanes:
                close_lanes(lanes)
    torch.cuda.empty_cache()


# Plans with no partner: each builds the kernels every lane times alone.
ALONE_PLANS = {"alone_curve": probe_and_skinny_kernels, "torch_alone": torch_op_kernels}


if __name__ == "__main__":
    out = sys.argv[1]
    plan = sys.argv[2] if len(sys.argv) > 2 else "copy_curve"
    if plan not in PLANS and plan not in ALONE_PLANS:
        sys.exit(f"loaded_latency.py: unknown plan {plan!r} (expected one of {', '.join([*ALONE_PLANS, *PLANS])})")
    RES["plan"] = plan
    t_start = time.time()
    torch.zeros(1, device="cuda"); torch.cuda.synchronize()
    victims = Victims()
    victims.lib.probe_persistent_stream.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int, ctypes.c_void_p]
    if plan in ("l2_partner", "l2_small"):
        victims.lib.probe_read_l2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_int, ctypes.c_void_p]
    victims.partner_src = torch.randn(1 << 28, device="cuda"); victims.partner_dst = torch.empty_like(victims.partner_src)
    victims.gemms = PairGemms() if plan == "gemm_pair" else None
    if plan in ALONE_PLANS:
        try:
            alone_curve(victims, out, ALONE_PLANS[plan](victims))
        except Exception as exc:
            failed({"plan": plan}, exc, "PLAN FAILED")
    for v, kind, blocks_list, *names in PLANS.get(plan, []):
        try:
            measure(v, kind, blocks_list, victims, out, *names)
        except Exception as exc:
            failed({"victim_sms": v, "partner_kind": kind}, exc, "SPLIT FAILED")
    finish(out, t_start)
