import { SilicaError } from '../../core/errors.js';
import type { Dtype, HardwareConfig } from '../../hw/config/schema.js';
import { makeCuLayout, type CuLayout } from '../../hw/gpu/cu-layout.js';
import { fullCuSet, type CuSet } from '../../hw/gpu/cu-mask.js';
import { CuSetMemo } from '../../hw/gpu/cu-set-memo.js';
import { timeKernel } from '../../hw/gpu/kernel-timing.js';
import { aloneDynamicEnergyNj } from '../../hw/gpu/power.js';
import { costKernel, type KernelDesc } from '../../kernels/desc.js';
import type { KernelCost } from '../../kernels/types.js';
import { programOf, type TraceNode } from '../../trace/types.js';
import type { ModelSpec } from '../models/index.js';
import { buildIterationTrace } from '../infer/build.js';
import { bucket } from './buckets.js';
import { collectiveTiming } from './collective-time.js';
import { hwKey } from './hw-key.js';

/**
 * What one serving iteration costs on the hardware model, memoised by shape.
 *
 * An iteration (a batch of prefill pieces and decode tokens on one tensor-parallel group) is
 * lowered by the software layer (`buildIterationTrace`) to one rank's kernels and TP collectives,
 * and every kernel is timed on the hardware model (`timeKernel`: workgroup dispatch over the CU
 * set's XCDs, DRAM bandwidth) and every collective by the collective model. Ranks of a TP group run
 * the same kernels on the same shapes, so one rank's program stands for the group (the symmetric
 * shortcut; test/serving/cost-model.test.ts checks it against a full replay). Kernels of one
 * iteration run back to back on one stream, so the iteration's time is the sum of its nodes'.
 *
 * Memoisation keeps a 10,000-request run fast:
 * - The cost is decomposed into a token-linear part (GEMMs, norms, element-wise, collectives:
 *   they depend only on the prefill and decode token counts) and attention (depends on each
 *   prefill piece's length and context, and on the decode batch's contexts). Each part is memoised
 *   on bucketed shapes (buckets.ts: within ±3.2%); decode attention over a batch with differing
 *   contexts is costed at its mean context (attention reads sum(contexts) KV entries, which the
 *   mean preserves).
 * - Every part is built once on a one-layer model: layer-0 nodes are scaled by the model's layer
 *   count, the rest (embedding, final norm, LM head) counted once.
 * - Kernels are memoised by their description and CU set underneath, so a new bucket costs only
 *   the kernels it changes.
 */
export interface PrefillPiece {
  /** Tokens processed in this iteration. */
  tokens: number;
  /** Tokens of the same sequence already in the KV cache (chunked prefill, recompute). */
  context: number;
}

/** Per-GPU cost of an iteration: time, busy CU time (CU-ns) and DRAM bytes. */
export interface PassCost {
  ns: number;
  cuNs: number;
  hbmBytes: number;
  /** Its kernels' energy over the part's static power, each as alone (nJ; 0 without a power model: power.ts aloneDynamicEnergyNj). */
  dynamicEnergyNj: number;
}

/** One step of a rank's program as the co-run simulation replays it. */
export type LaneStep =
  | { kind: 'kernel'; cost: KernelCost; isolatedNs: number; dynamicEnergyNj: number }
  | { kind: 'comm'; ns: number; linkBytes: number };

export interface CostModelKey {
  tp: number;
  dtype: Dtype;
  kvDtype: Dtype;
}

interface Split {
  layer: PassCost;
  other: PassCost;
}

const zero = (): PassCost => ({ ns: 0, cuNs: 0, hbmBytes: 0, dynamicEnergyNj: 0 });

function add(acc: PassCost, c: PassCost, k = 1): void {
  acc.ns += c.ns * k;
  acc.cuNs += c.cuNs * k;
  acc.hbmBytes += c.hbmBytes * k;
  acc.dynamicEnergyNj += c.dynamicEnergyNj * k;
}

