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
/** A grid its CU set cannot run (no CU, or an XCD it reaches left empty): the set's fault, named by the caller. */
export class CuMaskError extends SilicaError {}

/**
 * Runs `run`, putting `where` (the flag, field or lane that chose the CU set; the dispatcher knows
 * none of them) in front of a CuMaskError; undefined leaves it as it is.
 */
export function namingCuSet<T>(where: string | undefined, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (where !== undefined && err instanceof CuMaskError) throw new CuMaskError(`${where}: ${err.message}`, err.where);
    throw err;
  }
}

export interface Placement {
  /** Workgroups per group. */
  perGroup: Float64Array;
  /** Largest number of workgroups any single CU runs (the critical path, in workgroups). */
  maxPerCu: number;
  /** CU-workgroups per group (= perGroup), kept separately for the CU-time demand. */
  busyCus: number;
}

/**
 * The critical path in workgroups: the most workgroups any single CU runs. Builds nothing, as the
 * GEMM tile search calls it for every candidate (allocation there turns into GC time that a
 * parallel sweep pays on both cores); placeWorkgroups adds the per-group spread.
 */
export function maxWorkgroupsPerCu(workgroups: number, set: CuSet, layout: CuLayout, compute: ComputeConfig): number {
  if (set.count === 0) throw new CuMaskError('CU mask: no CU enabled');
  if (!dealtToGroups(layout, compute)) return Math.ceil(workgroups / set.count);
  let maxPerCu = 0;
  for (let g = 0; g < layout.groups; g++) {
    const n = dealtToGroup(g, workgroups, layout.groups);
    if (n === 0) continue;
    if (set.perGroup[g] === 0) throw starvedGroups(workgroups, set, layout);
    maxPerCu = Math.max(maxPerCu, Math.ceil(n / set.perGroup[g]!));
  }
  return maxPerCu;
}

/**
 * Whether every workgroup of the grid reaches a CU: false where workgroups are dealt to CU groups
 * round-robin and the grid reaches a group the set leaves empty (a grid of w < groups workgroups
 * reaches only groups 0..w-1, so a one-tile GEMM runs on a mask of XCD 0's CUs).
 */
export function gridRuns(workgroups: number, set: CuSet, layout: CuLayout, compute: ComputeConfig): boolean {
  if (set.count === 0) return false;
  if (!dealtToGroups(layout, compute)) return true;
  const reached = Math.min(workgroups, layout.groups);
  for (let g = 0; g < reached; g++) if (set.perGroup[g] === 0) return false;
  return true;
}

/** The error for a grid dealt to groups the set leaves empty, naming the groups it reaches. */
function starvedGroups(workgroups: number, set: CuSet, layout: CuLayout): CuMaskError {
  const reached = Math.min(workgroups, layout.groups);
  const starved = emptyGroups(set).filter((g) => g < reached);
  const need = reached === layout.groups ? 'enable at least one CU on every XCD' : `enable at least one CU on each of XCDs 0-${reached - 1}, the ones its ${workgroups} workgroups reach`;
  return new CuMaskError(
    `CU mask leaves XCD ${starved.join(', ')} without CUs, but workgroups are dealt to XCDs round-robin, so that share of the grid can never run (the real part hangs); ${need}`,
  );
}

export function placeWorkgroups(workgroups: number, set: CuSet, layout: CuLayout, compute: ComputeConfig): Placement {
  const maxPerCu = maxWorkgroupsPerCu(workgroups, set, layout, compute);
  const roundRobin = dealtToGroups(layout, compute);
  const perGroup = new Float64Array(layout.groups);
  // Least-loaded: one pool of enabled CUs, accounted per group proportionally.
  for (let g = 0; g < layout.groups; g++) perGroup[g] = roundRobin ? dealtToGroup(g, workgroups, layout.groups) : (workgroups * set.perGroup[g]!) / set.count;
  return { perGroup, maxPerCu, busyCus: Math.min(workgroups, set.count) };
}

/**
 * How a grid occupies its CU set over time, for the CU gate (cu-gate.ts): whether every enabled CU
 * gets a workgroup (the grid fills the set), its waves (the most workgroups one CU runs), and how
 * many CUs its last wave keeps busy (fewer than the set: a partial last wave whose idle CUs another
 * kernel may use).
 */
export interface Occupancy {
  fills: boolean;
  waves: number;
  lastWaveCus: number;
}

export function occupancy(workgroups: number, set: CuSet, layout: CuLayout, compute: ComputeConfig): Occupancy {
  const fills = fillsCuSet(workgroups, set, layout, compute);
  if (workgroups < 1) return { fills, waves: 0, lastWaveCus: 0 };
  const waves = maxWorkgroupsPerCu(workgroups, set, layout, compute);
  if (!dealtToGroups(layout, compute)) return { fills, waves, lastWaveCus: Math.min(set.count, workgroups - (waves - 1) * set.count) };
  let lastWaveCus = 0;
  for (let g = 0; g < layout.groups; g++) {
    const cus = set.perGroup[g]!;
    if (cus > 0) lastWaveCus += Math.min(cus, Math.max(0, dealtToGroup(g, workgroups, layout.groups) - (waves - 1) * cus));
  }
  return { fills, waves, lastWaveCus };
}

/** Whether a grid gives every enabled CU of `set` a workgroup (Occupancy.fills, without the rest: asked at every launch). */
export function fillsCuSet(workgroups: number, set: CuSet, layout: CuLayout, compute: ComputeConfig): boolean {
  if (workgroups < set.count) return false;
  if (!dealtToGroups(layout, compute)) return true;
  for (let g = 0; g < layout.groups; g++) if (dealtToGroup(g, workgroups, layout.groups) < set.perGroup[g]!) return false;
  return true;
}

/** Whether workgroups are dealt to CU groups round-robin, whatever the mask. */
function dealtToGroups(layout: CuLayout, compute: ComputeConfig): boolean {
  return compute.dispatch === 'round-robin-groups' && layout.groups > 1;
}

/** Workgroups group g receives when `workgroups` are dealt round-robin over `groups` groups. */
function dealtToGroup(g: number, workgroups: number, groups: number): number {
  return Math.floor(workgroups / groups) + (g < workgroups % groups ? 1 : 0);
}
