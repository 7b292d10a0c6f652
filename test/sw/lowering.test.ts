import { describe, expect, it } from 'vitest';
import { OP_CATEGORIES, PASSES } from '../../src/kernels/types.js';
import { buildPrefillTrace, buildTrainingTrace, getModel, listModels } from '../../src/sw/index.js';
import type { TraceNode } from '../../src/trace/types.js';

/** Structural problems of a program (plain checks: thousands of nodes, one expect). */
function problems(p: TraceNode[]): string[] {
  const out: string[] = [];
  const categories: readonly string[] = OP_CATEGORIES;
  const passes: readonly string[] = PASSES;
  p.forEach((n, i) => {
    if (n.id !== i) out.push(`${n.name}: id ${n.id} at ${i}`);
    // Emission order is a topological order.
    for (const d of n.deps) if (d >= n.id) out.push(`${n.name}: depends on later node ${d}`);
    if (!categories.includes(n.category)) out.push(`${n.name}: category ${n.category}`);
    if (!passes.includes(n.pass)) out.push(`${n.name}: pass ${n.pass}`);
    if (n.kind === 'kernel' && !n.kernel) out.push(`${n.name}: kernel without description`);
    if (n.kind === 'collective' && n.category !== 'communication') out.push(`${n.name}: collective in ${n.category}`);
  });
  return out;
}

const names = (p: TraceNode[], layer: number, pass: string) => p.filter((n) => n.layer === layer && n.pass === pass).map((n) => n.name);

describe('lowering', () => {
  it('every zoo model lowers to a well-formed program (training with TP, prefill)', () => {
    for (const name of listModels()) {
      const m = getModel(name);
      expect(problems(buildTrainingTrace(m, { batch: 1, seq: 64, precision: 'bf16', tp: 2, flashAttention: true }).programs[0]!), name).toEqual([]);
      expect(problems(buildPrefillTrace(m, { batch: 2, seq: 64 }).programs[0]!), name).toEqual([]);
    }
  });

  it('unfused attention is batched GEMM QK^T, softmax, dropout, batched GEMM PV; flash is one kernel', () => {
    const m = getModel('bert-large');
    const unfused = buildTrainingTrace(m, { batch: 2, seq: 128, precision: 'mixed', fuseBiasAct: false }).programs[0]!;
    expect(names(unfused, 0, 'fwd')).toEqual([
      'l0.attn.qkv', 'l0.attn.qkv.bias', 'l0.attn.qk', 'l0.attn.softmax', 'l0.attn.probs.dropout', 'l0.attn.pv', 'l0.attn.out',
      'l0.attn.out.bias', 'l0.attn.out.dropout', 'l0.attn.out.residual', 'l0.norm1',
      'l0.ffn.fc1', 'l0.ffn.fc1.bias', 'l0.ffn.fc1.gelu', 'l0.ffn.fc2', 'l0.ffn.out.bias', 'l0.ffn.out.dropout', 'l0.ffn.out.residual', 'l0.norm2',
    ]);
    const qk = unfused.find((n) => n.name === 'l0.attn.qk')!;
    expect(qk.category).toBe('attention');
    expect(qk.kernel).toMatchObject({ op: 'gemm', m: 128, n: 128, k: 64, batch: 2 * 16 });
    const fused = buildTrainingTrace(m, { batch: 2, seq: 128, precision: 'mixed', flashAttention: true }).programs[0]!;
    expect(names(fused, 0, 'fwd')).toEqual(['l0.attn.qkv', 'l0.attn.flash', 'l0.attn.out', 'l0.attn.out.bias_dropout_residual', 'l0.norm1', 'l0.ffn.fc1', 'l0.ffn.fc1.bias_gelu', 'l0.ffn.fc2', 'l0.ffn.out.bias_dropout_residual', 'l0.norm2']);
    expect(names(fused, 0, 'bwd')).toEqual([
      'l0.norm2.bwd', 'l0.ffn.out.bias_dropout_residual.bwd', 'l0.ffn.fc2.dgrad', 'l0.ffn.fc2.wgrad', 'l0.ffn.fc1.bias_gelu.bwd', 'l0.ffn.fc1.dgrad', 'l0.ffn.fc1.wgrad',
      'l0.norm1.bwd', 'l0.attn.out.bias_dropout_residual.bwd', 'l0.attn.out.dgrad', 'l0.attn.out.wgrad', 'l0.attn.flash.bwd', 'l0.attn.qkv.dgrad', 'l0.attn.qkv.wgrad',
    ]);
  });

  it('pre-LN SwiGLU models: RMSNorm, RoPE, fused gate/up GEMM, no biases or dropout', () => {
    const m = getModel('llama3-8b');
    const p = buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'bf16', flashAttention: true }).programs[0]!;
    expect(names(p, 0, 'fwd')).toEqual(['l0.norm1', 'l0.attn.qkv', 'l0.attn.rope', 'l0.attn.flash', 'l0.attn.out', 'l0.attn.out.residual', 'l0.norm2', 'l0.ffn.fc1', 'l0.ffn.swiglu', 'l0.ffn.fc2', 'l0.ffn.out.residual']);
    expect(p.find((n) => n.name === 'l0.attn.qkv')!.kernel).toMatchObject({ n: 4096 + 2 * 1024 });
    expect(p.find((n) => n.name === 'l0.ffn.fc1')!.kernel).toMatchObject({ n: 2 * 14336 });
    expect(p.find((n) => n.name === 'l0.norm1')!.kernel).toMatchObject({ op: 'reduction', kind: 'rmsnorm' });
    expect(p.find((n) => n.name === 'l0.attn.flash')!.kernel).toMatchObject({ heads: 32, kvHeads: 8, causal: true });
  });

  it('mixed precision keeps activations in half and the optimizer state in fp32', () => {
    const p = buildTrainingTrace(getModel('bert-base'), { batch: 1, seq: 128, precision: 'mixed', mixedDtype: 'bf16' }).programs[0]!;
    expect(p.find((n) => n.name === 'l0.attn.qkv')!.kernel).toMatchObject({ dtype: 'bf16' });
    expect(p.find((n) => n.name === 'l0.adam')!.kernel).toMatchObject({ dtype: 'fp32' });
    expect(p.some((n) => n.name.includes('grads.cast'))).toBe(true); // bf16: no loss scaling, but a cast to fp32
    expect(p.some((n) => n.name.includes('grads.unscale'))).toBe(false);
  });

  it('rejects bad options with one-line errors', () => {
    const m = getModel('bert-base');
    expect(() => buildTrainingTrace(m, { batch: 0, seq: 128, precision: 'fp32' })).toThrow(/--batch: expected a positive whole number/);
    expect(() => buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'fp32', tp: 5 })).toThrow(/--tp 5/);
    // bert-base has 12 heads: 16 ranks would leave some without a whole head (768 columns still split).
    expect(() => buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'fp32', tp: 16 })).toThrow(/^--tp 16: bert-base has 12 attention heads, fewer than the 16 ranks \(each rank needs at least one\)$/);
    expect(() => buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'fp64' as 'fp32' })).toThrow(/--precision/);
    expect(() => buildTrainingTrace(m, { batch: 1, seq: 128, precision: 'fp32', optimizer: 'sgd' as 'adam' })).toThrow(/--optimizer/);
  });
});
