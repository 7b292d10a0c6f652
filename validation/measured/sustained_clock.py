"""Sustained SM clock and power under continuous dense bf16 GEMM load (NVML sampled every 20 ms
for ~6 s of back-to-back 8192^3 products), and the throughput over that window."""
import json, sys, time, statistics
import torch
from measure_gpu import ClockSampler  # same directory
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
for _ in range(10): a @ b
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
with ClockSampler(interval_s=0.02) as c:
    n = 0; t0 = time.time(); s.record()
    while time.time() - t0 < 6:
        for _ in range(20): a @ b
        n += 20
        torch.cuda.synchronize()
    e.record(); torch.cuda.synchronize()
ms = s.elapsed_time(e)
clk, pw = c.samples, c.power
late = clk[len(clk) // 3:]; latep = pw[len(pw) // 3:]
res = {"device": torch.cuda.get_device_name(0), "shape": [8192, 8192, 8192], "dtype": "bf16", "products": n, "window_s": ms / 1e3,
       "tflops": n * 2 * 8192**3 / (ms * 1e-3) / 1e12, "sm_clock_mhz_median_last_two_thirds": statistics.median(late),
       "sm_clock_mhz_min": min(late), "sm_clock_mhz_max": max(late), "power_w_median_last_two_thirds": statistics.median(latep), "samples": len(clk)}
print(json.dumps(res)); json.dump(res, open(sys.argv[1], "w"), indent=1)
