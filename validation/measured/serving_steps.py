"""Serving iterations of a Llama-3-8B-shaped model, the quantity silica's serving engine costs.

    python3 validation/measured/serving_steps.py OUT.json [PART,PART...]   (default: every part)

The model is written out in PyTorch with random bf16 weights, with the kernels silica's lowering
emits for it (src/sw/graph/build.ts): per layer RMSNorm, the fused QKV GEMM, RoPE, the KV-cache
write, attention, the output GEMM and residual add, RMSNorm, the fused gate/up GEMM, SwiGLU, the
down GEMM and residual add; then the last tokens' norm, logits GEMM and softmax. GEMMs are cuBLAS
(`F.linear`), attention is `scaled_dot_product_attention` (causal over the prompt for prefill; for
decode the 4 query heads of each KV head are packed as 4 query rows, the usual GQA decode trick),
and the small element-wise pieces (RMSNorm, RoPE, SwiGLU) are `torch.compile`d so each is one
kernel, as in a serving engine (recorded: `glue`). Attention is the fastest of PyTorch's SDPA
backends on a probe shape (cuDNN, FlashAttention-2, memory-efficient; recorded: `attention`).
Parts:

1. `prefill`: one prompt of 512-8192 tokens, the whole chip, CUDA graph.
2. `decode`: one decode step of 1-128 requests at 512-8192 cached tokens each, CUDA graph.
3. `mixed`: a chunked-prefill iteration (one prompt chunk plus a batch of decodes), CUDA graph.
4. `breakdown`: kernel time by category (GEMM, attention, other) under the profiler, eager.
5. `sm_scaling`: prefill and decode on CUDA green contexts of N SMs (cuda-bindings, as
   sm_scaling.py), each captured as a CUDA graph on the green context's stream; the prefill is also
   run eagerly there, which shows whether a graph launched on that stream keeps to its SMs.
6. `corun`: prefill on a green context of P SMs beside decode on the other 132 - P, alone and
   together (the serving study's CU-masked co-run): each side's slowdown.
7. `sm_breakdown`: kernel time by category of the prefill and the decode on 16-72 SMs.

Each timed figure is the median of repeats after warm-up (CUDA events), with the SM clock sampled
by NVML (measure_gpu.ClockSampler). Parts are independent; one that fails records its error.
"""
import json, os, statistics, sys, time, traceback

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure_gpu import ClockSampler  # noqa: E402
from sm_scaling import close_lanes, co_window, green_lanes  # noqa: E402

DEV = torch.device("cuda")
DT = torch.bfloat16
# Llama-3-8B (silica's zoo: llama3-8b)
HID, NH, NKV, HD, FFN, VOCAB, LAYERS = 4096, 32, 8, 128, 14336, 128256, 32
QW, KVW = NH * HD, NKV * HD
T_START = time.time()
BUDGET_S = float(os.environ.get("SERVING_STEPS_BUDGET_S", "330"))   # parts after this are skipped

RES = {"device": torch.cuda.get_device_name(0), "sms": torch.cuda.get_device_properties(0).multi_processor_count,
       "torch": torch.__version__, "cuda": torch.version.cuda, "model": "llama3-8b-shaped (random bf16 weights)",
       "method": __doc__.strip().splitlines()[0]}


