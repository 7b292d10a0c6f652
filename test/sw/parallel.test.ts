import { describe, expect, it } from 'vitest';
import { buildTrainingTrace, DEFAULT_BUCKET_BYTES, getModel, parameterCount, passMatmulFlops, summariseProgram, summariseTrace } from '../../src/sw/index.js';

describe('Megatron tensor parallelism', () => {
  // Vocabularies that split evenly: Megatron pads others to a multiple of 128 x TP, so their sharded
  // output layer is slightly larger than the unsharded one.
  for (const [name, tp] of [['llama2-70b', 8], ['mega-gpt2-8.3b', 8], ['llama3.1-405b', 8], ['llama2-7b', 4]] as const) {
    it(`${name}: FLOPs of the ${tp} ranks sum to the unsharded FLOPs`, () => {
      const m = getModel(name);
      const one = summariseTrace(buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'bf16', flashAttention: true }));
      const sharded = buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'bf16', flashAttention: true, tp });
      expect(sharded.worldSize).toBe(tp);
      expect(sharded.programs.length).toBe(1);
      const s = summariseTrace(sharded);
      expect(s.matmulFlops * tp).toBe(one.matmulFlops);
      for (const pass of ['fwd', 'bwd']) expect(passMatmulFlops(s, pass) * tp).toBe(passMatmulFlops(one, pass));
    });
  }

  it('all-reduces after each row-parallel layer in forward and their f conjugates in backward', () => {
    const m = getModel('gpt2-xl');
    const p = buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'mixed', tp: 4 }).programs[0]!;
    const layer3 = p.filter((n) => n.layer === 3 && n.kind === 'collective');
    expect(layer3.filter((n) => n.pass === 'fwd').map((n) => n.name)).toEqual(['l3.attn.tp_g', 'l3.ffn.tp_g']);
    expect(layer3.filter((n) => n.pass === 'bwd').map((n) => n.name)).toEqual(['l3.ffn.tp_f.bwd', 'l3.attn.tp_f.bwd']);
    for (const n of layer3) {
      expect(n.collective!.kind).toBe('all-reduce');
      expect(n.collective!.bytes).toBe(128 * m.hidden * 2);
      expect(n.category).toBe('communication');
    }
    // The out-projection all-reduce follows its GEMM; the next compute waits for it.
    const g = p.find((n) => n.name === 'l3.attn.tp_g')!;
    expect(p[g.deps[0]!]!.name).toBe('l3.attn.out');
    expect(p[g.id + 1]!.deps).toContain(g.id);
    // Column-parallel QKV: N is a quarter of 3h; row-parallel FC2: K is a quarter of 4h.
    expect(p.find((n) => n.name === 'l3.attn.qkv')!.kernel).toMatchObject({ m: 128, n: (3 * m.hidden) / 4, k: m.hidden });
    expect(p.find((n) => n.name === 'l3.ffn.fc2')!.kernel).toMatchObject({ m: 128, n: m.hidden, k: m.ffnHidden / 4 });
  });

  it('sequence parallelism: each activation all-reduce becomes a reduce-scatter and an all-gather of the same tensor, and the norms and dropouts between them run on 1/t of the tokens', () => {
    for (const name of ['bert-large', 'gpt2-xl']) {
      const m = getModel(name);
      const tp = 4;
      const build = (sequenceParallel: boolean) => buildTrainingTrace(m, { batch: 2, seq: 128, precision: 'mixed', tp, sequenceParallel }).programs[0]!;
      const [plain, sp] = [build(false), build(true)];
      const coll = (p: typeof plain, kind: string) => p.filter((n) => n.kind === 'collective' && n.collective!.kind === kind);
      const bytes = (p: typeof plain, kind: string) => coll(p, kind).reduce((s, n) => s + n.collective!.bytes, 0);
      // Per layer: forward reduce-scatters where TP all-reduced and all-gathers where TP did nothing,
      // backward the reverse; the wire carries what the all-reduces did, (n-1)/n + (n-1)/n = 2(n-1)/n.
      for (const l of [0, 5]) {
        const layer = (p: typeof plain) => p.filter((n) => n.layer === l && n.kind === 'collective').map((n) => `${n.pass} ${n.collective!.kind}`);
        expect(layer(plain), name).toEqual(['fwd all-reduce', 'fwd all-reduce', 'bwd all-reduce', 'bwd all-reduce']);
        expect(layer(sp)).toEqual(['fwd all-gather', 'fwd reduce-scatter', 'fwd all-gather', 'fwd reduce-scatter', 'bwd all-gather', 'bwd reduce-scatter', 'bwd all-gather', 'bwd reduce-scatter']);
      }
      // Plus one pair before the head, which needs the whole sequence (TP's last all-reduce gave it that).
      const activationBytes = (p: typeof plain, kind: string) => coll(p, kind).filter((n) => !n.name.startsWith('grads.')).reduce((s, n) => s + n.collective!.bytes, 0);
      const arActivations = activationBytes(plain, 'all-reduce') - activationBytes(sp, 'all-reduce');
      const wholeSequence = 2 * 128 * m.hidden * 2;
      expect(bytes(sp, 'reduce-scatter')).toBe(arActivations + wholeSequence);
      expect(bytes(sp, 'all-gather')).toBe(arActivations + wholeSequence);
      // The head's own conjugate and the vocabulary softmax's statistics stay all-reduces; the
      // gradients of the norms and row-parallel biases, each rank's from its 1/t of the tokens, are
      // summed over the group once after backward (Megatron's _allreduce_layernorm_grads): BERT's
      // post-norm and GPT-2's pre-norm both hold 2 layer norms (weight and bias, 2h) and 2 biases (h)
      // a layer and one more norm, in the gradient dtype (fp16).
      // (fp16 loss scaling's inf/NaN flag is all-reduced over the group either way.)
      expect(coll(sp, 'all-reduce').map((n) => n.name).sort()).toEqual(['grads.found_inf.tp_all_reduce', 'grads.sequence_parallel.tp_all_reduce', 'head.softmax_stats.tp_g', 'head.tp_f.bwd']);
      expect(coll(plain, 'all-reduce').some((n) => n.name.startsWith('grads.sequence_parallel'))).toBe(false);
      const spGrads = sp.find((n) => n.name === 'grads.sequence_parallel.tp_all_reduce')!;
      expect(spGrads.collective!.bytes).toBe((6 * m.layers + 2) * m.hidden * 2);
      expect(spGrads.pass).toBe('bwd');
      expect(spGrads.stream).toBe('compute');
      expect(spGrads.deps).toEqual([Math.max(...sp.filter((n) => n.pass === 'bwd' && n.id !== spGrads.id).map((n) => n.id))]);
      expect(sp.find((n) => n.pass === 'opt')!.deps).toContain(spGrads.id);
      // The matrix work is the tensor-parallel split's; the norms between the regions see 1/t of the rows.
      expect(summariseProgram(sp).matmulFlops).toBe(summariseProgram(plain).matmulFlops);
      const rows = (p: typeof plain, nodeName: string) => (p.find((n) => n.name === nodeName)!.kernel as { rows: number }).rows;
      expect(rows(sp, 'l5.norm2')).toBe(rows(plain, 'l5.norm2') / tp);
    }
  });

  it("LAMB's norms are summed over the TP group: one fp32 for the global gradient norm, two per split tensor for the trust ratios", () => {
    type Program = ReturnType<typeof buildTrainingTrace>['programs'][number];
    const normReductions = (p: Program) => p.filter((n) => n.pass === 'opt' && n.kind === 'collective' && n.name.startsWith('lamb.'));
    // Megatron's split, counted from its layout: per layer the QKV weight and bias (column-parallel),
    // the out-projection weight (row-parallel; its bias whole on every rank), FC1's weight and bias,
    // FC2's weight; the vocabulary-parallel word embeddings (BERT's MLM output is tied to them) and
    // the MLM output bias. LLaMA has no biases and its own output layer.
    for (const [name, splitTensors] of [['bert-large', 6 * 24 + 2], ['llama2-7b', 4 * 32 + 2]] as const) {
      const m = getModel(name);
      for (const tp of [2, 4, 8]) {
        for (const sequenceParallel of [false, true]) {
          const p = buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'mixed', optimizer: 'lamb', tp, sequenceParallel }).programs[0]!;
          const [gradNorm, tensorNorms, ...rest] = normReductions(p);
          expect(rest, `${name} TP ${tp}`).toEqual([]);
          expect([gradNorm!.name, tensorNorms!.name]).toEqual(['lamb.grad_norm.tp_all_reduce', 'lamb.norms.tp_all_reduce']);
          // Sequence parallelism splits no further tensor (its norms and biases are whole): the same bytes.
          expect([gradNorm!.collective!.bytes, tensorNorms!.collective!.bytes]).toEqual([4, 2 * 4 * splitTensors]);
          for (const n of [gradNorm!, tensorNorms!]) {
            expect(n.collective!.kind).toBe('all-reduce');
            expect(n.stream).toBe('compute');
            expect(n.category).toBe('communication');
          }
          // Each waits for the last kernel of the norms it sums, and the stage that uses them waits for it.
          const ids = (stage: string) => p.filter((n) => n.name.endsWith(`.${stage}`)).map((n) => n.id);
          for (const [ar, before, after] of [[gradNorm!, 'lamb.grad_norm', 'lamb.stage1'], [tensorNorms!, 'lamb.norms', 'lamb.stage2']] as const) {
            expect(ar.deps).toEqual([Math.max(...ids(before))]);
            const next = Math.min(...ids(after));
            expect(next).toBe(ar.id + 1);
            expect(p[next]!.deps).toContain(ar.id);
          }
        }
      }
    }
    // None on one GPU, none for Adam (silica models no gradient clipping), and none for data
    // parallelism alone: its gradients are all-reduced whole before the optimizer reads them.
    const m = getModel('bert-large');
    const opt = (o: { tp?: number; dp?: number; optimizer: 'adam' | 'lamb' }) => normReductions(buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'mixed', ...o }).programs[0]!);
    expect(opt({ optimizer: 'lamb' })).toEqual([]);
    expect(opt({ optimizer: 'lamb', dp: 4 })).toEqual([]);
    expect(opt({ optimizer: 'adam', tp: 4 })).toEqual([]);
    // With data parallelism too, each rank sums over its own TP group only.
    const t = buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'mixed', optimizer: 'lamb', tp: 2, dp: 3 });
    for (const n of normReductions(t.programs[3]!)) expect(n.collective!.group).toEqual([2, 3]);
  });

  it('loss scaling all-reduces its inf/NaN flag where ranks check different gradients: over TP, and over DP under ZeRO', () => {
    type Program = ReturnType<typeof buildTrainingTrace>['programs'][number];
    const m = getModel('bert-large');
    const flags = (p: Program) => p.filter((n) => n.kind === 'collective' && n.name.startsWith('grads.found_inf.'));
    const build = (o: { precision: 'mixed' | 'fp16' | 'bf16' | 'fp32'; mixedDtype?: 'fp16' | 'bf16'; tp?: number; dp?: number; zeroStage?: 0 | 1 | 2 | 3 }) =>
      buildTrainingTrace(m, { batch: 1, seq: 128, optimizer: 'adam', ...o });
    // Every rank checks the same gradients: one GPU, DDP (gradients all-reduced whole), no loss scaling.
    for (const o of [{ precision: 'mixed' as const }, { precision: 'mixed' as const, dp: 4 }, { precision: 'bf16' as const, tp: 4 }, { precision: 'mixed' as const, mixedDtype: 'bf16' as const, tp: 4 }, { precision: 'fp32' as const, tp: 4, dp: 2, zeroStage: 1 as const }]) {
      expect(flags(build(o).programs[0]!), JSON.stringify(o)).toEqual([]);
    }
    for (const [o, groups] of [
      [{ precision: 'mixed' as const, tp: 4 }, ['tp']],
      [{ precision: 'fp16' as const, tp: 2 }, ['tp']],
      [{ precision: 'mixed' as const, dp: 4, zeroStage: 1 as const }, ['dp']],
      [{ precision: 'mixed' as const, tp: 2, dp: 3, zeroStage: 2 as const }, ['tp', 'dp']],
    ] as const) {
      const t = build(o);
      const p = t.programs[t.programs.length - 1]!;
      const f = flags(p);
      expect(f.map((n) => n.name), JSON.stringify(o)).toEqual(groups.map((g) => `grads.found_inf.${g}_all_reduce`));
      for (const n of f) {
        expect(n.collective!.kind).toBe('all-reduce');
        expect(n.collective!.bytes).toBe(4);
        expect(n.pass).toBe('opt');
      }
      // After every unscale kernel, before the first update kernel.
      const ids = (pred: (name: string) => boolean) => p.filter((n) => n.kind === 'kernel' && n.pass === 'opt' && pred(n.name)).map((n) => n.id);
      expect(Math.min(...f.map((n) => n.id))).toBeGreaterThan(Math.max(...ids((n) => n.endsWith('.grads.unscale'))));
      expect(Math.max(...f.map((n) => n.id))).toBeLessThan(Math.min(...ids((n) => n.endsWith('.adam'))));
    }
  });

  it('tensor and data parallelism together give one program per rank with its communicators', () => {
    const t = buildTrainingTrace(getModel('bert-base'), { batch: 2, seq: 128, precision: 'mixed', tp: 2, dp: 3 });
    expect(t.worldSize).toBe(6);
    expect(t.programs.length).toBe(6);
    const groups = (rank: number, pred: (name: string) => boolean) => t.programs[rank]!.find((n) => n.collective && pred(n.name))!.collective!.group;
    expect(groups(3, (n) => n.includes('tp_'))).toEqual([2, 3]);
    expect(groups(3, (n) => n.startsWith('grads.bucket'))).toEqual([1, 3, 5]);
  });
});