const isAttention = (n: TraceNode) => n.category === 'attention';
const isNotAttention = (n: TraceNode) => !isAttention(n);

const PART_LINEAR = 0;
const PART_PREFILL_ATTENTION = 1;
const PART_DECODE_ATTENTION = 2;
const PART_PREFILL_ATTENTION_GROUP = 3;
/** Bucketed sizes stay below 2^25 (model contexts and batches are far smaller), so a part and two sizes fit one exact double. */
const SIZE_LIMIT = 2 ** 25;

function partKey(part: number, a: number, b: number): number {
  if (!(a < SIZE_LIMIT && b < SIZE_LIMIT)) throw new SilicaError(`serving: an iteration of ${Math.max(a, b)} tokens or contexts is beyond the cost model's ${SIZE_LIMIT}`);
  return (part * SIZE_LIMIT + a) * SIZE_LIMIT + b;
}

/** Prefill pieces by exact shape, with how many share it (first-seen order, so sums stay deterministic). */
function sameShapes(prefill: readonly PrefillPiece[]): Map<PrefillPiece, number> {
  const counts = new Map<PrefillPiece, number>();
  const first = new Map<number, PrefillPiece>();
  for (const p of prefill) {
    const k = p.tokens * SIZE_LIMIT + p.context;
    const seen = first.get(k);
    if (seen) counts.set(seen, counts.get(seen)! + 1);
    else {
      first.set(k, p);
      counts.set(p, 1);
    }
  }
  return counts;
}

export class IterationCostModel {
  readonly layout: CuLayout;
  readonly allCus: CuSet;
  /** Top-level part lookups (linear, prefill attention, decode attention) and their memo hits. */
  lookups = 0;
  hits = 0;
  kernelLookups = 0;
  kernelHits = 0;
  private readonly oneLayer: ModelSpec;
  /**
   * Part costs by CU set, then by part and bucketed shape as one number (partKey): string keys
   * holding the CU mask (~100 characters for 304 CUs), built and hashed per lookup, were the
   * serving runs' largest self time.
   */
  private readonly parts = new CuSetMemo(() => new Map<number, PassCost>());
  /** Groups of identical prefill pieces: by CU set, part key and then the group's bucketed count. */
  private readonly groupParts = new CuSetMemo(() => new Map<number, Map<number, PassCost>>());
  /** Kernel costs by CU set (as the part costs), then by the kernel's description. */
  private readonly kernels = new CuSetMemo(() => new Map<string, { cost: KernelCost; pass: PassCost }>());
  private readonly programs = new Map<string, LaneStep[]>();

  constructor(
    readonly hw: HardwareConfig,
    readonly model: ModelSpec,
    readonly key: CostModelKey,
  ) {
    this.layout = makeCuLayout(hw.compute);
    this.allCus = fullCuSet(this.layout);
    this.oneLayer = { ...model, layers: 1 };
  }

  get memoEntries(): number {
    let n = 0;
    for (const m of this.parts.values()) n += m.size;
    for (const byCount of this.groupParts.values()) for (const m of byCount.values()) n += m.size;
    return n;
  }

  /** Isolated cost of one iteration on the CU set `cus` of every GPU of the group. */
  iteration(prefill: readonly PrefillPiece[], decodeCount: number, decodeCtxSum: number, cus: CuSet = this.allCus): PassCost {
    const total = zero();
    let prefillTokens = 0;
    for (const p of prefill) prefillTokens += p.tokens;
    add(total, this.linear(prefillTokens, decodeCount, cus));
    if (prefill.length === 1) add(total, this.prefillAttention(prefill[0]!.tokens, prefill[0]!.context, cus));
    else if (prefill.length > 1) for (const [shape, count] of sameShapes(prefill)) add(total, this.prefillAttention(shape.tokens, shape.context, cus, count));
    if (decodeCount > 0) add(total, this.decodeAttention(decodeCount, decodeCtxSum / decodeCount, cus));
    return total;
  }

