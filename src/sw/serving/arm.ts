import { SilicaError } from '../../core/errors.js';
import { cuRange, emptyGroups, firstNCus, type CuSet } from '../../hw/gpu/cu-mask.js';
import type { IterationCostModel } from './cost-model.js';
import type { CorunMemo } from './corun.js';

/**
 * The Adaptive Resource Manager of concurrent prefill/decode serving.
 *
 * Offline, silica builds the table decode batch size -> minimum CUs that meet the ITL target, by
 * simulating decode iterations of that batch (at the workload's typical context) on CU-masked
 * subsets while a prefill of the typical size co-runs on the complementary CUs — the situation the
 * split exists for. CU counts are multiples of the XCD count and masks are the low `n` logical
 * CUs (bit i -> XCD i mod 8 on MI300X), so every XCD keeps CUs in both masks: the round-robin
 * workgroup dispatcher never deals work to an XCD a mask has emptied.
 *
 * Online: at light load both streams run unmasked (decode alone is fastest on every CU, and a
 * lone prefill takes the whole part). At heavy load, when prompts queue up or unmasked co-running
 * would push decode past the ITL target, decode moves to its table entry and prefill to the rest.
 * Masks are fixed per stream on the real part, so a switch means moving to another pre-created
 * masked stream pair: it costs `switch_cost_us` on each stream, and the split is held at least
 * `min_hold_ms` before going back. Each distinct mask pair takes two hardware queues; the table is
 * coarsened until they fit `compute.hw_queues`.
 */
export interface ArmOptions {
  mode: 'adaptive' | 'unmasked' | 'split';
  /** ITL the table targets, as a fraction of the ITL SLO (headroom for context growth). */
  itl_target_fraction: number;
  /** Queued prefill tokens at or above which the load counts as heavy. */
  split_backlog_tokens?: number;
  min_hold_ms: number;
  switch_cost_us: number;
  context_tokens?: number;
}

export interface ArmEntry {
  batch: number;
  decodeCus: number;
  /** Simulated decode iteration time at that split, co-running with the reference prefill (ms). */
  decodeItlMs: number;
}

export interface CuSplit {
  /** 0 = unmasked (both streams on every CU). */
  decodeCus: number;
  decode: CuSet;
  prefill: CuSet;
}

export const ARM_BATCHES = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024];

export class AdaptiveResourceManager {
  readonly table: ArmEntry[] = [];
  readonly unmasked: CuSplit;
  private readonly splits = new Map<number, CuSplit>();
  readonly groups: number;

  constructor(
    readonly costs: IterationCostModel,
    readonly corun: CorunMemo,
    readonly o: ArmOptions,
    readonly itlSloMs: number,
    readonly ref: { contextTokens: number; prefillTokens: number; maxBatch: number },
  ) {
    const layout = costs.layout;
    this.groups = layout.groups;
    this.unmasked = { decodeCus: 0, decode: costs.allCus, prefill: costs.allCus };
    if (layout.cus < 2 * layout.groups) {
      // Each side of a split needs a CU in every group (a mask leaving a group empty is refused below).
      throw new SilicaError(
        `policy rapid: compute.cus: expected at least 2 per CU group (${2 * layout.groups} over compute.cu_groups ${layout.groups}) to split between prefill and decode, got ${layout.cus} on ${costs.hw.name}`,
      );
    }
    this.buildTable();
  }

  /** The masks for `decodeCus` CUs of decode (0 = unmasked). */
  split(decodeCus: number): CuSplit {
    if (decodeCus === 0) return this.unmasked;
    let s = this.splits.get(decodeCus);
    if (!s) {
      const layout = this.costs.layout;
      const decode = firstNCus(layout, decodeCus);
      const prefill = cuRange(layout, decodeCus, layout.cus - decodeCus);
      for (const set of [decode, prefill]) {
        const empty = emptyGroups(set);
        if (empty.length) throw new SilicaError(`ARM: a split of ${decodeCus} decode CUs leaves XCD ${empty.join(', ')} without CUs`);
      }
      s = { decodeCus, decode, prefill };
      this.splits.set(decodeCus, s);
    }
    return s;
  }

  /** Minimum decode CUs for a batch (the table entry of the smallest tabled batch >= it). */
  decodeCusFor(batch: number): number {
    for (const e of this.table) if (e.batch >= batch) return e.decodeCus;
    return this.table[this.table.length - 1]!.decodeCus;
  }

  /** Decode iteration time (ms) at a split, co-running with the reference prefill on the rest. */
  decodeItlMs(batch: number, contextTokens: number, split: CuSplit): number {
    const iso = this.costs.iteration([], batch, batch * contextTokens, split.decode).ns;
    const f = this.corun.factors(this.ref.prefillTokens, batch, contextTokens, split.prefill, split.decode);
    return (iso * f.decodeSlowdown) / 1e6;
  }

  get targetMs(): number {
    return this.itlSloMs * this.o.itl_target_fraction;
  }

  private buildTable(): void {
    const g = this.groups;
    const maxPerGroup = Math.floor(this.costs.layout.cus / g) - 1;
    const c = this.ref.contextTokens;
    for (const batch of ARM_BATCHES) {
      if (batch > Math.max(1, this.ref.maxBatch) && this.table.length) break;
      // Time falls as CUs are added; binary search the smallest per-XCD count meeting the target.
      let lo = 1;
      let hi = maxPerGroup;
      if (this.decodeItlMs(batch, c, this.split(hi * g)) > this.targetMs) lo = hi;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.decodeItlMs(batch, c, this.split(mid * g)) <= this.targetMs) hi = mid;
        else lo = mid + 1;
      }
      const prev = this.table[this.table.length - 1];
      const per = Math.max(lo, prev ? prev.decodeCus / g : 1);
      this.table.push({ batch, decodeCus: per * g, decodeItlMs: this.decodeItlMs(batch, c, this.split(per * g)) });
    }
    this.fitQueues();
  }

  /** Two hardware queues per masked stream pair, two for the unmasked pair: coarsen until they fit. */
  private fitQueues(): void {
    const budget = Math.floor((this.costs.hw.compute.hw_queues - 2) / 2);
    for (let step = 1; new Set(this.table.map((e) => e.decodeCus)).size > budget; step++) {
      const q = step * this.groups;
      for (const e of this.table) e.decodeCus = Math.min(Math.ceil(e.decodeCus / q) * q, this.split(this.maxDecodeCus()).decodeCus);
    }
  }

  private maxDecodeCus(): number {
    return (Math.floor(this.costs.layout.cus / this.groups) - 1) * this.groups;
  }

  /** Hardware queues the table's masked stream pairs plus the unmasked pair take. */
  get hwQueuesUsed(): number {
    return 2 * (new Set(this.table.map((e) => e.decodeCus)).size + 1);
  }
}

const tables = new WeakMap<IterationCostModel, Map<string, AdaptiveResourceManager>>();

/** The ARM (and its offline table) for a cost model and settings, built once per process. */
export function armFor(costs: IterationCostModel, corun: CorunMemo, o: ArmOptions, itlSloMs: number, ref: AdaptiveResourceManager['ref']): AdaptiveResourceManager {
  let byKey = tables.get(costs);
  if (!byKey) tables.set(costs, (byKey = new Map()));
  const key = JSON.stringify([o, itlSloMs, ref]);
  let arm = byKey.get(key);
  if (!arm) {
    arm = new AdaptiveResourceManager(costs, corun, o, itlSloMs, ref);
    byKey.set(key, arm);
  }
  return arm;
}
