import type { OpCategory } from '../../kernels/types.js';
import { categoryShare, type IterationResult } from './iteration.js';
import type { BertPoint } from './point.js';

/**
 * The characterisation's findings, computed from simulated iterations (never from constants):
 * shared by report.md, summary.json and the tests.
 */
export type Field = keyof BertPoint;

/** Groups results that differ only in `field`, each group sorted by that field's order of appearance. */
export function groupsVarying(results: readonly IterationResult[], field: Field): IterationResult[][] {
  const groups = new Map<string, IterationResult[]>();
  for (const r of results) {
    const { [field]: _drop, ...rest } = r.point;
    const key = JSON.stringify(rest);
    const g = groups.get(key) ?? [];
    if (!g.some((x) => x.point[field] === r.point[field])) g.push(r);
    groups.set(key, g);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

export function largestCategory(r: IterationResult): { category: OpCategory; share: number } {
  const totals = new Map<OpCategory, number>();
  for (const c of r.cells) totals.set(c.category, (totals.get(c.category) ?? 0) + c.timeNs);
  let best: { category: OpCategory; share: number } = { category: 'gemm', share: -1 };
  for (const [category, t] of totals) if (t / r.iterationNs > best.share) best = { category, share: t / r.iterationNs };
  return best;
}

export const memoryBoundShare = (r: IterationResult) => r.memoryBoundNs / r.iterationNs;

/** Arithmetic intensity (FLOP/byte) ranges of attention's batched GEMMs and of projection/FFN GEMMs. */
export function gemmIntensity(r: IterationResult): { attention: [number, number]; projection: [number, number] } {
  const range = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
  const gemms = r.kernels.filter((k) => k.desc.op === 'gemm');
  const ai = (pred: (c: string) => boolean) => gemms.filter((k) => pred(k.category)).map((k) => k.flops / k.bytes);
  return { attention: range(ai((c) => c === 'attention')), projection: range(ai((c) => c === 'gemm')) };
}

export { categoryShare };