describe('data parallelism', () => {
  const m = getModel('bert-large');

  it('bucketed gradient all-reduce carries every gradient once, on the comm stream', () => {
    const p = buildTrainingTrace(m, { batch: 4, seq: 128, precision: 'mixed', dp: 8 }).programs[0]!;
    const buckets = p.filter((n) => n.name.startsWith('grads.bucket'));
    expect(buckets.reduce((s, n) => s + n.collective!.bytes, 0)).toBe(parameterCount(m) * 2);
    expect(buckets.length).toBeLessThanOrEqual(Math.floor((parameterCount(m) * 2) / DEFAULT_BUCKET_BYTES) + 1);
    for (const b of buckets.slice(0, -1)) expect(b.collective!.bytes).toBeGreaterThanOrEqual(DEFAULT_BUCKET_BYTES);
    for (const b of buckets) {
      expect(b.stream).toBe('comm');
      expect(b.pass).toBe('bwd');
    }
    // Overlapped: the first bucket waits only for the head and last layers' gradients, long before backward ends.
    const lastBwd = Math.max(...p.filter((n) => n.pass === 'bwd' && n.stream === 'compute').map((n) => n.id));
    expect(Math.max(...buckets[0]!.deps)).toBeLessThan(lastBwd / 2);
    // The optimizer waits for every bucket.
    const firstOpt = p.find((n) => n.pass === 'opt')!;
    for (const b of buckets) expect(firstOpt.deps).toContain(b.id);
  });

  it('without overlap every bucket waits for the whole backward', () => {
    const p = buildTrainingTrace(m, { batch: 4, seq: 128, precision: 'mixed', dp: 8, overlapGradAllReduce: false }).programs[0]!;
    const lastBwd = Math.max(...p.filter((n) => n.pass === 'bwd' && n.stream === 'compute').map((n) => n.id));
    for (const b of p.filter((n) => n.name.startsWith('grads.bucket'))) expect(b.deps).toEqual([lastBwd]);
  });

  it('LAMB adds norm reductions over Adam; fp32 has no gradient unscaling', () => {
    const count = (o: 'adam' | 'lamb', precision: 'fp32' | 'mixed') => buildTrainingTrace(m, { batch: 1, seq: 128, precision, optimizer: o }).programs[0]!.filter((n) => n.pass === 'opt');
    const adam = count('adam', 'mixed');
    const lamb = count('lamb', 'mixed');
    expect(lamb.length).toBe(adam.length + 3 * (adam.length / 2));
    expect(lamb.filter((n) => n.name.includes('lamb.norms')).length).toBeGreaterThan(0);
    expect(adam.filter((n) => n.name.includes('grads.unscale')).length).toBe(adam.length / 2);
    expect(count('adam', 'fp32').some((n) => n.name.includes('grads.'))).toBe(false);
    const elements = (ns: typeof adam) => ns.filter((n) => n.name.endsWith('.adam')).reduce((s, n) => s + (n.kernel as { elements: number }).elements, 0);
    expect(elements(adam)).toBe(parameterCount(m));
  });

  it('recomputation re-runs each layer forward inside backward', () => {
    const a = buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'mixed', recompute: true }).programs[0]!;
    const recomputed = a.filter((n) => n.name.endsWith('.recompute'));
    expect(recomputed.every((n) => n.pass === 'bwd')).toBe(true);
    expect(new Set(recomputed.map((n) => n.layer)).size).toBe(m.layers);
    expect(summariseProgram(recomputed).matmulFlops).toBeGreaterThan(0);
  });
});
