"""Board power and SM clock of one kernel alone on N SMs, against the work it does.

    python3 validation/measured/power_probe.py OUT.json

silica's power governor (compute.power) gives a kernel's dynamic power as its useful tensor TFLOP/s
times `tensor_w_per_tflops` plus its DRAM TB/s times `dram_w_per_tbps`, fitted jointly on a 4096^3
GEMM on 8-64 SMs and one decode step (scripts/calibrate-power.mjs). This measures the two terms
apart: tensor-core products from registers (`mma_busy` in clock_probe.cu: no DRAM traffic), a
persistent float4 copy (DRAM traffic, next to no arithmetic), and, for the GEMMs the fit never saw,
cuBLAS 8192^3 bf16 GEMMs. Each runs back to back for 1.5 s on a green context of N SMs (a plain
stream for all 132) while NVML samples the SM clock and board power every 10 ms; the last two thirds
of the samples are kept, as in clocks_and_kernels.py (NVML's power reading lags a change by a
fraction of a second). Every run is independent: one that fails records its error.
PROBE_SET=low_copy runs only the copy with 1, 2, 4 and 8 blocks on one 8-SM green context.
"""
import ctypes, json, os, statistics, sys, time, traceback

import torch

from clock_coupling import load_probe  # same directory
from measure_gpu import ClockSampler, back_to_back
from sm_scaling import close_lanes, green_lanes

RES = {"device": torch.cuda.get_device_name(0), "sms": torch.cuda.get_device_properties(0).multi_processor_count,
       "torch": torch.__version__, "cuda": torch.version.cuda, "method": __doc__.strip().splitlines()[0], "runs": [], "errors": []}
SECONDS = float(__import__("os").environ.get("SECONDS_PER_RUN", 1.5))
MMA_ITERS = 8000


def save(path):
    with open(path, "w") as f:
        json.dump(RES, f, indent=1)


def kernels(lib):
    """name -> (SM counts, make(raw stream, sms) -> (run, work per call)); with PROBE_SET=low_copy,
    name -> (block counts, make(raw stream, sms, blocks), the green context's SMs)."""
    ops = torch.randn(64 * 1024, device="cuda", dtype=torch.float16)
    out = torch.zeros(132 * 4 * 8, device="cuda")
    src = torch.randn(1 << 28, device="cuda"); dst = torch.empty_like(src)   # 1 GiB each
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)

    def checked(err):
        if err:
            raise RuntimeError(lib.probe_error_string(err).decode())

    def mma(raw, sms):
        s = ctypes.c_void_p(int(raw))
        flops = sms * 4 * 8 * MMA_ITERS * 4 * 2 * 16 ** 3   # blocks x warps x iterations x products x FLOPs
        return (lambda: checked(lib.probe_mma_busy(ops.data_ptr(), MMA_ITERS, sms * 4, out.data_ptr(), s))), {"flops": flops}

    def copy(raw, sms):
        s = ctypes.c_void_p(int(raw))
        n4 = src.numel() // 4
        return (lambda: checked(lib.probe_persistent_copy(src.data_ptr(), dst.data_ptr(), n4, sms, s))), {"bytes": 2 * src.numel() * 4}

    def gemm(raw, sms):
        return (lambda: torch.matmul(a, b)), {"flops": 2 * 8192 ** 3}

    def copy_blocks(raw, sms, blocks):
        s = ctypes.c_void_p(int(raw))
        n4 = src.numel() // 4
        return (lambda: checked(lib.probe_persistent_copy(src.data_ptr(), dst.data_ptr(), n4, blocks, s))), {"bytes": 2 * src.numel() * 4}

    if os.environ.get("PROBE_SET") == "low_copy":
        # A copy on 1-8 SMs of one 8-SM green context (one block per SM): DRAM traffic from 0.1 TB/s
        # up, to see where a copy's power leaves the tensor work's line.
        return {"persistent copy fp32 1GiB, N blocks on an 8-SM green context": (
            [1, 2, 4, 8], lambda raw, sms, n: copy_blocks(raw, sms, n), 8)}
    return {"mma_busy fp16 16x16x16 from registers": ([16, 32, 64, 96, 132], mma),
            "persistent copy fp32 1GiB": ([8, 16, 32, 64, 132], copy),
            "gemm 8192^3 bf16 (cuBLAS)": ([32, 64, 96, 128, 132], gemm)}


def run_alone(name, make, n, path, lane_sms=None):
    """make's kernel alone for SECONDS on n SMs (or, with lane_sms, with n blocks on a lane of lane_sms)."""
    lane = lane_sms or n
    lanes = green_lanes(lane) if lane < RES["sms"] else []
    try:
        if lanes:
            stream, got, _, raw = lanes[0]
        else:
            stream = torch.cuda.Stream(); got = RES["sms"]; raw = stream.cuda_stream
        fn, work = make(raw, got, n) if lane_sms else make(raw, got)
        with torch.cuda.stream(stream):
            for _ in range(3): fn()
        stream.synchronize()
        ms, calls, late, latep, samples = back_to_back(fn, stream, SECONDS, 5)
        r = {"kernel": name, "sms": got, **({"blocks": n} if lane_sms else {}), "calls": calls, "ms_per_call": ms / calls, "samples": samples,
             "sm_clock_mhz_median": statistics.median(late) if late else None, "sm_clock_mhz_min": min(late) if late else None,
             "power_w_median": statistics.median(latep) if latep else None}
        if "flops" in work: r["tflops"] = work["flops"] * calls / (ms * 1e-3) / 1e12
        if "bytes" in work: r["tbps"] = work["bytes"] * calls / (ms * 1e-3) / 1e12
        RES["runs"].append(r); print("run", json.dumps(r), flush=True)
    except Exception as exc:  # keep the other runs
        err = {"kernel": name, "sms": n, "error": "".join(traceback.format_exception_only(type(exc), exc)).strip()[:400]}
        RES["errors"].append(err); print("FAILED", err, flush=True)
    finally:
        close_lanes(lanes)
    save(path)


if __name__ == "__main__":
    out = sys.argv[1]
    t_start = time.time()
    torch.zeros(1, device="cuda"); torch.cuda.synchronize()
    with ClockSampler(interval_s=0.01) as idle:
        time.sleep(0.5)
    RES["idle"] = {"sm_clock_mhz_median": statistics.median(idle.samples) if idle.samples else None,
                   "power_w_median": statistics.median(idle.power) if idle.power else None}
    for name, (counts, make, *lane) in kernels(load_probe()).items():
        for n in counts:
            run_alone(name, make, n, out, *lane)
    RES["wall_s"] = time.time() - t_start
    save(out)
    print("done", RES["wall_s"], "s,", len(RES["runs"]), "runs,", len(RES["errors"]), "errors")
