import { describe, expect, it } from 'vitest';
import { attendedPairs } from '../../src/kernels/attention.js';
import { buildTrainingTrace, getModel, layerMatmulParams, mlmPredictionsPerSeq, parameterCount } from '../../src/sw/index.js';
import { programOf } from '../../src/trace/types.js';
import { HardwareCoster } from '../../src/study/bert/coster.js';
import { categoryShare, gemmIntensity, largestCategory, memoryBoundShare } from '../../src/study/bert/findings.js';
import { replayIteration, simulateIteration, type IterationResult } from '../../src/study/bert/iteration.js';
import type { TraceNode } from '../../src/trace/types.js';
import { bertPointSchema, pointMemory, precisionLabel, type BertPoint } from '../../src/study/bert/point.js';
import { resolvePoint } from '../../src/study/bert/study.js';
import { bertReport } from '../../src/study/bert/report.js';

/**
 * The characterisation's qualitative findings, asserted on what the model computes (no expected
 * numbers): each test simulates the configurations it compares.
 */
const costers = new Map<string, HardwareCoster>();
const results = new Map<string, IterationResult>();
function run(over: Partial<BertPoint>): IterationResult {
  const p = bertPointSchema.parse({ model: 'bert-large', seq: 128, batch: 32, precision: 'mixed-fp16', optimizer: 'lamb', hw: 'mi300x', ...over });
  const key = JSON.stringify(p);
  let r = results.get(key);
  if (r) return r;
  let c = costers.get(p.hw);
  if (!c) costers.set(p.hw, (c = new HardwareCoster(p.hw)));
  results.set(key, (r = simulateIteration(p, c)));
  return r;
}

const HW = ['mi100', 'mi300x', 'a100-sxm', 'h100-sxm'];

