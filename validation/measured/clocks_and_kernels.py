"""Two things the SM-scaling runs left open, measured for whoever models them next.

    python3 validation/measured/clocks_and_kernels.py clocks OUT.json   # SM clock and power vs SMs in use
    python3 validation/measured/clocks_and_kernels.py ops               # the library kernels, for ncu to profile
    python3 validation/measured/clocks_and_kernels.py decode            # decode GEMMs and PyTorch streams, for ncu

`clocks`: a 4096^3 bf16 GEMM run back to back for ~1.5 s on a green context of N SMs while NVML
samples the SM clock and board power every 10 ms (the last two thirds of samples are kept): do
fewer busy SMs leave power headroom that raises the clock (dense GEMMs on 8-48 SMs ran 11-25% faster
per SM than on the whole chip)? `ops`: warm each op up, then run it twice; run under
`ncu --clock-control none --csv --metrics ...` to get each kernel's grid, block, registers,
occupancy, DRAM bytes and duration (why cuBLAS's skinny GEMMs and PyTorch's row kernels reach
55-75% of the HBM's rate where a copy reaches 90%). `decode`: the same for the decode-shaped
GEMMs and GEMVs of loaded_latency.py (1 and 64 rows over 4096x14336 and 8192x28672) and PyTorch's
sum, scale, add and fill (the kernels of validation/hbm-alone.yaml): their tiles, grids, shared
memory and registers per block say how many bytes each SM keeps in flight, which sets how a kernel
held by its requests slows when other traffic lengthens the DRAM's latency.
"""
import json, statistics, sys

import torch

from measure_gpu import back_to_back  # same directory
from sm_scaling import close_lanes, green_lanes


def clocks(out):
    res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "method": __doc__.strip().splitlines()[0], "runs": []}
    for n in [8, 16, 32, 48, 64, 96, 124]:
        lanes = green_lanes(n)
        try:
            s, got, _, _ = lanes[0]
            with torch.cuda.stream(s):
                a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
                for _ in range(3): a @ b
            s.synchronize()
            ms, reps, late, latep, samples = back_to_back(lambda: a @ b, s, 1.5, 10)
            r = {"sms": got, "gemm": [4096, 4096, 4096], "products": reps, "tflops": reps * 2 * 4096 ** 3 / (ms * 1e-3) / 1e12,
                 "sm_clock_mhz_median": statistics.median(late), "sm_clock_mhz_min": min(late), "power_w_median": statistics.median(latep),
                 "samples": samples}
            res["runs"].append(r); print("clocks", r, flush=True)
        finally:
            close_lanes(lanes)
    json.dump(res, open(out, "w"), indent=1)


def run_ops(work):
    """Warms each (name, fn) up, then runs it twice in an NVTX range named for it."""
    for _, fn in work:
        for _ in range(3): fn()
    torch.cuda.synchronize()
    for name, fn in work:
        torch.cuda.nvtx.range_push(name)
        fn(); fn()
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_pop()
        print("op", name, flush=True)


def decode_ops():
    dt = torch.bfloat16
    work = []
    for m, k, n in [(64, 4096, 14336), (1, 4096, 14336), (64, 8192, 28672), (1, 8192, 28672)]:
        x, w = torch.randn(m, k, device="cuda", dtype=dt), torch.randn(k, n, device="cuda", dtype=dt)
        work.append((f"gemm_{m}x{k}x{n}", lambda x=x, w=w: x @ w))
    a, b, c = (torch.randn(1 << 27, device="cuda") for _ in range(3))
    work += [("torch_sum_512MiB", lambda: a.sum()), ("torch_scale_512MiB", lambda: torch.mul(a, 3.0, out=c)),
             ("torch_add_512MiB", lambda: torch.add(a, b, out=c)), ("torch_fill_512MiB", lambda: c.fill_(1.5))]
    run_ops(work)


def ops():
    dt = torch.bfloat16
    X8 = torch.randn(8, 8192, device="cuda", dtype=dt); W = torch.randn(8192, 8192, device="cuda", dtype=dt)
    X1 = torch.randn(1, 4096, device="cuda", dtype=dt); W1 = torch.randn(4096, 4096, device="cuda", dtype=dt)
    R = torch.randn(65536, 1024, device="cuda", dtype=dt); ln = torch.nn.LayerNorm(1024, device="cuda", dtype=dt)
    S = torch.randn(1 << 28, device="cuda"); D = torch.empty_like(S)
    work = [("gemm_8x8192x8192", lambda: X8 @ W), ("gemv_1x4096x4096", lambda: X1 @ W1), ("gelu_bf16_65536x1024", lambda: torch.nn.functional.gelu(R)),
            ("layernorm_bf16_65536x1024", lambda: ln(R)), ("softmax_bf16_65536x1024", lambda: torch.softmax(R, dim=-1)), ("copy_fp32_1GiB", lambda: D.copy_(S))]
    run_ops(work)


if __name__ == "__main__":
    {"clocks": lambda: clocks(sys.argv[2]), "decode": decode_ops}.get(sys.argv[1], ops)()