  /** Token-linear part: everything but attention, for P prefill and B decode tokens. */
  linear(prefillTokens: number, decodeCount: number, cus: CuSet): PassCost {
    const p = bucket(prefillTokens);
    const b = bucket(decodeCount);
    if (p === 0 && b === 0) return zero();
    const key = partKey(PART_LINEAR, p, b);
    const memo = this.memoFor(cus, key);
    let c = this.remembered(memo, key);
    if (c === undefined) {
      // Token-linear kernels see only the token count; pieces keep each within the model's context.
      const prefill: PrefillPiece[] = [];
      for (let left = p; left > 0; left -= this.model.maxSeq) prefill.push({ tokens: Math.min(left, this.model.maxSeq), context: 0 });
      memo.set(key, (c = this.costOf(prefill, new Array<number>(b).fill(1), cus, isNotAttention)));
    }
    return c;
  }

  /**
   * Attention of `count` prefill pieces of one shape: one launch for all of them, as the iteration
   * trace lowers them (buildIterationTrace groups identical pieces), not `count` launches.
   */
  prefillAttention(tokens: number, context: number, cus: CuSet, count = 1): PassCost {
    const t = Math.min(this.model.maxSeq, Math.max(1, bucket(tokens)));
    const c = Math.min(this.model.maxSeq - t, bucket(context));
    const n = Math.max(1, bucket(count));
    if (n === 1) {
      const key = partKey(PART_PREFILL_ATTENTION, t, c);
      const memo = this.memoFor(cus, key);
      let cost = this.remembered(memo, key);
      if (cost === undefined) memo.set(key, (cost = this.costOf([{ tokens: t, context: c }], [], cus, isAttention)));
      return cost;
    }
    const memo = this.memoFor(cus, partKey(PART_PREFILL_ATTENTION_GROUP, t, c), n);
    let cost = this.remembered(memo, n);
    if (cost === undefined) memo.set(n, (cost = this.costOf(new Array<PrefillPiece>(n).fill({ tokens: t, context: c }), [], cus, isAttention)));
    return cost;
  }

  decodeAttention(batch: number, meanContext: number, cus: CuSet): PassCost {
    const b = Math.max(1, bucket(batch));
    const c = Math.min(this.model.maxSeq - 1, Math.max(1, bucket(meanContext)));
    const key = partKey(PART_DECODE_ATTENTION, b, c);
    const memo = this.memoFor(cus, key);
    let cost = this.remembered(memo, key);
    if (cost === undefined) memo.set(key, (cost = this.costOf([], new Array<number>(b).fill(c), cus, isAttention)));
    return cost;
  }

  /**
   * One layer's program (in order) for the co-run simulation: a prefill of `tokens` fresh tokens
   * (context 0), or a decode step of `batch` requests at context `context`, on the CU set `cus`.
   */
  layerProgram(kind: 'prefill' | 'decode', size: number, context: number, cus: CuSet): LaneStep[] {
    const s = Math.min(this.model.maxSeq, Math.max(1, bucket(size)));
    const c = Math.min(this.model.maxSeq - 1, Math.max(1, bucket(context)));
    const key = `${kind}|${s}|${kind === 'decode' ? c : 0}|${cus.key}`;
    let steps = this.programs.get(key);
    if (!steps) {
      const nodes = this.nodes(kind === 'prefill' ? [{ tokens: s, context: 0 }] : [], kind === 'decode' ? new Array<number>(s).fill(c) : []);
      steps = [];
      for (const n of nodes) {
        if (n.layer !== 0) continue;
        if (n.kind === 'kernel' && n.kernel) {
          const k = this.kernel(n.kernel, cus);
          steps.push({ kind: 'kernel', cost: k.cost, isolatedNs: k.pass.ns, dynamicEnergyNj: k.pass.dynamicEnergyNj });
        } else if (n.kind === 'collective' && n.collective) {
          const c2 = collectiveTiming(this.hw, this.key.tp, n.collective.kind, n.collective.bytes);
          steps.push({ kind: 'comm', ns: c2.ns, linkBytes: c2.linkBytesPerRank });
        } else if (n.durationNs) steps.push({ kind: 'comm', ns: n.durationNs, linkBytes: 0 });
      }
      this.programs.set(key, steps);
    }
    return steps;
  }

