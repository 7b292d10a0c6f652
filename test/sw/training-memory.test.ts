import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { precisionOf } from '../../src/study/bert/point.js';
import { buildTrainingTrace, getModel, mlmPredictionsPerSeq, parameterCount, precisionPlan } from '../../src/sw/index.js';
import { programOf } from '../../src/trace/types.js';
import { rankParameterCount, trainingMemory } from '../../src/sw/train/memory.js';
import { ROOT, silica } from '../helpers/cli.js';

const mixed = precisionPlan('mixed', 'fp16');
const fp32 = precisionPlan('fp32');

describe('training memory per GPU', () => {
  it('model states: 16 bytes a parameter with Adam in mixed precision (ZeRO: a 1.5B GPT-2 needs at least 24 GB)', () => {
    const gpt2 = getModel('gpt2-xl');
    const m = trainingMemory(gpt2, { batch: 1, seq: 1024, plan: mixed });
    expect(m.modelStateBytes).toBe(16 * parameterCount(gpt2));
    expect(m.modelStateBytes / 1e9).toBeGreaterThanOrEqual(24);
    expect(m.modelStateBytes / 1e9).toBeLessThan(24 * 1.1);
    // fp32 keeps the same four copies at 4 bytes; pure bf16 keeps them at 2.
    expect(trainingMemory(gpt2, { batch: 1, seq: 1024, plan: fp32 }).modelStateBytes).toBe(16 * parameterCount(gpt2));
    expect(trainingMemory(gpt2, { batch: 1, seq: 1024, plan: precisionPlan('bf16') }).modelStateBytes).toBe(8 * parameterCount(gpt2));
  });

  it("tensor parallelism: the rank's weight shard, and Korthikanti et al.'s activations s·b·h·(10 + 24/t + 5·a·s/(h·t)) a layer", () => {
    for (const name of ['bert-large', 'gpt2-xl']) {
      const model = getModel(name);
      expect(rankParameterCount(model, 1)).toBe(parameterCount(model));
      for (const t of [2, 4, 8]) {
        // shard = (P - R)/t + R: the split part once, the whole part R (norms, position
        // embeddings, row-parallel biases, BERT's head transform) on every rank, a sliver of P.
        const shard = rankParameterCount(model, t);
        const whole = (t * shard - parameterCount(model)) / (t - 1);
        expect(whole, `${name} TP ${t}`).toBeGreaterThan(0);
        expect(whole).toBeLessThan(0.01 * parameterCount(model));
        expect(trainingMemory(model, { batch: 1, seq: 512, plan: mixed, tp: t }).modelStateBytes).toBe(16 * shard);
      }
    }
    const bert = getModel('bert-large');
    const { hidden: h, heads: a, layers: L, vocab } = bert;
    const [b, s] = [8, 512];
    for (const t of [1, 2, 4, 8]) {
      const m = trainingMemory(bert, { batch: b, seq: s, plan: mixed, tp: t });
      // The MLM head's logits, only for the masked positions it predicts (see the next test).
      const logits = b * mlmPredictionsPerSeq(s) * Math.ceil(vocab / t) * 2;
      expect(m.activationBytes - logits, `TP ${t}`).toBeCloseTo(L * s * b * h * (10 + 24 / t + (5 * a * s) / (h * t)), 0);
      // Selective recomputation keeps s·b·h·(10 + 24/t) (ibid.), full recomputation each layer's whole input.
      expect(trainingMemory(bert, { batch: b, seq: s, plan: mixed, tp: t, recompute: 'selective' }).activationBytes - logits).toBeCloseTo(L * s * b * h * (10 + 24 / t), 0);
      expect(trainingMemory(bert, { batch: b, seq: s, plan: mixed, tp: t, recompute: true }).activationBytes - logits).toBe(L * 2 * s * b * h);
      // Sequence parallelism splits the rest over the tokens (ibid., eq. 4): s·b·h·(34/t + 5·a·s/(h·t)).
      const sp = trainingMemory(bert, { batch: b, seq: s, plan: mixed, tp: t, sequenceParallel: true }).activationBytes - logits;
      expect(sp).toBeCloseTo(L * s * b * h * (34 / t + (5 * a * s) / (h * t)), 0);
    }
  });

  it("the head's logits are held for the rows the graph's head.logits GEMM makes: BERT's masked positions, a causal LM's every token", () => {
    for (const [name, b, s] of [['bert-large', 8, 512], ['bert-base', 32, 128], ['gpt2-xl', 2, 1024]] as const) {
      const model = getModel(name);
      const gemm = programOf(buildTrainingTrace(model, { batch: b, seq: s, precision: 'mixed' }), 0).find((n) => n.name === 'head.logits')?.kernel;
      expect(gemm?.op, name).toBe('gemm');
      const rows = gemm!.op === 'gemm' ? gemm!.m : 0;
      expect(rows, name).toBe(model.objective === 'mlm' ? b * mlmPredictionsPerSeq(s) : b * s);
      // Full recomputation keeps each layer's input (2·s·b·h in 16 bits) and the logits.
      const kept = trainingMemory(model, { batch: b, seq: s, plan: mixed, recompute: true }).activationBytes;
      expect(kept - model.layers * 2 * s * b * model.hidden, name).toBe(rows * model.vocab * 2);
    }
  });

  it('activations grow with the micro-batch linearly and with the sequence faster than linearly; recomputation, fused attention and half precision keep less', () => {
    const bert = getModel('bert-large');
    const act = (o: Partial<Parameters<typeof trainingMemory>[1]>) => trainingMemory(bert, { batch: 8, seq: 512, plan: mixed, ...o }).activationBytes;
    expect(act({ batch: 16 })).toBeCloseTo(2 * act({ batch: 8 }), 0);
    expect(act({ seq: 1024 })).toBeGreaterThan(2 * act({ seq: 512 }));
    expect(act({ recompute: true })).toBeLessThan(act({}) / 10);
    expect(act({ flashAttention: true })).toBeLessThan(act({}));
    expect(act({ plan: fp32 })).toBeGreaterThan(1.8 * act({}));
    expect(act({ plan: fp32 })).toBeLessThan(2 * act({}));
  });

  it('every BERT run measured on the H100 fits in its 80 GB (they ran there)', () => {
    const hw = loadHardware('h100-sxm');
    const points = (parse(readFileSync(join(ROOT, 'validation', 'bert-measured.yaml'), 'utf8')) as { points: Array<{ params: { model: string; seq: number; batch: number; precision: 'fp32' | 'mixed-bf16' | 'mixed-fp16'; flash_attention: boolean } }> }).points;
    expect(points.length).toBeGreaterThan(0);
    for (const { params: p } of points) {
      const { precision, mixedDtype } = precisionOf(p.precision);
      const m = trainingMemory(getModel(p.model), { batch: p.batch, seq: p.seq, plan: precisionPlan(precision, mixedDtype), flashAttention: p.flash_attention });
      expect(m.totalBytes, `${p.model} b${p.batch} s${p.seq} ${p.precision}`).toBeLessThan(hw.memory.hbm.capacity_bytes);
    }
  });

  it('silica bert reports it, and says on stderr when a step would not fit', () => {
    const ok = silica(['bert', '--json']);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toMatchObject({ fits_hbm: true });
    const big = silica(['bert', '--batch', '100000', '--json']);
    expect(big.code).toBe(0);
    expect(JSON.parse(big.stdout)).toMatchObject({ fits_hbm: false });
    expect(big.stderr).toMatch(/^silica bert: note: the step needs about [\d.]+TiB per GPU \(model states [\d.]+GiB, activations [\d.]+TiB\), more than mi300x's 178\.81GiB of HBM: a real run would not fit /);
  });
});
