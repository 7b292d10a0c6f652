"""The DRAM bytes cuBLAS GEMMs move, cold and warm, on N SMs: run under ncu.

    ncu --clock-control none --cache-control all --profile-from-start off --csv --page raw \\
        --metrics dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum \\
        python3 validation/measured/gemm_traffic.py ORDER.json > COLD.csv
    (and again with --cache-control none for WARM.csv)

silica's power model charges each kernel's DRAM bytes, and its GEMMs' bytes come from its own tile
and L2 model for one call. A 4096^3 GEMM run back to back keeps its operands (64 MB) in the H200's
60 MiB L2; an 8192^3 GEMM's (256 MB) cannot stay. How many bytes each really moves, on 8-132 SMs,
is what this measures: with `--cache-control all` ncu flushes the caches before every kernel
(a cold call); with `none` the second and third calls of each shape find what the first left.

For each (shape, SMs) the script runs the GEMM three times on a green context of N SMs (a plain
stream for 132), between cudaProfilerStart and Stop, so ncu profiles exactly these kernels, in the
order ORDER.json lists (one cuBLAS kernel per call for these shapes: the order file counts the
launches the profiler saw per call, to check). GEMM_CONFIGS=MxNxK@SMS,... replaces the list.

The first run (2026-11-28) profiled the three 4096^3 configurations and then failed on the 8192^3
GEMM on 8 SMs ("Failed to prepare kernel for profiling", in both cache modes). A second, of the
rest with the 132-SM configurations first and --replay-mode application, failed the same way on
the 8192^3 GEMM on the whole chip; a third (the decode GEMM on 132 and 24 SMs, then 8192x2048x8192
on 72) profiled the first and failed on the 24-SM green context.
"""
import json, os, sys

import torch

from sm_scaling import close_lanes, green_lanes  # same directory

CONFIGS = [((4096, 4096, 4096), 8), ((4096, 4096, 4096), 32), ((4096, 4096, 4096), 132),
           ((8192, 8192, 8192), 8), ((8192, 8192, 8192), 32), ((8192, 8192, 8192), 132),
           ((8192, 2048, 8192), 72), ((64, 4096, 14336), 24), ((64, 4096, 14336), 132)]
CALLS = 3
if os.environ.get("GEMM_CONFIGS"):   # e.g. GEMM_CONFIGS=8192x8192x8192@132,64x4096x14336@24
    CONFIGS = [(tuple(int(d) for d in shape.split("x")), int(sms))
               for shape, sms in (c.split("@") for c in os.environ["GEMM_CONFIGS"].split(","))]


def main(order_path):
    torch.zeros(1, device="cuda"); torch.cuda.synchronize()
    dt = torch.bfloat16
    data = {}
    for (m, n, k), _ in CONFIGS:
        if (m, n, k) not in data:
            data[(m, n, k)] = (torch.randn(m, k, device="cuda", dtype=dt), torch.randn(k, n, device="cuda", dtype=dt))
    # cuBLAS picks and loads its kernels on a first call: do that outside the profiled region
    for (m, n, k), sms in CONFIGS:
        lanes = green_lanes(sms) if sms < 132 else []
        try:
            stream = lanes[0][0] if lanes else torch.cuda.current_stream()
            a, b = data[(m, n, k)]
            with torch.cuda.stream(stream):
                torch.matmul(a, b)
            stream.synchronize()
        finally:
            close_lanes(lanes)
    order = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "calls_per_config": CALLS, "configs": []}
    cudart = torch.cuda.cudart()
    cudart.cudaProfilerStart()
    for (m, n, k), sms in CONFIGS:
        lanes = green_lanes(sms) if sms < 132 else []
        try:
            stream, got = (lanes[0][0], lanes[0][1]) if lanes else (torch.cuda.current_stream(), 132)
            a, b = data[(m, n, k)]
            with torch.cuda.stream(stream):
                for _ in range(CALLS):
                    torch.matmul(a, b)
            stream.synchronize()
            order["configs"].append({"m": m, "n": n, "k": k, "sms": got,
                                     "compulsory_bytes": 2 * (m * k + k * n + m * n)})
        finally:
            close_lanes(lanes)
    cudart.cudaProfilerStop()
    with open(order_path, "w") as f:
        json.dump(order, f, indent=1)
    print("done", len(order["configs"]), "configs", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
