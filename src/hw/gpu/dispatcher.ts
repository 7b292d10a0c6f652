import { SilicaError } from '../../core/errors.js';
import type { ComputeConfig } from '../config/schema.js';
import type { CuLayout } from './cu-layout.js';
import { emptyGroups, type CuSet } from './cu-mask.js';

/**
 * Workgroup dispatch. Workgroups of one kernel are identical, so instead of placing each one we
 * compute, per CU group, how many workgroups land there and how they spread over its enabled CUs:
 * the most-loaded CU sets the kernel's critical path (wave quantisation and tail effects emerge
 * from these integer divisions, not from an efficiency factor).
 *
 * - `round-robin-groups` (MI300X SPX): workgroup i goes to XCD (i mod G) whatever the mask; a mask
 *   that leaves an XCD without CUs starves that XCD's share (the hardware would hang) [S8, S37].
 * - `least-loaded`: the global dispatcher fills any enabled CU.
 */
export interface Placement {
  /** Workgroups per group. */
  perGroup: Float64Array;
  /** Largest number of workgroups any single CU runs (the critical path, in workgroups). */
  maxPerCu: number;
  /** CU-workgroups per group (= perGroup), kept separately for the CU-time demand. */
  busyCus: number;
}

/**
 * The critical path in workgroups (what `placeWorkgroups(...).maxPerCu` returns) without building
 * the per-group arrays: GEMM tile search calls this for every candidate, and allocation there
 * turns into GC time that a parallel sweep pays on both cores.
 */
export function maxWorkgroupsPerCu(workgroups: number, set: CuSet, layout: CuLayout, compute: ComputeConfig): number {
  if (compute.dispatch !== 'round-robin-groups' || layout.groups <= 1 || set.count === 0) return placeWorkgroups(workgroups, set, layout, compute).maxPerCu;
  const base = Math.floor(workgroups / layout.groups);
  const extra = workgroups % layout.groups;
  let maxPerCu = 0;
  for (let g = 0; g < layout.groups; g++) {
    const n = base + (g < extra ? 1 : 0);
    if (n === 0) continue;
    if (set.perGroup[g] === 0) return placeWorkgroups(workgroups, set, layout, compute).maxPerCu; // throws the starvation error
    maxPerCu = Math.max(maxPerCu, Math.ceil(n / set.perGroup[g]!));
  }
  return maxPerCu;
}

export function placeWorkgroups(workgroups: number, set: CuSet, layout: CuLayout, compute: ComputeConfig): Placement {
  const perGroup = new Float64Array(layout.groups);
  if (set.count === 0) throw new SilicaError('CU mask: no CU enabled');
  if (compute.dispatch === 'round-robin-groups' && layout.groups > 1) {
    const starved = emptyGroups(set);
    const base = Math.floor(workgroups / layout.groups);
    const extra = workgroups % layout.groups;
    let maxPerCu = 0;
    for (let g = 0; g < layout.groups; g++) {
      const n = base + (g < extra ? 1 : 0);
      perGroup[g] = n;
      if (n === 0) continue;
      if (set.perGroup[g] === 0) {
        throw new SilicaError(
          `CU mask leaves XCD ${starved.join(', ')} without CUs, but workgroups are dealt to XCDs round-robin, so that share of the grid can never run (the real part hangs); enable at least one CU on every XCD`,
        );
      }
      maxPerCu = Math.max(maxPerCu, Math.ceil(n / set.perGroup[g]!));
    }
    return { perGroup, maxPerCu, busyCus: Math.min(workgroups, set.count) };
  }
  // Least-loaded: one pool of enabled CUs; account per group proportionally.
  const maxPerCu = Math.ceil(workgroups / set.count);
  for (let g = 0; g < layout.groups; g++) perGroup[g] = (workgroups * set.perGroup[g]!) / set.count;
  return { perGroup, maxPerCu, busyCus: Math.min(workgroups, set.count) };
}
