import { OP_CATEGORIES } from '../../kernels/types.js';
import { countOf, formatBytes } from '../../core/units.js';
import { getModel, parameterCount } from '../../sw/index.js';
import { categoryShare, gemmIntensity, groupsVarying, largestCategory, memoryBoundShare } from './findings.js';
import { categoryTimeNs, type IterationResult } from './iteration.js';
import { pointGpus, pointMemory, type BertPoint } from './point.js';
import { DEFAULT_BUCKET_MIB } from '../../sw/index.js';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const ms = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`;
const num = (x: number, d = 1) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

const range = ([lo, hi]: [number, number]) => (Math.abs(hi - lo) < 0.5 ? num(lo, 0) : `${num(lo, 0)}–${num(hi, 0)}`);

function label(p: BertPoint, omit: Array<keyof BertPoint> = []): string {
  const parts: string[] = [];
  const add = (k: keyof BertPoint, text: string) => !omit.includes(k) && parts.push(text);
  add('model', p.model);
  add('seq', `seq ${p.seq}`);
  add('batch', `batch ${p.batch}`);
  add('precision', p.precision);
  add('optimizer', p.optimizer);
  if (p.optimizer_impl !== 'fused') add('optimizer_impl', `${p.optimizer_impl} optimizer`);
  if (p.micro_batches > 1) add('micro_batches', `${p.micro_batches} micro-batches`);
  if (p.tp > 1) add('tp', `TP ${p.tp}`);
  if (p.sequence_parallel) add('sequence_parallel', 'sequence-parallel');
  if (p.dp > 1) add('dp', `DP ${p.dp}`);
  if (p.dp > 1 && p.bucket_mb !== DEFAULT_BUCKET_MIB) add('bucket_mb', `${p.bucket_mb} MiB buckets`);
  if (p.zero_stage > 0) add('zero_stage', `ZeRO-${p.zero_stage}`);
  if (p.recompute) add('recompute', p.recompute === 'selective' ? 'selective recompute' : 'recompute');
  if (p.flash_attention) add('flash_attention', 'fused attention');
  if (!p.fuse_bias_act) add('fuse_bias_act', 'unfused element-wise ops');
  add('hw', p.hw);
  return parts.join(', ');
}

function breakdownTable(r: IterationResult): string {
  const lines = ['| category | pass | time (ms) | share | GFLOP | DRAM (GB) | kernels |', '|---|---|---:|---:|---:|---:|---:|'];
  for (const c of r.cells) lines.push(`| ${c.category} | ${c.pass} | ${(c.timeNs / 1e6).toFixed(3)} | ${pct(c.timeNs / r.iterationNs)} | ${num(c.flops / 1e9, 1)} | ${num(c.bytes / 1e9, 2)} | ${c.kernels} |`);
  lines.push(`| **total** | | **${(r.iterationNs / 1e6).toFixed(3)}** | 100% | ${num(r.flops / 1e9, 1)} | ${num(r.bytes / 1e9, 2)} | |`);
  return lines.join('\n');
}

/**
 * report.md: the findings in prose with the numbers behind them. Every number is computed from the
 * simulated iterations of this run; a finding that the run's points cannot support is skipped.
 */
export function bertReport(
  results: readonly IterationResult[],
  baseline: IterationResult,
  steps: number,
  studyOf: (axis: keyof BertPoint) => readonly IterationResult[] = () => results,
  hbmBytesOf?: (hw: string) => number,
  /** The experiment's hw_overrides as `path=value`: every configuration's part differs from its preset by these. */
  overlays: readonly string[] = [],
): string {
  const out: string[] = [];
  const b = baseline;
  const model = getModel(b.point.model);
  out.push('# BERT training characterisation', '');
  out.push(
    `Simulated with silica: each configuration is one optimizer step of one GPU, built by the graph builder (src/sw) and costed kernel by kernel on the hardware model; ` +
      `data-parallel all-reduces come from the collectives engine. ${results.length} configurations. Times are per iteration (one optimizer step); ` +
      `"memory-bound" kernels are those whose DRAM time exceeds their compute time on the part (the roofline's slanted side).` +
      (overlays.length ? ` Every part below is its preset with ${overlays.map((o) => `\`${o}\``).join(', ')} (the experiment's hw_overrides).` : ''),
    '',
  );
  out.push('## Baseline', '');
  out.push(
    `${label(b.point)}: **${ms(b.iterationNs)}** per iteration, **${num(b.samplesPerSecond, 0)} samples/s** per ${pointGpus(b.point) > 1 ? `${pointGpus(b.point)} GPUs` : 'GPU'}, ` +
      `${num(b.matmulFlops / b.iterationNs / 1e3, 1)} TFLOP/s of model matmul FLOPs. ${model.name} has ${num(parameterCount(model) / 1e6, 0)}M parameters. ` +
      `At ${steps.toLocaleString('en-US')} steps this configuration would train in ${num((steps * b.iterationNs) / 3.6e12, 1)} hours (samples per step: ${b.samplesPerIteration}; compare with a published run only at the same global batch).`,
    '',
    breakdownTable(b),
    '',
  );

  const fp32 = results.filter((r) => r.point.precision === 'fp32');
  if (fp32.length) {
    const largest = fp32.map((r) => ({ r, l: largestCategory(r) }));
    const gemmWins = largest.filter((x) => x.l.category === 'gemm');
    const minGemm = Math.min(...fp32.map((r) => categoryShare(r, 'gemm')));
    out.push('## 1. GEMMs dominate in fp32', '');
    out.push(
      `In ${gemmWins.length} of ${fp32.length} fp32 configurations the projection and FFN GEMMs are the largest category ` +
        `(their share is at least ${pct(minGemm)}).` +
        (gemmWins.length < fp32.length ? ` Exceptions: ${largest.filter((x) => x.l.category !== 'gemm').map((x) => `${label(x.r.point)} (${x.l.category} ${pct(x.l.share)})`).join('; ')}.` : ''),
      '',
    );
  }

  const precisionGroups = groupsVarying(studyOf('precision'), 'precision').filter((g) => g.some((r) => r.point.precision === 'fp32') && g.some((r) => r.point.precision.startsWith('mixed')));
  if (precisionGroups.length) {
    out.push('## 2. Mixed precision speeds up GEMMs more than memory-bound ops', '');
    out.push('| configuration | fp32 iteration | mixed iteration | speed-up | memory-bound share fp32 → mixed | GEMM share fp32 → mixed |', '|---|---:|---:|---:|---:|---:|');
    let rises = 0;
    for (const g of precisionGroups) {
      const f = g.find((r) => r.point.precision === 'fp32')!;
      for (const m of g.filter((r) => r.point.precision.startsWith('mixed'))) {
        if (memoryBoundShare(m) > memoryBoundShare(f)) rises++;
        if (m.point.precision !== 'mixed-fp16') continue;
        out.push(`| ${label(m.point, ['precision', 'optimizer'])} (${m.point.precision}) | ${ms(f.iterationNs)} | ${ms(m.iterationNs)} | ${(f.iterationNs / m.iterationNs).toFixed(2)}x | ${pct(memoryBoundShare(f))} → ${pct(memoryBoundShare(m))} | ${pct(categoryShare(f, 'gemm'))} → ${pct(categoryShare(m, 'gemm'))} |`);
      }
    }
    const pairs = precisionGroups.reduce((s, g) => s + g.filter((r) => r.point.precision.startsWith('mixed')).length, 0);
    const bf16Slower = precisionGroups.flatMap((g) => {
      const f16 = g.find((r) => r.point.precision === 'mixed-fp16');
      const b16 = g.find((r) => r.point.precision === 'mixed-bf16');
      return f16 && b16 && b16.iterationNs > f16.iterationNs * 1.01 ? [{ hw: b16.point.hw, text: `${label(b16.point, ['precision', 'optimizer'])}: ${(b16.iterationNs / f16.iterationNs).toFixed(2)}x slower than fp16` }] : [];
    });
    out.push(
      '',
      `The memory-bound share rises in ${rises} of ${pairs} fp32 → mixed pairs (fp16 and bf16; the table shows fp16): the matrix units run half precision several times faster, while layer norm, softmax, dropout, GeLU, residual adds and the fp32 optimizer only halve (or keep) their bytes. ` +
        'fp32 GEMMs run on the fp32 matrix pipes where the part has them (MI100, MI300X) and on the vector units otherwise (A100 and H100 without TF32, PyTorch\'s default).' +
        (bf16Slower.length ? ` mixed-bf16 equals mixed-fp16 except where the part's bf16 matrix rate is lower: ${[...new Set(bf16Slower.map((x) => x.hw))].join(', ')} (e.g. ${bf16Slower[0]!.text}).` : ' mixed-bf16 and mixed-fp16 take the same time on every part here (same matrix rate; bf16 skips the loss-scale check but still casts gradients).'),
      '',
    );
  }

  const ai = gemmIntensity(b);
  out.push('## 3. GEMMs are heterogeneous', '');
  out.push(
    `In the baseline, projection and FFN GEMMs reach ${range(ai.projection)} FLOP/byte of DRAM traffic, ` +
      `attention's batched GEMMs (QK^T, PV and their gradients; ${b.point.seq}x${b.point.seq} scores over a head dimension of ${model.headDim}) only ${range(ai.attention)} FLOP/byte. ` +
      'gemms.csv lists every distinct GEMM with its shape, FLOPs, bytes, intensity, achieved TFLOP/s and bound; roofline.svg plots them.',
    '',
  );

  const mbGroups = groupsVarying(studyOf('micro_batches'), 'micro_batches');
  if (mbGroups.length) {
    out.push('## 4. Gradient accumulation amortises the optimizer', '');
    for (const g of mbGroups) {
      const sorted = [...g].sort((x, y) => x.point.micro_batches - y.point.micro_batches);
      out.push(`- ${label(sorted[0]!.point, ['micro_batches'])}: optimizer share ${sorted.map((r) => `${pct(categoryShare(r, 'optimizer'))} (${r.point.micro_batches})`).join(' → ')} as micro-batches per step grow; samples/s ${num(sorted[0]!.samplesPerSecond, 0)} → ${num(sorted[sorted.length - 1]!.samplesPerSecond, 0)}.`);
    }
    out.push('');
  }

  const dpGroups = groupsVarying(studyOf('dp'), 'dp');
  if (dpGroups.length) {
    out.push('## 5. Data parallelism adds a gradient all-reduce that grows with scale', '');
    for (const g of dpGroups) {
      const sorted = [...g].sort((x, y) => x.point.dp - y.point.dp);
      out.push(`- ${label(sorted[0]!.point, ['dp'])}, all-reduce ${sorted[0]!.point.overlap ? 'overlapped with backward' : 'after backward'}: exposed communication ${sorted.map((r) => `${pct(categoryShare(r, 'communication'))} (${r.point.dp})`).join(' → ')}; all-reduce busy time at the largest scale ${ms(sorted[sorted.length - 1]!.commBusyNs)}.`);
    }
    for (const g of groupsVarying(studyOf('zero_stage'), 'zero_stage')) {
      const sorted = [...g].sort((x, y) => x.point.zero_stage - y.point.zero_stage);
      const stages = sorted.map((r) => r.point.zero_stage).join(' → ');
      out.push(
        `- ${label(sorted[0]!.point, ['zero_stage'])}, ZeRO stage ${stages}: iteration ${sorted.map((r) => ms(r.iterationNs)).join(' → ')}; optimizer ${sorted.map((r) => pct(categoryShare(r, 'optimizer'))).join(' → ')}, exposed communication ${sorted.map((r) => pct(categoryShare(r, 'communication'))).join(' → ')}; ` +
          `model states per GPU ${sorted.map((r) => formatBytes(pointMemory(r.point).modelStateBytes)).join(' → ')}.`,
      );
    }
    for (const g of groupsVarying(studyOf('bucket_mb'), 'bucket_mb')) {
      const sorted = [...g].sort((x, y) => x.point.bucket_mb - y.point.bucket_mb);
      const best = sorted.reduce((a, b) => (b.iterationNs < a.iterationNs ? b : a));
      out.push(`- ${label(sorted[0]!.point, ['bucket_mb'])}, by gradient bucket size: exposed communication ${sorted.map((r) => `${pct(categoryShare(r, 'communication'))} (${r.point.bucket_mb} MiB)`).join(' → ')}; all-reduce busy time ${ms(sorted[0]!.commBusyNs)} → ${ms(sorted[sorted.length - 1]!.commBusyNs)}; the shortest iteration at ${best.point.bucket_mb} MiB.`);
    }
    out.push(
      '',
      'ZeRO shards what the optimizer holds: each rank updates 1/DP of the weights, and instead of all-reducing the gradients it reduce-scatters them and all-gathers the updated weights after the optimizer, the same bytes on the wire; the all-gather cannot overlap with backward, so the optimizer time saved is spent again waiting for it, less so as the optimizer\'s share grows. ' +
        'With gradient accumulation stage 1 adds every micro-batch\'s gradients into whole ones and reduce-scatters once, while stage 2, holding only its shard, reduce-scatters every micro-batch and adds only the reduced shard: more bytes on the wire, fewer in the additions. ' +
        'Stage 3 shards the weights too and gathers each layer\'s just before it runs, in forward and again in backward (1.5x the all-reduce\'s bytes, every micro-batch), but nothing after the optimizer: where the links keep up, the gathers hide behind the layers before them and the step is shorter than stage 1\'s; across nodes they do not. ' +
        'Small gradient buckets start all-reducing early but pay every all-reduce\'s latency (more busy time); large ones pay it once but start late and overlap less, up to one bucket of all the gradients, which cannot overlap at all. ' +
        'Within a node the all-reduce time depends on how many links a GPU can drive: on a fully connected node (MI300X: 7 xGMI links per GPU, one per peer) a 2-GPU ring uses one link, 8 GPUs use all seven, so the per-GPU all-reduce gets faster from 2 to 8 GPUs even as the ring lengthens. ' +
        'Beyond one node every byte also crosses the NICs, several times slower than the in-node links, and the exposed share jumps and keeps growing with the number of nodes.',
      '',
    );
  }

  const tpGroups = groupsVarying(studyOf('tp'), 'tp');
  if (tpGroups.length) {
    out.push('## 5b. Tensor parallelism puts all-reduces on the critical path', '');
    for (const g of tpGroups) {
      const sorted = [...g].sort((x, y) => x.point.tp - y.point.tp);
      const perGpu = (r: IterationResult) => r.samplesPerSecond / pointGpus(r.point);
      out.push(
        `- ${label(sorted[0]!.point, ['tp'])}, TP ${sorted.map((r) => r.point.tp).join(' → ')}: iteration ${sorted.map((r) => ms(r.iterationNs)).join(' → ')}; ` +
          `samples/s per GPU ${sorted.map((r) => num(perGpu(r), 0)).join(' → ')}; communication ${sorted.map((r) => pct(categoryShare(r, 'communication'))).join(' → ')}; ` +
          `memory per GPU ${sorted.map((r) => formatBytes(pointMemory(r.point).totalBytes)).join(' → ')}.`,
      );
    }
    for (const g of groupsVarying(studyOf('sequence_parallel'), 'sequence_parallel')) {
      const [off, on] = [g.find((r) => !r.point.sequence_parallel), g.find((r) => r.point.sequence_parallel)];
      if (!off || !on) continue;
      out.push(
        `- ${label(off.point)}, with sequence parallelism: iteration ${ms(off.iterationNs)} → ${ms(on.iterationNs)}; layer norm and element-wise time ${ms(categoryTimeNs(off, ['layernorm', 'elementwise']))} → ${ms(categoryTimeNs(on, ['layernorm', 'elementwise']))}, communication ${ms(categoryTimeNs(off, ['communication']))} → ${ms(categoryTimeNs(on, ['communication']))}; ` +
          `activations per GPU ${formatBytes(pointMemory(off.point).activationBytes)} → ${formatBytes(pointMemory(on.point).activationBytes)}.`,
      );
    }
    out.push(
      '',
      "Megatron's tensor parallelism splits every layer's heads and FFN columns over the TP group: each GPU's GEMM FLOPs, weights and most activations fall with the group's size, but each layer all-reduces its activations twice in forward and twice in backward, on the critical path, and those bytes do not shrink with the group. " +
        'How fast they go depends on the links the group can drive (on a fully connected MI300X node a 2-GPU group has one xGMI link, an 8-GPU group seven), so the split pays where the GEMMs it divides are long against the all-reduces: wide layers (a layer\'s GEMM FLOPs grow with the hidden size squared, the activations it all-reduces with the hidden size once; batch and sequence scale both alike) and parts whose links are fast for their compute. What it buys is memory: the weights, optimizer states and activations of a model too large for one GPU. ' +
        'Sequence parallelism (Korthikanti et al.) splits what tensor parallelism leaves whole, the layer norms, dropouts and residual adds between the regions, over the tokens: each all-reduce becomes a reduce-scatter and an all-gather of the same bytes, and those kernels and their activations shrink by the group\'s size.',
      '',
    );
  }

  const seqGroups = groupsVarying(studyOf('seq'), 'seq');
  if (seqGroups.length) {
    out.push('## 6. Longer sequences shift time to attention', '');
    for (const g of seqGroups) {
      const sorted = [...g].sort((x, y) => x.point.seq - y.point.seq);
      out.push(`- ${label(sorted[0]!.point, ['seq'])}: attention GEMMs ${sorted.map((r) => `${pct(categoryShare(r, 'attention'))} (seq ${r.point.seq})`).join(' → ')}, softmax ${sorted.map((r) => pct(categoryShare(r, 'softmax'))).join(' → ')}.`);
    }
    out.push('');
  }

  const rcGroups = groupsVarying(studyOf('recompute'), 'recompute');
  if (rcGroups.length) {
    out.push('## 7. Activation recomputation', '');
    for (const g of rcGroups) {
      const off = g.find((r) => !r.point.recompute);
      if (!off) continue;
      const activations = (r: IterationResult) => formatBytes(pointMemory(r.point).activationBytes);
      const ways = g.filter((r) => r.point.recompute).sort((x, y) => Number(x.point.recompute === true) - Number(y.point.recompute === true));
      const what = ways.map((on) => `${on.point.recompute === 'selective' ? 'selective (core attention)' : 'full'} ${ms(on.iterationNs)} (+${pct(on.iterationNs / off.iterationNs - 1)}, matmul FLOPs +${pct(on.matmulFlops / off.matmulFlops - 1)}, activations ${activations(on)})`);
      out.push(`- ${label(off.point, ['recompute'])}: ${ms(off.iterationNs)} and ${activations(off)} of activations without recomputation; ${what.join('; ')}.`);
    }
    out.push('');
  }

  const fusions = [
    { field: 'fuse_bias_act', what: 'bias + activation', fused: (p: BertPoint) => p.fuse_bias_act },
    { field: 'flash_attention', what: 'attention', fused: (p: BertPoint) => p.flash_attention },
    { field: 'optimizer_impl', what: 'optimizer (multi-tensor)', fused: (p: BertPoint) => p.optimizer_impl === 'fused' },
  ] as const;
  const fusionRows = fusions.flatMap((f) => groupsVarying(studyOf(f.field), f.field).map((g) => fusionRow(g, f.fused, f.field, f.what)));
  if (fusionRows.length) {
    out.push('## 8. Kernel fusion', '');
    out.push('| configuration | fused | iteration unfused → fused | speed-up | DRAM bytes | kernels | memory-bound share |', '|---|---|---:|---:|---:|---:|---:|', ...fusionRows);
    out.push(
      '',
      'Fusion moves bytes, not FLOPs: a fused kernel keeps its intermediates on chip, so the element-wise chain after a GEMM (bias, GeLU, dropout, residual) reads and writes its tensor once, and fused attention never writes the scores and probabilities (it recomputes them in backward, a few more matrix FLOPs). ' +
        'Its gain is largest where those bytes are the time: in mixed precision and, for attention, at long sequences. ' +
        "The unfused optimizer is PyTorch's for-loop AdamW: eight kernels per parameter tensor, each reading and writing its operands, where the fused one reads the weights, gradients and moments once per layer.",
      '',
    );
  }

  const hwGroups = groupsVarying(studyOf('hw'), 'hw');
  if (hwGroups.length) {
    out.push('## 9. Hardware', '');
    out.push('| configuration | ' + [...new Set(hwGroups.flatMap((g) => g.map((r) => r.point.hw)))].join(' | ') + ' |');
    const hws = [...new Set(hwGroups.flatMap((g) => g.map((r) => r.point.hw)))];
    out.push('|---|' + hws.map(() => '---:').join('|') + '|');
    for (const g of hwGroups) out.push(`| ${label(g[0]!.point, ['hw'])} | ${hws.map((h) => { const r = g.find((x) => x.point.hw === h); return r ? `${num(r.samplesPerSecond, 0)} samples/s` : ''; }).join(' | ')} |`);
    out.push('');
  }

  if (hbmBytesOf) out.push(...memorySection(results, hbmBytesOf));

  out.push('## Method and caveats', '');
  out.push(
    '- FLOPs per iteration equal the analytic count (6 x matmul parameters x tokens plus the attention products; test/sw/flops.test.ts and test/bert).',
    '- Kernels are costed in isolation and back to back on one stream (launch overhead included); an overlapped all-reduce does not slow the kernels it overlaps with here, so overlapped communication is a lower bound.',
    '- Unfused attention (batched GEMMs, softmax, dropout on the probabilities) as the BERT implementations of the period ran it; bias+GeLU and bias+dropout+residual fused as in NVIDIA\'s and Megatron\'s BERT.',
    '- The MLM head runs on the 15% masked positions; the pooler and next-sentence head (<0.1% of FLOPs) are left out.',
    "- The runtime's options (`fuse_bias_act`, `flash_attention`, `optimizer_impl`, `bucket_mb`, `zero_stage`) change which kernels and collectives run, from their published algorithms (PyTorch's for-loop AdamW, DDP's buckets, ZeRO stages 1 to 3); no measurement was fitted to them. Exposed communication that runs past the last compute kernel (ZeRO-1/2's weight all-gather) counts in the optimizer pass, waits for ZeRO-3's forward gathers in the forward pass.",
    `- Categories: ${OP_CATEGORIES.join(', ')}. "attention" holds the attention GEMMs (or fused attention); "gemm" the projection, FFN and output-layer GEMMs.`,
    '',
  );
  return out.join('\n');
}