describe('BERT characterisation findings', () => {
  it('GEMMs are the largest category in fp32', () => {
    for (const hw of HW) {
      for (const model of ['bert-base', 'bert-large']) {
        for (const seq of [128, 512]) {
          expect(largestCategory(run({ hw, model, seq, precision: 'fp32' })).category, `${hw} ${model} ${seq}`).toBe('gemm');
        }
      }
    }
  });

  it('the memory-bound share rises in mixed precision', () => {
    for (const hw of HW) {
      for (const seq of [128, 512]) {
        const fp32 = run({ hw, seq, precision: 'fp32' });
        for (const precision of ['mixed-fp16', 'mixed-bf16'] as const) {
          const mixed = run({ hw, seq, precision });
          expect(memoryBoundShare(mixed), `${hw} ${seq} ${precision}`).toBeGreaterThan(memoryBoundShare(fp32));
          expect(mixed.iterationNs).toBeLessThan(fp32.iterationNs);
        }
      }
    }
  });

  it("attention's batched GEMMs have lower arithmetic intensity than the projection and FFN GEMMs", () => {
    for (const seq of [128, 512]) {
      for (const precision of ['fp32', 'mixed-fp16'] as const) {
        const ai = gemmIntensity(run({ seq, precision }));
        expect(ai.attention[1]).toBeLessThan(ai.projection[0]);
      }
    }
  });

  it("the optimizer's share falls as micro-batches per step rise", () => {
    for (const optimizer of ['adam', 'lamb'] as const) {
      const shares = [1, 2, 4, 8, 16].map((micro_batches) => categoryShare(run({ batch: 8, optimizer, micro_batches }), 'optimizer'));
      for (let i = 1; i < shares.length; i++) expect(shares[i]).toBeLessThan(shares[i - 1]!);
    }
    // LAMB's extra norm passes cost more than Adam's single fused update.
    expect(categoryShare(run({ optimizer: 'lamb' }), 'optimizer')).toBeGreaterThan(categoryShare(run({ optimizer: 'adam' }), 'optimizer'));
  });

  it('the communication share rises with data-parallel degree at fixed per-GPU batch', () => {
    // Multi-node points are the expensive ones (the collectives engine simulates every GPU): 16 and 32.
    const share = (hw: string, dp: number, overlap = true) => categoryShare(run({ hw, dp, overlap }), 'communication');
    expect(share('mi300x', 1)).toBe(0);
    const inNode = [2, 8].map((dp) => share('mi300x', dp));
    const multiNode = [16, 32].map((dp) => share('mi300x', dp));
    for (const s of inNode) expect(s).toBeGreaterThan(0);
    // Beyond the node the rings add NIC hops (rail rings: the node's NICs together, 7 x 50 GB/s on
    // MI300X, about its 7 xGMI rings' 7 x 48) and a step per rank; a 2-GPU group drives one xGMI link.
    for (const s of multiNode) expect(s).toBeGreaterThan(inNode[1]!);
    expect(multiNode[1]).toBeGreaterThanOrEqual(multiNode[0]!);
    expect(share('h100-sxm', 16)).toBeGreaterThan(share('h100-sxm', 8));
    // Overlapping with backward hides part of it.
    expect(share('mi300x', 16, true)).toBeLessThan(share('mi300x', 16, false));
  });

  it('sequence 512 raises the attention share over 128', () => {
    // The points of the precision test above (cached), seen from the sequence axis.
    for (const hw of HW) {
      for (const precision of ['fp32', 'mixed-fp16'] as const) {
        const at = (seq: number) => categoryShare(run({ hw, precision, seq }), 'attention');
        expect(at(512), `${hw} ${precision}`).toBeGreaterThan(at(128));
      }
    }
    expect(categoryShare(run({ model: 'bert-base', seq: 512 }), 'attention')).toBeGreaterThan(categoryShare(run({ model: 'bert-base', seq: 128 }), 'attention'));
  });

  it('fusing bias and activation moves fewer bytes in fewer kernels, the same matrix FLOPs, and is never slower', () => {
    const kernels = (r: IterationResult) => r.cells.reduce((s, c) => s + c.kernels, 0);
    const elementwiseBytes = (r: IterationResult) => r.cells.filter((c) => c.category === 'elementwise').reduce((s, c) => s + c.bytes, 0);
    for (const hw of ['mi300x', 'h100-sxm']) {
      for (const precision of ['fp32', 'mixed-fp16'] as const) {
        for (const seq of [128, 512]) {
          const fused = run({ hw, precision, seq });
          const unfused = run({ hw, precision, seq, fuse_bias_act: false });
          const at = `${hw} ${precision} ${seq}`;
          expect(unfused.matmulFlops, at).toBe(fused.matmulFlops);
          // A bias folded into its GEMM's epilogue is not counted as FLOPs: the totals differ by
          // the bias adds alone (rows x cols per biased linear, forward and backward), well under 0.1%.
          expect(Math.abs(unfused.flops / fused.flops - 1), at).toBeLessThan(1e-3);
          expect(elementwiseBytes(fused), at).toBeLessThan(elementwiseBytes(unfused));
          expect(fused.bytes, at).toBeLessThan(unfused.bytes);
          expect(kernels(fused), at).toBeLessThan(kernels(unfused));
          expect(fused.iterationNs, at).toBeLessThanOrEqual(unfused.iterationNs);
        }
      }
    }
  });

  it("PyTorch's for-loop AdamW does the fused optimizer's FLOPs in more kernels and bytes, never faster", () => {
    const optimizer = (r: IterationResult) => r.cells.filter((c) => c.category === 'optimizer');
    for (const hw of ['mi300x', 'h100-sxm']) {
      for (const precision of ['fp32', 'mixed-fp16'] as const) {
        const fused = run({ hw, precision, optimizer: 'adam' });
        const loop = run({ hw, precision, optimizer: 'adam', optimizer_impl: 'per-tensor' });
        const at = `${hw} ${precision}`;
        const sum = (r: IterationResult, f: (c: IterationResult['cells'][number]) => number) => optimizer(r).reduce((s, c) => s + f(c), 0);
        // 14 FLOPs per element either way (the loop's eight ops sum to the fused kernel's count).
        expect(sum(loop, (c) => c.flops), at).toBeCloseTo(sum(fused, (c) => c.flops), 0);
        expect(loop.flops, at).toBeCloseTo(fused.flops, 0);
        expect(sum(loop, (c) => c.bytes), at).toBeGreaterThan(sum(fused, (c) => c.bytes));
        expect(sum(loop, (c) => c.kernels), at).toBeGreaterThan(sum(fused, (c) => c.kernels));
        expect(loop.iterationNs, at).toBeGreaterThan(fused.iterationNs);
        // Only the optimizer changes: forward and backward take the same time.
        const passes = (r: IterationResult) => r.cells.filter((c) => c.pass !== 'opt').reduce((s, c) => s + c.timeNs, 0);
        expect(passes(loop), at).toBe(passes(fused));
      }
    }
    expect(() => resolvePoint(bertPointSchema.parse({}), { optimizer_impl: 'per-tensor' }, 'studies.0.vary')).toThrow(/^studies\.0\.vary\.optimizer_impl: per-tensor is PyTorch's for-loop AdamW: expected the adam optimizer, got lamb/);
  });

  it('gradient buckets: the same bytes all-reduced whatever their size; small ones pay more latency, one bucket of everything cannot overlap', () => {
    const allReduced = (bucketBytes: number) => {
      const t = buildTrainingTrace(getModel('bert-large'), { batch: 32, seq: 128, precision: 'mixed', dp: 16, bucketBytes });
      const coll = programOf(t, 0).filter((n) => n.kind === 'collective');
      return { count: coll.length, bytes: coll.reduce((s, n) => s + n.collective!.bytes, 0) };
    };
    const small = allReduced(2 ** 20);
    const large = allReduced(2000 * 2 ** 20);
    expect(small.bytes).toBe(large.bytes);
    expect(large.count).toBe(1);
    expect(small.count).toBeGreaterThan(50);
    const sizes = [1, 5, 25, 100, 400, 2000];
    // Across 8 nodes, where small all-reduces' latency shows (on 2, NCCL's tree makes 1 MiB buckets
    // cost about what 25 MiB ones do: 2.2% of the step exposed either way since session 40).
    const runs = sizes.map((bucket_mb) => run({ dp: 64, bucket_mb }));
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.commBusyNs, `${sizes[i]} MiB`).toBeLessThanOrEqual(runs[i - 1]!.commBusyNs);
    const one = runs[runs.length - 1]!;
    expect(one.commExposedNs).toBeCloseTo(one.commBusyNs, -3);
    // PyTorch DDP's default sits between the two costs: less exposed than either extreme.
    const at25 = runs[sizes.indexOf(25)]!;
    expect(at25.commExposedNs).toBeLessThan(runs[0]!.commExposedNs);
    expect(at25.commExposedNs).toBeLessThan(one.commExposedNs);
  });

  it('ZeRO: the same bytes on the wire as the all-reduce, 1/DP of the optimizer, and the model states of the ZeRO paper', () => {
    const wire = (zeroStage: 0 | 1 | 2, precision: 'mixed' | 'fp32') => {
      const t = buildTrainingTrace(getModel('bert-large'), { batch: 32, seq: 128, precision, optimizer: 'adam', dp: 8, zeroStage });
      // The gradients' and weights' traffic; the loss scaler's inf/NaN flag apart.
      const all = programOf(t, 0).filter((n) => n.kind === 'collective');
      const coll = all.filter((n) => !n.name.startsWith('grads.found_inf.'));
      const bytes = (kind: string) => coll.filter((n) => n.collective!.kind === kind).reduce((s, n) => s + n.collective!.bytes, 0);
      return { ar: bytes('all-reduce'), rs: bytes('reduce-scatter'), ag: bytes('all-gather'), flagBytes: all.length === coll.length ? 0 : all.find((n) => n.name.startsWith('grads.found_inf.'))!.collective!.bytes };
    };
    for (const precision of ['mixed', 'fp32'] as const) {
      const dp = wire(0, precision);
      const z = wire(1, precision);
      expect(dp.rs + dp.ag).toBe(0);
      expect(z.ar).toBe(0);
      // Each rank checks its shard of the gradients for inf/NaN, so fp16 loss scaling all-reduces the flag over DP (DDP needs none).
      expect([dp.flagBytes, z.flagBytes]).toEqual([0, precision === 'mixed' ? 4 : 0]);
      // A reduce-scatter and an all-gather of one buffer move what an all-reduce of it does.
      expect(z.rs).toBe(dp.ar);
      expect(z.ag).toBe(dp.ar);
    }
    const optimizerFlops = (r: IterationResult) => r.cells.filter((c) => c.category === 'optimizer').reduce((s, c) => s + c.flops, 0);
    for (const dp of [2, 8, 64]) {
      const [z0, z1, z2] = ([0, 1, 2] as const).map((zero_stage) => run({ optimizer: 'adam', dp, zero_stage }));
      expect(optimizerFlops(z1!) / optimizerFlops(z0!), `DP ${dp}`).toBeCloseTo(1 / dp, 3);
      expect(z2!.iterationNs).toBe(z1!.iterationNs);
      const params = parameterCount(getModel('bert-large'));
      // Mixed precision (ZeRO, fig. 1): 16 bytes a parameter, 4 + 12/Nd at stage 1, 2 + 14/Nd at stage 2.
      expect(pointMemory(z0!.point).modelStateBytes).toBe(params * 16);
      expect(pointMemory(z1!.point).modelStateBytes).toBeCloseTo(params * (4 + 12 / dp), 0);
      expect(pointMemory(z2!.point).modelStateBytes).toBeCloseTo(params * (2 + 14 / dp), 0);
    }
    // Nothing to shard on one GPU: the same step.
    expect(run({ optimizer: 'adam', zero_stage: 2 }).iterationNs).toBe(run({ optimizer: 'adam' }).iterationNs);
    expect(() => resolvePoint(bertPointSchema.parse({}), { zero_stage: 1 }, 'studies.0.vary')).toThrow(/^studies\.0\.vary\.zero_stage: ZeRO shards each tensor across ranks: expected the adam optimizer, got lamb/);
    expect(() => resolvePoint(bertPointSchema.parse({ optimizer: 'adam' }), { zero_stage: 4 }, 'studies.0.vary')).toThrow(/^studies\.0\.vary\.zero_stage: expected one of 0, 1, 2, 3$/);
  });

  it("LAMB's norm all-reduces under TP add their latency to the step and take nothing away", () => {
    const coster = costers.get('mi300x') ?? new HardwareCoster('mi300x');
    for (const tp of [2, 4, 8]) {
      for (const sequence_parallel of [false, true]) {
        const r = run({ seq: 512, batch: 8, tp, sequence_parallel });
        const program = r.trace.programs[0]!;
        const optComm = program.filter((n) => n.pass === 'opt' && n.kind === 'collective');
        const norms = optComm.filter((n) => n.name.startsWith('lamb.'));
        expect(norms.length, `TP ${tp}`).toBe(2);
        const normsNs = norms.reduce((s, n) => s + coster.collectiveNs('all-reduce', n.collective!.bytes, tp), 0);
        // The step as it was without them (what silica modelled until session 39).
        const before = replayIteration(r.point, { ...r.trace, programs: [withoutNodes(program, (n) => norms.includes(n))] }, coster);
        expect(r.iterationNs).toBeGreaterThan(before.iterationNs);
        // On the compute stream, nothing to hide behind: the step grows by exactly their time, shown as the optimizer pass's communication.
        expect(r.iterationNs - before.iterationNs).toBeCloseTo(normsNs, 3);
        // The optimizer pass's communication: the norms and fp16 loss scaling's inf/NaN flag (4 bytes, also over TP).
        expect(optComm.map((n) => n.name)).toEqual(['grads.found_inf.tp_all_reduce', 'lamb.grad_norm.tp_all_reduce', 'lamb.norms.tp_all_reduce']);
        const flagNs = coster.collectiveNs('all-reduce', 4, tp);
        const cell = r.cells.find((c) => c.category === 'communication' && c.pass === 'opt')!;
        expect(cell.kernels).toBe(3);
        expect(cell.timeNs).toBeCloseTo(normsNs + flagNs, 3);
        // Latency-bound: the vector of per-tensor norms (under 1 KiB) costs what the scalar does, within 10%.
        const [scalar, vector] = norms.map((n) => coster.collectiveNs('all-reduce', n.collective!.bytes, tp));
        expect(vector!).toBeLessThan(1.1 * scalar!);
      }
    }
    expect(run({ seq: 512, batch: 8 }).cells.some((c) => c.category === 'communication')).toBe(false);
  });

  it("tensor parallelism divides each GPU's matrix work and memory and adds all-reduces on the critical path", () => {
    const one = run({ seq: 512, batch: 8 });
    expect(one.cells.some((c) => c.category === 'communication')).toBe(false);
    let memory = pointMemory(one.point).totalBytes;
    for (const tp of [2, 4, 8]) {
      const r = run({ seq: 512, batch: 8, tp });
      // Every layer's GEMMs split t ways; the MLM head's transform and the embeddings' gather stay whole.
      expect(r.matmulFlops * tp, `TP ${tp}`).toBeGreaterThanOrEqual(one.matmulFlops);
      expect(r.matmulFlops * tp).toBeLessThan(1.05 * one.matmulFlops);
      // The all-reduces run on the compute stream: in forward and in backward, none hidden.
      const comm = (pass: string) => r.cells.find((c) => c.category === 'communication' && c.pass === pass)?.timeNs ?? 0;
      expect(comm('fwd')).toBeGreaterThan(0);
      expect(comm('bwd')).toBeGreaterThan(0);
      expect(r.iterationNs).toBeCloseTo(r.computeNs, 0);
      expect(r.samplesPerIteration).toBe(one.samplesPerIteration);
      const m = pointMemory(r.point).totalBytes;
      expect(m).toBeLessThan(memory);
      memory = m;
    }
    // Sequence parallelism: the same matrix work, fewer bytes in the norms and dropouts, less memory.
    const tp8 = run({ seq: 512, batch: 8, tp: 8 });
    const sp8 = run({ seq: 512, batch: 8, tp: 8, sequence_parallel: true });
    expect(sp8.matmulFlops).toBe(tp8.matmulFlops);
    expect(sp8.bytes).toBeLessThan(tp8.bytes);
    // The norms' and biases' gradients, from 1/t of the tokens each, summed over the group once after
    // backward: the step grows by that all-reduce's time (until session 39 it was left out).
    const spGrads = sp8.trace.programs[0]!.filter((n) => n.name === 'grads.sequence_parallel.tp_all_reduce');
    expect(spGrads.length).toBe(1);
    const coster = costers.get('mi300x')!;
    const without = replayIteration(sp8.point, { ...sp8.trace, programs: [withoutNodes(sp8.trace.programs[0]!, (n) => spGrads.includes(n))] }, coster);
    expect(sp8.iterationNs - without.iterationNs).toBeCloseTo(coster.collectiveNs('all-reduce', spGrads[0]!.collective!.bytes, 8), 3);
    expect(tp8.trace.programs[0]!.some((n) => n.name.startsWith('grads.sequence_parallel'))).toBe(false);
    expect(pointMemory(sp8.point).activationBytes).toBeLessThan(pointMemory(tp8.point).activationBytes);
    expect(() => resolvePoint(bertPointSchema.parse({}), { sequence_parallel: true }, 'studies.0.vary')).toThrow(/^studies\.0\.vary\.sequence_parallel: splits the tokens of a tensor-parallel group: expected tp > 1, got tp 1$/);
    expect(() => resolvePoint(bertPointSchema.parse({}), { tp: 3 }, 'studies.0.vary')).toThrow(/^studies\.0\.vary\.tp: bert-large's attention width 1024 does not split evenly over 3 ranks$/);
    expect(() => resolvePoint(bertPointSchema.parse({}), { tp: 8, dp: 64 }, 'studies.0.vary')).toThrow(/^studies\.0\.vary\.tp: expected at most 256 GPUs in all \(every rank of a collective is simulated\), got tp 8 x dp 64 = 512$/);
  });

  it("ZeRO-3 gathers every layer's weights before it runs, in forward and in backward: 1.5x the all-reduce's bytes, 16/Nd bytes a parameter", () => {
    const dp = 8;
    const nodesOf = (zeroStage: 0 | 3, microBatches = 1) => programOf(buildTrainingTrace(getModel('bert-large'), { batch: 8, seq: 128, precision: 'mixed', optimizer: 'adam', dp, zeroStage, microBatches }), 0);
    const z0 = nodesOf(0);
    const z3 = nodesOf(3);
    const coll = (nodes: typeof z0, kind: string, pass?: string) => nodes.filter((n) => n.kind === 'collective' && n.collective!.kind === kind && (!pass || n.pass === pass));
    const bytes = (nodes: typeof z0, kind: string, pass?: string) => coll(nodes, kind, pass).reduce((s, n) => s + n.collective!.bytes, 0);
    const model = getModel('bert-large');
    const weightBytes = parameterCount(model) * 2;
    // Each pass gathers the whole model once, in the half dtype its kernels read; nothing after the optimizer.
    expect(bytes(z3, 'all-gather', 'fwd')).toBe(weightBytes);
    expect(bytes(z3, 'all-gather', 'bwd')).toBe(weightBytes);
    expect(coll(z3, 'all-gather', 'opt')).toHaveLength(0);
    expect(bytes(z3, 'reduce-scatter')).toBe(bytes(z0, 'all-reduce'));
    // On the wire: a reduce-scatter and two all-gathers each move (n-1)/n of their buffer, an all-reduce 2(n-1)/n.
    expect((bytes(z3, 'reduce-scatter') + bytes(z3, 'all-gather')) / (2 * bytes(z0, 'all-reduce'))).toBeCloseTo(1.5, 10);
    // Every layer's first kernel of a pass waits for that layer's gather.
    for (const pass of ['fwd', 'bwd'] as const) {
      const gathers = coll(z3, 'all-gather', pass);
      expect(gathers).toHaveLength(model.layers + 2);
      for (const g of gathers) {
        const first = z3.find((n) => n.stream === 'compute' && n.pass === pass && n.deps.includes(g.id));
        expect(first, g.name).toBeDefined();
        expect(first!.layer).toBe(g.layer);
      }
    }
    // With gradient accumulation every micro-batch gathers again and reduce-scatters its gradients.
    expect(bytes(nodesOf(3, 4), 'all-gather')).toBe(4 * 2 * weightBytes);
    const [r1, r3] = ([1, 3] as const).map((zero_stage) => run({ optimizer: 'adam', dp, zero_stage }));
    expect(pointMemory(r3!.point).modelStateBytes).toBeCloseTo(parameterCount(model) * (16 / dp), 0);
    expect(r3!.matmulFlops).toBe(r1!.matmulFlops);
    // Exposed communication is split by pass and sums, with the compute, to the iteration.
    const total = r3!.cells.reduce((s, c) => s + c.timeNs, 0);
    expect(total / r3!.iterationNs).toBeCloseTo(1, 12);
    expect(r3!.cells.find((c) => c.category === 'communication' && c.pass === 'fwd')!.timeNs).toBeGreaterThan(0);
    // The wire is shared, not doubled: the communication stream is never busier than the iteration.
    const across = run({ optimizer: 'adam', dp: 64, zero_stage: 3 });
    expect(across.commBusyNs).toBeLessThanOrEqual(across.iterationNs);
  });

  it('ZeRO-2 with gradient accumulation reduce-scatters every micro-batch and accumulates only its shard', () => {
    const dp = 8;
    const mbs = 4;
    const trace = (zeroStage: 1 | 2, microBatches: number) => programOf(buildTrainingTrace(getModel('bert-large'), { batch: 8, seq: 128, precision: 'mixed', optimizer: 'adam', dp, zeroStage, microBatches }), 0);
    // The gradients' and weights' traffic (not the loss scaler's 4-byte inf/NaN flag).
    const wire = (nodes: ReturnType<typeof trace>, kind: string) => nodes.filter((n) => n.kind === 'collective' && n.collective!.kind === kind && !n.name.startsWith('grads.found_inf.')).reduce((s, n) => s + n.collective!.bytes, 0);
    const accumulated = (nodes: ReturnType<typeof trace>) => nodes.filter((n) => n.name.includes('grad_accumulate')).reduce((s, n) => s + (n.kernel as { elements: number }).elements, 0);
    const [z1, z2, z2one] = [trace(1, mbs), trace(2, mbs), trace(2, 1)];
    // Stage 1 reduces the accumulated gradients once; stage 2 every micro-batch's, and gathers the weights once either way.
    expect(wire(z2, 'reduce-scatter')).toBe(mbs * wire(z1, 'reduce-scatter'));
    expect(wire(z2, 'all-gather')).toBe(wire(z1, 'all-gather'));
    expect(wire(z2, 'reduce-scatter')).toBe(mbs * wire(z2one, 'reduce-scatter'));
    expect(wire(z2, 'all-reduce')).toBe(0);
    // Stage 1 adds every parameter's gradient after every micro-batch but the first (the word
    // embedding twice: the MLM head shares it, and each use contributes a gradient), and sums the
    // word embedding's two gradients in the first; stage 2 only its 1/DP of each bucket, plus that
    // sum in every micro-batch (each starts from no stored gradient).
    const model = getModel('bert-large');
    const params = parameterCount(model);
    const table = model.vocab * model.hidden;
    expect(accumulated(z1)).toBe((mbs - 1) * (params + table) + table);
    const buckets = z2one.filter((n) => n.kind === 'collective' && n.collective!.kind === 'reduce-scatter').length;
    expect(accumulated(z2) - mbs * table).toBeGreaterThanOrEqual(((mbs - 1) * params) / dp);
    expect(accumulated(z2) - mbs * table).toBeLessThan((mbs - 1) * (params / dp + buckets));
    const [r1, r2] = ([1, 2] as const).map((zero_stage) => run({ optimizer: 'adam', dp, batch: 8, micro_batches: mbs, zero_stage }));
    expect(r2!.matmulFlops).toBe(r1!.matmulFlops);
    expect(r2!.commBusyNs).toBeGreaterThan(r1!.commBusyNs);
    expect(r2!.iterationNs).toBeGreaterThanOrEqual(r2!.computeNs);
    // The memory accounting does not depend on the micro-batch count: one micro-batch's activations, sharded states.
    expect(pointMemory(r2!.point)).toEqual(pointMemory(run({ optimizer: 'adam', dp, batch: 8, zero_stage: 2 }).point));
  });

  it('selective recomputation keeps no s x s activations for a few attention FLOPs: between none and full', () => {
    for (const seq of [128, 512]) {
      const [none, selective, full] = ([false, 'selective', true] as const).map((recompute) => run({ seq, recompute }));
      const activations = (r: IterationResult) => pointMemory(r.point).activationBytes;
      expect(activations(selective!)).toBe(activations(run({ seq, flash_attention: true })));
      expect(activations(full!)).toBeLessThan(activations(selective!));
      expect(activations(selective!)).toBeLessThan(activations(none!));
      // Only the forward attention products run again: 4 b s^2 heads headDim per layer.
      const m = getModel('bert-large');
      expect(selective!.matmulFlops - none!.matmulFlops).toBe(m.layers * 4 * 32 * seq * seq * m.heads * m.headDim);
      expect(none!.iterationNs).toBeLessThan(selective!.iterationNs);
      expect(selective!.iterationNs).toBeLessThan(full!.iterationNs);
    }
    // Fused attention recomputes inside its own backward: nothing left to recompute.
    expect(run({ flash_attention: true, recompute: 'selective' }).iterationNs).toBe(run({ flash_attention: true }).iterationNs);
  });

  it('fused attention never writes the scores: fewer bytes, and the gain grows with the sequence', () => {
    for (const hw of ['mi300x', 'h100-sxm']) {
      const gain = (seq: number) => {
        const plain = run({ hw, seq });
        const flash = run({ hw, seq, flash_attention: true });
        expect(flash.bytes, `${hw} ${seq}`).toBeLessThan(plain.bytes);
        return plain.iterationNs / flash.iterationNs;
      };
      expect(gain(512), hw).toBeGreaterThan(gain(128));
    }
  });
});

describe('BERT iteration accounting', () => {
  it('rejects bad configurations with one-line errors', () => {
    expect(() => precisionLabel('fp8')).toThrow(/^--precision: expected fp32, mixed, mixed-fp16, mixed-bf16, fp16 or bf16 \(mixed's half dtype is --mixed-dtype, fp16 by default\), got "fp8"$/);
    expect(() => precisionLabel('mixed', 'fp8')).toThrow(/^--mixed-dtype: expected fp16 or bf16, got "fp8"$/);
    expect(bertPointSchema.safeParse({ optimizer: 'sgd' }).success).toBe(false);
    expect(() => run({ seq: 1024 })).toThrow(/at most 512/);
    expect(() => run({ model: 'bert-huge' })).toThrow(/unknown model/);
  });

  it('categories sum to the iteration time in every configuration', () => {
    const points: Array<Partial<BertPoint>> = [
      {},
      { precision: 'fp32', seq: 512 },
      { dp: 16 },
      { dp: 8, overlap: false },
      { micro_batches: 4, recompute: true, optimizer: 'adam' },
      { hw: 'mi100', precision: 'mixed-bf16', batch: 1 },
    ];
    for (const p of points) {
      const r = run(p);
      const sum = r.cells.reduce((s, c) => s + c.timeNs, 0);
      expect(Math.abs(sum / r.iterationNs - 1), JSON.stringify(p)).toBeLessThan(1e-9);
      expect(r.cells.reduce((s, c) => s + c.timeNs / r.iterationNs, 0)).toBeCloseTo(1, 9);
    }
  });

  it('FLOPs per iteration equal the analytic count', () => {
    // Per micro-batch: 6 T L (P_attn + P_ffn) + 12 L b s^2 (heads x headDim) (unfused attention: full s x s)
    // + 6 (P h^2 + P h V) for the MLM head over P = b ceil(0.15 s) masked positions; recompute adds
    // the layers' forward: 2 T L (P_attn + P_ffn) + 4 L b s^2 (heads x headDim).
    for (const [model, seq, batch, micro_batches, recompute] of [['bert-base', 128, 32, 1, false], ['bert-large', 512, 8, 3, true]] as const) {
      const m = getModel(model);
      const p = layerMatmulParams(m);
      const T = batch * seq;
      const P = batch * mlmPredictionsPerSeq(seq);
      const layersFwd = m.layers * (2 * T * (p.attention + p.ffnPerExpert) + 4 * batch * seq * seq * m.heads * m.headDim);
      const head = 2 * P * m.hidden * m.hidden + 2 * P * m.hidden * m.vocab;
      const expected = micro_batches * (3 * (layersFwd + head) + (recompute ? layersFwd : 0));
      const r = run({ model, seq, batch, micro_batches, recompute });
      expect(r.matmulFlops).toBe(expected);
      expect(attendedPairs(seq, seq, false)).toBe(seq * seq);
      const cellFlops = r.cells.reduce((s, c) => s + c.flops, 0);
      expect(cellFlops).toBe(r.flops);
      expect(r.flops).toBeGreaterThan(r.matmulFlops);
    }
  });
});

describe('the report on memory per GPU', () => {
  it('lists the configurations that would not fit, in the order given, and counts those past eight', () => {
    const rs = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map((batch) => run({ seq: 512, batch, precision: 'fp32', hw: 'mi100' }));
    const hbm = new HardwareCoster('mi100').hw.memory.hbm.capacity_bytes;
    const report = bertReport(rs, rs[0]!, 1000, () => rs, () => hbm);
    const over = rs.filter((r) => pointMemory(r.point).totalBytes > hbm);
    expect(over.length).toBeGreaterThan(8);
    expect(over.length).toBeLessThan(rs.length);
    expect(report).toContain(`${over.length} configurations of ${rs.length} would need more HBM per GPU than the part has`);
    expect(report).toContain(`- and ${over.length - 8} more (results.csv: fits_hbm).`);
    expect(report).not.toMatch(/batch 8, fp32, lamb, mi100: [\d.]+GiB, against/);
    expect(report).toMatch(/batch 2048, fp32, lamb, mi100: [\d.]+TiB, against 29.80GiB/);
    expect(bertReport(rs.slice(0, 1), rs[0]!, 1000, () => rs, () => hbm)).toContain("Every configuration fits in its GPU's HBM");
  });
});

/** `program` without the nodes `drop` picks; what depended on one depends on what it depended on. */
function withoutNodes(program: readonly TraceNode[], drop: (n: TraceNode) => boolean): TraceNode[] {
  const out: TraceNode[] = [];
  const renamed = new Map<number, number[]>();
  for (const n of program) {
    const deps = [...new Set(n.deps.flatMap((d) => renamed.get(d)!))].sort((a, b) => a - b);
    if (drop(n)) {
      renamed.set(n.id, deps);
      continue;
    }
    renamed.set(n.id, [out.length]);
    out.push({ ...n, id: out.length, deps });
  }
  return out;
}