  /**
   * The memo holding a part's cost on `cus`: by its key, and for a group of identical prefill
   * pieces (count > 1) a map by their bucketed count under the key. Callers look up, and on a miss
   * cost the part and set it: no closure per lookup (an iteration asks for two or three parts, and
   * a closure each was a tenth of what a serving run allocated).
   */
  private memoFor(cus: CuSet, key: number, count = 1): Map<number, PassCost> {
    if (count === 1) return this.parts.get(cus);
    const byCount = this.groupParts.get(cus);
    return byCount.get(key) ?? byCount.set(key, new Map()).get(key)!;
  }

  /** The part's remembered cost, counting the lookup and the hit. */
  private remembered(memo: Map<number, PassCost>, key: number): PassCost | undefined {
    this.lookups++;
    const c = memo.get(key);
    if (c) this.hits++;
    return c;
  }

  private nodes(prefill: PrefillPiece[], decode: number[]): TraceNode[] {
    const trace = buildIterationTrace(this.oneLayer, { prefill, decode, tp: this.key.tp, dtype: this.key.dtype, kvDtype: this.key.kvDtype });
    return programOf(trace, 0);
  }

  private costOf(prefill: PrefillPiece[], decode: number[], cus: CuSet, keep: (n: TraceNode) => boolean): PassCost {
    const split: Split = { layer: zero(), other: zero() };
    for (const n of this.nodes(prefill, decode)) {
      if (!keep(n)) continue;
      add(n.layer === 0 ? split.layer : split.other, this.nodeCost(n, cus));
    }
    const total = zero();
    add(total, split.layer, this.model.layers);
    add(total, split.other);
    return total;
  }

  private nodeCost(n: TraceNode, cus: CuSet): PassCost {
    if (n.kind === 'kernel' && n.kernel) return this.kernel(n.kernel, cus).pass;
    if (n.kind === 'collective' && n.collective) {
      const c = collectiveTiming(this.hw, this.key.tp, n.collective.kind, n.collective.bytes);
      return { ns: c.ns, cuNs: 0, hbmBytes: c.hbmBytesPerRank, dynamicEnergyNj: 0 };
    }
    if (n.kind === 'delay' && n.durationNs) return { ns: n.durationNs, cuNs: 0, hbmBytes: 0, dynamicEnergyNj: 0 };
    return zero();
  }

  private kernel(desc: KernelDesc, cus: CuSet): { cost: KernelCost; pass: PassCost } {
    const byDesc = this.kernels.get(cus);
    const key = JSON.stringify({ ...desc, name: undefined });
    this.kernelLookups++;
    let k = byDesc.get(key);
    if (k) this.kernelHits++;
    else {
      const cost = costKernel(this.hw, desc, cus);
      const t = timeKernel(this.hw, this.layout, cus, cost);
      let cuNs = 0;
      for (const v of t.cuNsPerGroup) cuNs += v;
      k = { cost, pass: { ns: t.isolatedNs, cuNs, hbmBytes: t.hbmBytes, dynamicEnergyNj: aloneDynamicEnergyNj(this.hw, cost, t) } };
      byDesc.set(key, k);
    }
    return k;
  }
}

const models = new Map<string, IterationCostModel>();

/** One cost model (and memo) per hardware/model/parallelism/precision, shared by every run in the process. */
export function costModelFor(hw: HardwareConfig, model: ModelSpec, key: CostModelKey): IterationCostModel {
  const k = `${hwKey(hw)}|${model.name}|${model.layers}|${key.tp}|${key.dtype}|${key.kvDtype}`;
  let m = models.get(k);
  if (!m) {
    m = new IterationCostModel(hw, model, key);
    models.set(k, m);
  }
  return m;
}