/** One row of the fusion table: the same configuration unfused and fused (`field` the axis that differs). */
function fusionRow(g: readonly IterationResult[], fused: (p: BertPoint) => boolean, field: keyof BertPoint, what: string): string {
  const off = g.find((r) => !fused(r.point))!;
  const on = g.find((r) => fused(r.point))!;
  const kernels = (r: IterationResult) => r.cells.reduce((s, c) => s + c.kernels, 0);
  return `| ${label(on.point, [field])} | ${what} | ${ms(off.iterationNs)} → ${ms(on.iterationNs)} | ${(off.iterationNs / on.iterationNs).toFixed(2)}x | ${num(off.bytes / 1e9, 1)} → ${num(on.bytes / 1e9, 1)} GB | ${kernels(off)} → ${kernels(on)} | ${pct(memoryBoundShare(off))} → ${pct(memoryBoundShare(on))} |`;
}

/** Which configurations would not fit in their GPU's HBM; their times are timed all the same. */
function memorySection(results: readonly IterationResult[], hbmBytesOf: (hw: string) => number): string[] {
  const needs = results.map((r) => ({ r, bytes: pointMemory(r.point).totalBytes, hbm: hbmBytesOf(r.point.hw) }));
  const over = needs.filter((n) => n.bytes > n.hbm);
  const out = ['## Memory per GPU', ''];
  if (over.length === 0) {
    const most = needs.reduce((a, b) => (b.bytes / b.hbm > a.bytes / a.hbm ? b : a));
    out.push(`Every configuration fits in its GPU's HBM (model states and one micro-batch's activations; the fullest: ${label(most.r.point)}, ${formatBytes(most.bytes)} of ${formatBytes(most.hbm)}).`, '');
    return out;
  }
  out.push(
    `${countOf(over.length, 'configuration')} of ${results.length} would need more HBM per GPU than the part has (model states and one micro-batch's activations, src/sw/train/memory.ts). ` +
      'Their times are what the part would take if the step fit; a real run would take fewer sequences per micro-batch with more micro-batches, recomputation or fused attention.',
    '',
  );
  for (const n of over.slice(0, MEMORY_LISTED)) out.push(`- ${label(n.r.point)}: ${formatBytes(n.bytes)}, against ${formatBytes(n.hbm)}.`);
  if (over.length > MEMORY_LISTED) out.push(`- and ${over.length - MEMORY_LISTED} more (results.csv: fits_hbm).`);
  out.push('');
  return out;
}

const MEMORY_LISTED = 8;