def save(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(RES, f, indent=1)
    os.replace(tmp, path)


# ---- the glue kernels: compiled where torch.compile works, eager otherwise -------------------------

def _rmsnorm(x, w):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * w


def _rope(qk, cos, sin):
    """qk: [T, heads, HD] (the Q and K columns of the QKV output); cos, sin: [T, HD/2]."""
    x1 = qk[..., : HD // 2].float(); x2 = qk[..., HD // 2:].float()
    c = cos[:, None, :]; s = sin[:, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1).to(qk.dtype)


def _swiglu(gu):
    g, u = gu.chunk(2, -1)
    return F.silu(g) * u


GLUE = {"rmsnorm": _rmsnorm, "rope": _rope, "swiglu": _swiglu, "mode": "eager"}


def compile_glue():
    """torch.compile with automatic dynamic shapes: the first size compiles static, the second
    marks only the token dimension dynamic, so the hidden sizes stay static (aligned, vectorised
    loads; dynamic=True makes every size symbolic and the kernels reach half the bandwidth)."""
    try:
        c = {k: torch.compile(f) for k, f in (("rmsnorm", _rmsnorm), ("rope", _rope), ("swiglu", _swiglu))}
        for t in (7, 300, 1):  # built now, not inside a graph capture; 1 is specialised
            x = torch.randn(t, HID, device=DEV, dtype=DT)
            c["rmsnorm"](x, torch.ones(HID, device=DEV, dtype=DT))
            qkv = torch.randn(t, QW + 2 * KVW, device=DEV, dtype=DT)
            c["rope"](qkv[:, : QW + KVW].view(t, NH + NKV, HD), torch.randn(t, HD // 2, device=DEV), torch.randn(t, HD // 2, device=DEV))
            c["swiglu"](torch.randn(t, 2 * FFN, device=DEV, dtype=DT))
        torch.cuda.synchronize()
        GLUE.update(c); GLUE["mode"] = "torch.compile (automatic dynamic shapes: token dimension only)"
    except Exception as exc:  # keep going eagerly
        GLUE["mode"] = "eager (torch.compile failed: " + str(exc).splitlines()[0][:200] + ")"
    return GLUE["mode"]


# ---- the model ---------------------------------------------------------------------------------------

class Model:
    def __init__(self):
        g = torch.Generator(device=DEV); g.manual_seed(0)
        w = lambda *s: torch.randn(*s, device=DEV, dtype=DT, generator=g) * 0.02
        self.layers = [dict(n1=torch.ones(HID, device=DEV, dtype=DT), qkv=w(QW + 2 * KVW, HID), o=w(HID, QW),
                            n2=torch.ones(HID, device=DEV, dtype=DT), gu=w(2 * FFN, HID), d=w(HID, FFN)) for _ in range(LAYERS)]
        self.norm = torch.ones(HID, device=DEV, dtype=DT)
        self.head = w(VOCAB, HID)
        inv = 1.0 / (500000.0 ** (torch.arange(0, HD, 2, device=DEV).float() / HD))
        ang = torch.arange(131072, device=DEV).float()[:, None] * inv[None, :]
        self.cos, self.sin = ang.cos(), ang.sin()
        self.weight_bytes = sum(t.numel() * 2 for l in self.layers for t in l.values()) + self.head.numel() * 2


ATTN = {}


def _sdpa(backend, q, k, v, causal, gqa):
    with sdpa_kernel([backend]):
        if gqa:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def _expanded(backend, q, k, v, causal):
    rep = q.shape[1] // k.shape[1]
    return _sdpa(backend, q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), causal, False)


# Candidates for each attention; probe_attention times each on a representative shape and keeps the
# fastest that runs (a serving engine would use its fastest kernel too), recording every time.
PREFILL_CANDIDATES = {
    "cudnn, GQA native": lambda q, k, v: _sdpa(SDPBackend.CUDNN_ATTENTION, q, k, v, True, True),
    "cudnn over K/V repeated per query head": lambda q, k, v: _expanded(SDPBackend.CUDNN_ATTENTION, q, k, v, True),
    "flash (FA2), GQA native": lambda q, k, v: _sdpa(SDPBackend.FLASH_ATTENTION, q, k, v, True, True),
    "efficient over K/V repeated per query head": lambda q, k, v: _expanded(SDPBackend.EFFICIENT_ATTENTION, q, k, v, True),
}
DECODE_CANDIDATES = {  # the query heads of each KV head packed as query rows: no mask, no repeat
    "flash (FA2), packed": lambda q, k, v: _sdpa(SDPBackend.FLASH_ATTENTION, q, k, v, False, False),
    "cudnn, packed": lambda q, k, v: _sdpa(SDPBackend.CUDNN_ATTENTION, q, k, v, False, False),
    "efficient, packed": lambda q, k, v: _sdpa(SDPBackend.EFFICIENT_ATTENTION, q, k, v, False, False),
}


def sdpa_causal(q, k, v):
    return PREFILL_CANDIDATES[ATTN["prefill"]](q, k, v)


def sdpa_decode(qp, k, v):
    return DECODE_CANDIDATES[ATTN["decode"]](qp, k, v)


def _pick(kind, candidates, args):
    times = {}
    for name, fn in candidates.items():
        try:
            times[name] = median_ms(lambda: fn(*args), target_s=0.1)
            g = capture(lambda: fn(*args))   # the steps run as CUDA graphs: it must capture too
            del g
        except Exception as exc:
            times[name] = "failed: " + str(exc).splitlines()[0][:160]
            torch.cuda.synchronize()
    ok = {n: t for n, t in times.items() if isinstance(t, float)}
    ATTN[kind] = min(ok, key=ok.get)
    ATTN[kind + "_probe_ms"] = times
    return ATTN[kind]


def probe_attention():
    """Times each candidate on one layer's attention of a 2048-token prompt and of 32 decodes at
    2048 cached tokens (the layouts the model uses), keeps the fastest of each."""
    qkv = torch.randn(2048, QW + 2 * KVW, device=DEV, dtype=DT)
    q = qkv[:, :QW].view(2048, NH, HD).transpose(0, 1).unsqueeze(0)
    k = torch.randn(1, NKV, 2048, HD, device=DEV, dtype=DT); v = torch.randn_like(k)
    _pick("prefill", PREFILL_CANDIDATES, (q, k, v))
    qd = torch.randn(32, QW + 2 * KVW, device=DEV, dtype=DT)[:, :QW].reshape(32, NKV, NH // NKV, HD)
    K = torch.randn(32, NKV, 2049, HD, device=DEV, dtype=DT); V = torch.randn_like(K)
    _pick("decode", DECODE_CANDIDATES, (qd, K, V))
    return ATTN


class Batch:
    """One iteration's work: `chunk` prompt tokens (context 0; 0 = none) and `decodes` requests at
    `context` cached tokens, with their KV cache and inputs allocated."""
    def __init__(self, m, chunk, decodes, context):
        self.m, self.chunk, self.decodes, self.context = m, chunk, decodes, context
        self.tokens = chunk + decodes
        g = torch.Generator(device=DEV); g.manual_seed(1)
        self.x0 = torch.randn(self.tokens, HID, device=DEV, dtype=DT, generator=g)
        pos = [torch.arange(chunk, device=DEV)] + ([torch.full((decodes,), context, device=DEV)] if decodes else [])
        pos = torch.cat(pos).long()
        self.cos, self.sin = m.cos[pos].contiguous(), m.sin[pos].contiguous()
        # KV caches: the prompt's [1, NKV, chunk, HD]; the decodes' [B, NKV, context + 1, HD] (exactly
        # the attended length, so attention reads a contiguous cache), random where already cached.
        self.pk = [torch.empty(1, NKV, chunk, HD, device=DEV, dtype=DT) for _ in range(LAYERS)] if chunk else None
        self.pv = [torch.empty_like(t) for t in self.pk] if chunk else None
        if decodes:
            self.dk = [torch.randn(decodes, NKV, context + 1, HD, device=DEV, dtype=DT, generator=g) for _ in range(LAYERS)]
            self.dv = [torch.randn(decodes, NKV, context + 1, HD, device=DEV, dtype=DT, generator=g) for _ in range(LAYERS)]
        self.kv_cache_bytes = 2 * LAYERS * (chunk + decodes * (context + 1)) * KVW * 2
        self.rows = torch.tensor(([chunk - 1] if chunk else []) + list(range(chunk, chunk + decodes)), device=DEV).long()

    def attention(self, l, qkv):
        T, c, B = self.tokens, self.chunk, self.decodes
        qk = GLUE["rope"](qkv[:, : QW + KVW].view(T, NH + NKV, HD), self.cos, self.sin)
        q, k = qk[:, :NH], qk[:, NH:]
        v = qkv[:, QW + KVW:].view(T, NKV, HD)
        outs = []
        if c:
            self.pk[l].copy_(k[:c].transpose(0, 1).unsqueeze(0)); self.pv[l].copy_(v[:c].transpose(0, 1).unsqueeze(0))
            o = sdpa_causal(q[:c].transpose(0, 1).unsqueeze(0), self.pk[l], self.pv[l])     # [1, NH, c, HD]
            outs.append(o[0].transpose(0, 1).reshape(c, QW))
        if B:
            K, V = self.dk[l], self.dv[l]
            K[:, :, self.context].copy_(k[c:]); V[:, :, self.context].copy_(v[c:])
            qp = q[c:].reshape(B, NKV, NH // NKV, HD)                                         # GQA packing
            o = sdpa_decode(qp, K, V)                                                          # [B, NKV, 4, HD]
            outs.append(o.reshape(B, QW))
        return outs[0] if len(outs) == 1 else torch.cat(outs, 0)

    def step(self):
        m = self.m
        x = self.x0.clone()
        for l, w in enumerate(m.layers):
            h = GLUE["rmsnorm"](x, w["n1"])
            qkv = F.linear(h, w["qkv"])
            x += F.linear(self.attention(l, qkv), w["o"])
            h = GLUE["rmsnorm"](x, w["n2"])
            x += F.linear(GLUE["swiglu"](F.linear(h, w["gu"])), w["d"])
        last = GLUE["rmsnorm"](x.index_select(0, self.rows), m.norm)
        return torch.softmax(F.linear(last, m.head), -1)

    def describe(self):
        return {"prompt_tokens": self.chunk, "decodes": self.decodes, "context": self.context, "tokens": self.tokens,
                "kv_cache_bytes": self.kv_cache_bytes}


# ---- timing ------------------------------------------------------------------------------------------

def median_ms(fn, stream=None, target_s=0.5, max_repeats=30):
    """Median time of one call of fn on `stream`, after two warm-up calls; enough repeats to fill
    ~target_s (at least 3). Each repeat is one call between two events on an idle GPU: steps here
    run 1-300 ms, so for a graph replay this is the GPU's time, and for an eager step it includes
    the host's launches wherever the GPU would outrun them (the cost of running without graphs)."""
    s = stream or torch.cuda.current_stream()
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
        s.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(s); fn(); b.record(s); b.synchronize()
        one = a.elapsed_time(b)
        reps = max(3, min(max_repeats, int(target_s * 1000 / max(one, 1e-3))))
        out = []
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(s); fn(); b.record(s); b.synchronize()
            out.append(a.elapsed_time(b))
    return statistics.median(out)


def capture(step, stream=None):
    """A CUDA graph of step() captured on `stream` (a side stream by default), after warm-up there."""
    s = stream or torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            step()
    s.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g, stream=s):
        step()
    torch.cuda.synchronize()
    return g


def timed(batch, stream=None, graph=True):
    with ClockSampler(0.01) as clk:
        if graph:
            g = capture(batch.step, stream)
            ms = median_ms(g.replay, stream)
            del g
        else:
            ms = median_ms(batch.step, stream)
    r = {"ms": ms, "cuda_graph": graph, "sm_clock_mhz_median": statistics.median(clk.samples) if clk.samples else None}
    return r


def category(name):
    n = name.lower()
    if any(k in n for k in ("flash", "fmha", "attention", "sdpa")):
        return "attention"
    if any(k in n for k in ("gemm", "gemv", "cutlass", "xmma", "nvjet", "cublas", "sm90_", "splitk")):
        return "gemm"
    return "other"


def breakdown(batch, steps=2):
    """Kernel time (ms per step) by category under the profiler, eager (as bert_train.py)."""
    batch.step(); torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            batch.step()
        torch.cuda.synchronize()
    out, kernels = {"gemm": 0.0, "attention": 0.0, "other": 0.0}, {}
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            us = getattr(ev, "device_time_total", None)
            if us is None:
                us = getattr(ev, "cuda_time_total", 0.0)
            out[category(ev.name)] += us / 1000 / steps
            kernels[ev.name[:90]] = kernels.get(ev.name[:90], 0.0) + us / 1000 / steps
    top = sorted(kernels.items(), key=lambda kv: -kv[1])[:12]
    return {"kernel_ms": out, "kernel_ms_total": sum(out.values()), "kernels_per_step": sum(1 for ev in prof.events() if ev.device_type == torch.autograd.DeviceType.CUDA) / steps,
            "top_kernels_ms": top}


# ---- parts -------------------------------------------------------------------------------------------

PREFILL = [512, 1024, 2048, 4096, 8192]
DECODE = [(1, 512), (1, 2048), (1, 8192), (8, 2048), (8, 8192), (32, 512), (32, 2048), (32, 8192), (64, 2048), (128, 512), (128, 2048)]
MIXED = [(512, 32, 2048), (2048, 64, 2048)]


def run_configs(m, configs, label):
    rows = []
    for chunk, decodes, context in configs:
        b = Batch(m, chunk, decodes, context)
        r = b.describe()
        try:
            r.update(timed(b))
        except Exception as exc:  # record, and time it eagerly instead
            r["graph_error"] = str(exc).splitlines()[0][:200]
            torch.cuda.synchronize()
            r.update(timed(b, graph=False))
        if decodes and not chunk:
            r["eager_ms"] = median_ms(b.step)
        rows.append(r); print(label, r, flush=True)
        del b; torch.cuda.empty_cache()
    return rows


def part_breakdown(m):
    rows = []
    for chunk, decodes, context in [(2048, 0, 0), (8192, 0, 0), (0, 1, 2048), (0, 8, 8192), (0, 32, 2048), (0, 128, 2048), (512, 32, 2048)]:
        b = Batch(m, chunk, decodes, context)
        r = {**b.describe(), **breakdown(b)}
        rows.append(r); print("breakdown", r, flush=True)
        del b; torch.cuda.empty_cache()
    return rows


def part_sm_scaling(m):
    torch.zeros(1, device=DEV); torch.cuda.synchronize()
    rows = []
    pre, dec = Batch(m, 2048, 0, 0), Batch(m, 0, 64, 2048)
    for n in [16, 33, 66, 99, 132]:
        lanes = green_lanes(n) if n < RES["sms"] else None
        try:
            st, got = (lanes[0][0], lanes[0][1]) if lanes else (torch.cuda.Stream(), RES["sms"])
            for name, b in (("prefill 2048", pre), ("decode 64x2048", dec)):
                r = {"workload": name, "sms_requested": n, "sms": got, **b.describe()}
                try:
                    r.update(timed(b, st))
                except Exception as exc:  # a graph on a green context's stream: record, time eagerly
                    r["graph_error"] = str(exc).splitlines()[0][:200]
                    torch.cuda.synchronize()
                if name.startswith("prefill") or "graph_error" in r:
                    r["eager_ms"] = median_ms(b.step, st)
                rows.append(r); print("sm_scaling", r, flush=True)
        finally:
            if lanes:
                close_lanes(lanes)
        torch.cuda.empty_cache()
    return rows


def part_sm_breakdown(m):
    """Kernel time by category on green contexts: where a partition's extra time goes."""
    torch.zeros(1, device=DEV); torch.cuda.synchronize()
    rows = []
    pre, dec = Batch(m, 2048, 0, 0), Batch(m, 0, 64, 2048)
    for n in [16, 40, 72]:
        lanes = green_lanes(n)
        try:
            st, got = lanes[0][0], lanes[0][1]
            for name, b in (("prefill 2048", pre), ("decode 64x2048", dec)):
                with torch.cuda.stream(st):
                    r = {"workload": name, "sms_requested": n, "sms": got, **b.describe(), **breakdown(b)}
                rows.append(r); print("sm_breakdown", r, flush=True)
        finally:
            close_lanes(lanes)
    return rows


def part_corun(m):
    torch.zeros(1, device=DEV); torch.cuda.synchronize()
    rows = []
    pre, dec = Batch(m, 2048, 0, 0), Batch(m, 0, 64, 2048)
    for p in [int(x) for x in os.environ.get("CORUN_PREFILL_SMS", "66,99,88,112,40").split(",")]:
        # p of at least the SM count: no partition, two ordinary streams on the whole chip (the
        # unmasked baseline: the hardware's own dispatcher shares the SMs between the lanes)
        lanes = green_lanes(p, rest=True) if p < RES["sms"] else []
        try:
            if lanes:
                (sa, na, _, _), (sb, nb, _, _) = lanes
            else:
                sa, sb, na, nb = torch.cuda.Stream(), torch.cuda.Stream(), RES["sms"], RES["sms"]
            ga, gb = capture(pre.step, sa), capture(dec.step, sb)
            ta, tb = median_ms(ga.replay, sa), median_ms(gb.replay, sb)
            ra, rb = max(2, int(round(400 / ta))), max(2, int(round(400 / tb)))   # ~0.4 s of work a side

            def window(run_a, run_b):   # per-step ms of each side
                wa, wb = co_window((sa, ga.replay, ra if run_a else 0), (sb, gb.replay, rb if run_b else 0))
                return (wa / ra if run_a else None, wb / rb if run_b else None)

            window(True, True)   # warm-up
            alone_a = window(True, False)[0]; alone_b = window(False, True)[1]
            with ClockSampler(0.01) as clk:
                tog_a, tog_b = window(True, True)
            r = {"sms_prefill": na, "sms_decode": nb, "prefill": pre.describe(), "decode": dec.describe(), "reps_prefill": ra, "reps_decode": rb,
                 "prefill_alone_ms": alone_a, "decode_alone_ms": alone_b, "prefill_together_ms": tog_a, "decode_together_ms": tog_b,
                 "prefill_slowdown": tog_a / alone_a, "decode_slowdown": tog_b / alone_b, "partitioned": bool(lanes),
                 "sm_clock_mhz_median_together": statistics.median(clk.samples) if clk.samples else None}
            rows.append(r); print("corun", r, flush=True)
            del ga, gb
        finally:
            close_lanes(lanes)
        torch.cuda.empty_cache()
    return rows


def _kernel_timeline(run, path):
    """Every kernel's, memcpy's and memset's (stream, start_us, end_us, name) while run() executes,
    from the profiler's CUDA activity (CUPTI sees graph replays' kernels too); the Chrome trace
    goes to `path`."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    prof.export_chrome_trace(path)
    with open(path) as f:
        events = json.load(f)["traceEvents"]
    # a device-local memcpy or memset is SM work too, though the profiler files it apart from kernels
    ks = [(e["args"].get("stream"), e["ts"], e["ts"] + e["dur"], e["name"][:60]) for e in events
          if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and "dur" in e]
    return sorted(ks, key=lambda k: k[1])


def _overlap_summary(ks, stream_a, stream_b):
    """How the two streams' kernels interleaved: busy time of each, time both had a kernel running,
    and the number of turns (a kernel of one stream starting after the other's last start)."""
    def union(iv):
        tot, cur_s, cur_e = 0.0, None, None
        for s0, e0 in sorted(iv):
            if cur_e is None or s0 > cur_e:
                if cur_e is not None: tot += cur_e - cur_s
                cur_s, cur_e = s0, e0
            else:
                cur_e = max(cur_e, e0)
        return tot + (cur_e - cur_s if cur_e is not None else 0.0)
    a = [(k[1], k[2]) for k in ks if k[0] == stream_a]; b = [(k[1], k[2]) for k in ks if k[0] == stream_b]
    ua, ub, uab = union(a), union(b), union(a + b)
    turns, last = 0, None
    for k in ks:
        if k[0] in (stream_a, stream_b):
            if last is not None and k[0] != last: turns += 1
            last = k[0]
    t0 = min(k[1] for k in ks); t1 = max(k[2] for k in ks)
    return {"kernels_a": len(a), "kernels_b": len(b), "busy_a_us": ua, "busy_b_us": ub, "busy_either_us": uab,
            "both_running_us": ua + ub - uab, "span_us": t1 - t0, "turns": turns,
            "mean_kernel_a_us": sum(e - s0 for s0, e in a) / max(1, len(a)), "mean_kernel_b_us": sum(e - s0 for s0, e in b) / max(1, len(b))}


def part_corun_timeline(m, out_dir):
    """The unmasked co-run (prefill 2048 and decode 64x2048 on two ordinary streams) and, for
    comparison, a GEMM stream beside a copy stream, under the profiler: each kernel's start and end,
    to see how the hardware interleaves two streams' kernels on the same SMs. Alone windows first."""
    torch.zeros(1, device=DEV); torch.cuda.synchronize()
    pre, dec = Batch(m, 2048, 0, 0), Batch(m, 0, 64, 2048)
    sa, sb = torch.cuda.Stream(), torch.cuda.Stream()
    ga, gb = capture(pre.step, sa), capture(dec.step, sb)
    dt = torch.bfloat16
    P = torch.randn(8192, 8192, device=DEV, dtype=dt); Q = torch.randn(8192, 2048, device=DEV, dtype=dt)
    x = torch.randn(1 << 27, device=DEV); y = torch.empty_like(x)
    cases = {"serving prefill|decode": ((sa, ga.replay, 2), (sb, gb.replay, 11)),
             "gemm 8192x2048x8192|copy fp32 512MiB": ((sa, lambda: torch.matmul(P, Q), 12), (sb, lambda: y.copy_(x), 16))}
    rows = []
    for name, (a, b) in cases.items():
        co_window(a, b)   # warm-up
        ids = []
        for s_ in (a[0], b[0]):
            ids.append(s_.stream_id if hasattr(s_, "stream_id") else None)
        tag = name.split()[0]
        alone_a = _kernel_timeline(lambda: co_window(a, (b[0], b[1], 0)), os.path.join(out_dir, f"timeline-{tag}-alone-a.json"))
        alone_b = _kernel_timeline(lambda: co_window((a[0], a[1], 0), b), os.path.join(out_dir, f"timeline-{tag}-alone-b.json"))
        both = _kernel_timeline(lambda: co_window(a, b), os.path.join(out_dir, f"timeline-{tag}-together.json"))
        streams = sorted({k[0] for k in both}, key=lambda st: -sum(1 for k in both if k[0] == st))
        sa_id = next((k[0] for k in alone_a), None); sb_id = next((k[0] for k in alone_b), None)
        r = {"case": name, "reps_a": a[2], "reps_b": b[2], "stream_a": sa_id, "stream_b": sb_id, "streams_seen": streams,
             "alone_a": _overlap_summary(alone_a, sa_id, sb_id), "alone_b": _overlap_summary(alone_b, sa_id, sb_id),
             "together": _overlap_summary(both, sa_id, sb_id),
             "together_kernels": [[0 if k[0] == sa_id else 1, round(k[1], 2), round(k[2], 2), k[3]] for k in both]}
        rows.append(r)
        print("timeline", name, json.dumps({k: r[k] for k in ("alone_a", "alone_b", "together")}), flush=True)
    del ga, gb
    return rows


def part(name, fn, path):
    t0 = time.time()
    if t0 - T_START > BUDGET_S:
        RES[name + "_error"] = f"skipped: {t0 - T_START:.0f} s spent, over the {BUDGET_S:.0f} s budget"
        print(name, "skipped", flush=True)
        save(path)
        return
    try:
        RES[name] = fn()
    except Exception as exc:  # keep the other parts
        RES[name + "_error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:500]
        print(name, "FAILED:", RES[name + "_error"], flush=True)
        traceback.print_exc()
    RES.setdefault("part_seconds", {})[name] = time.time() - t0
    save(path)


if __name__ == "__main__":
    out = sys.argv[1]
    only = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None
    t0 = time.time()
    RES["glue"] = compile_glue()
    RES["glue_seconds"] = time.time() - t0
    RES["attention"] = probe_attention()
    print("glue:", RES["glue"], f"({RES['glue_seconds']:.1f} s); attention:", json.dumps(RES["attention"]), flush=True)
    model = Model()
    RES["weight_bytes"] = model.weight_bytes
    parts = [("prefill", lambda: run_configs(model, [(t, 0, 0) for t in PREFILL], "prefill")),
             ("decode", lambda: run_configs(model, [(0, b, c) for b, c in DECODE], "decode")),
             ("mixed", lambda: run_configs(model, MIXED, "mixed")),
             ("breakdown", lambda: part_breakdown(model)),
             ("corun", lambda: part_corun(model)),
             ("sm_scaling", lambda: part_sm_scaling(model)),
             ("sm_breakdown", lambda: part_sm_breakdown(model)),
             ("corun_timeline", lambda: part_corun_timeline(model, os.environ.get("TIMELINE_DIR", os.path.dirname(os.path.abspath(out)))))]
    for name, fn in parts:
        if only is None or name in only:
            part(name, fn, out)
    RES["wall_s"] = time.time() - T_START
    save(out)
    print("done", json.dumps(RES.get("part_seconds")), f"{RES['wall_s']:.0f} s", flush=True)
