"""Measure BERT-Large pre-training iterations on one GPU, and where the GPU time goes.

    python3 validation/measured/bert_train.py OUT.json

HuggingFace `BertForPreTraining` built from a config (random init: nothing downloaded), MLM + NSP
heads, eager (unfused) attention as in the reference BERT training code, AdamW (fused). Each
configuration: 5 warm-up iterations, then the median of 15 CUDA-event-timed iterations, then one
profiled iteration whose kernel times are bucketed by kernel name into silica's categories.
"""
import json, sys, statistics, time
import torch
from transformers import BertConfig, BertForPreTraining

dev = "cuda"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def category(name: str) -> str:
    n = name.lower()
    if "adam" in n or "multi_tensor" in n or "foreach" in n:
        return "optimizer"
    if any(k in n for k in ("gemm", "cutlass", "xmma", "nvjet", "cublas", "sm90_", "sm80_", "ampere_", "matmul", "splitk", "gemv")):
        return "gemm"
    if "softmax" in n:
        return "softmax"
    if "layer_norm" in n or "layernorm" in n:
        return "layernorm"
    if "memcpy" in n or "memset" in n:
        return "memcpy"
    return "elementwise"


def run(cfg_name, batch, seq, precision, sdpa=False):
    large = cfg_name == "bert-large"
    cfg = BertConfig(hidden_size=1024 if large else 768, num_hidden_layers=24 if large else 12,
                     num_attention_heads=16 if large else 12, intermediate_size=4096 if large else 3072,
                     hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                     attn_implementation="sdpa" if sdpa else "eager")
    model = BertForPreTraining(cfg).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), device=dev)
    tt = torch.randint(0, 2, (batch, seq), device=dev)
    labels = torch.randint(0, cfg.vocab_size, (batch, seq), device=dev)
    nsp = torch.randint(0, 2, (batch,), device=dev)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)

    def step():
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(input_ids=ids, token_type_ids=tt, labels=labels, next_sentence_label=nsp)
        scaler.scale(out.loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(15):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); step(); e.record(); torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        step(); torch.cuda.synchronize()
    by_cat = {}
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            c = category(ev.name)
            us = getattr(ev, "device_time_total", None)
            if us is None:
                us = getattr(ev, "cuda_time_total", 0.0)
            by_cat[c] = by_cat.get(c, 0.0) + us
    res = {"model": cfg_name, "batch": batch, "seq": seq, "precision": precision, "attention": "sdpa" if sdpa else "eager",
           "optimizer": "adamw-fused", "iteration_ms_median": statistics.median(times), "iteration_ms_min": min(times),
           "kernel_us_by_category": by_cat, "kernel_us_total": sum(by_cat.values())}
    del model, opt
    torch.cuda.empty_cache()
    return res


def main(out):
    t0 = time.time()
    res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "method": __doc__.strip().splitlines()[-3:], "runs": []}
    for args in [("bert-large", 32, 128, "bf16"), ("bert-large", 32, 128, "fp32"), ("bert-large", 8, 512, "bf16"),
                 ("bert-large", 8, 512, "fp32"), ("bert-base", 32, 128, "bf16"), ("bert-large", 8, 512, "bf16", True)]:
        try:
            r = run(*args)
        except Exception as exc:  # keep the other configurations
            r = {"args": list(args), "error": repr(exc)[:300]}
        res["runs"].append(r)
        print(json.dumps(r), flush=True)
    res["wall_s"] = time.time() - t0
    json.dump(res, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
