import { OP_CATEGORIES, PASSES } from '../kernels/types.js';

/**
 * Time breakdown of one rank's timeline whose parts sum to the total.
 *
 * The rule (stated once, here): every instant of the rank's timeline [0, total) is attributed to
 * exactly one bucket, by the first that applies:
 *   1. GPU work running (a kernel, or a node replayed from its recorded duration): the category
 *      and pass of the one that was issued earliest (ties: program order). Co-running kernels
 *      therefore do not double count; the earliest-issued one owns the instant.
 *   2. Else communication in flight (a collective or point-to-point node from the moment this
 *      rank issued it, waiting for peers included, to its completion): 'communication', with
 *      that node's pass. Communication hidden under GPU work is thus not counted: only exposed
 *      communication shows.
 *   3. Else a host (CPU) op running: 'host' (with that op's pass).
 *   4. Else 'idle' (waiting on another rank, or finished before the slowest rank).
 * Each bucket is the measure of its instants, so the buckets sum to the total by construction.
 */
export const BREAKDOWN_RULE =
  'each instant of the rank timeline goes to one bucket: running GPU work (earliest-issued kernel\'s category and pass) > exposed communication (issue to completion) > host op > idle';

export interface Interval {
  startNs: number;
  endNs: number;
  /** 0: GPU work, 1: communication, 2: host op. */
  cls: 0 | 1 | 2;
  category: string;
  pass: string;
  /** Tie-break: issue order. */
  order: number;
}

export interface Breakdown {
  rank: number;
  totalNs: number;
  byCategory: Record<string, number>;
  byPass: Record<string, number>;
  byCategoryPass: Record<string, Record<string, number>>;
  rule: string;
}

export function attributeTimeline(intervals: readonly Interval[], totalNs: number, rank = 0): Breakdown {
  // Boundaries: ends sort before starts at the same instant, so zero-length gaps cost nothing.
  // Zero-length intervals own no instant and are left out.
  const kept: number[] = [];
  for (let k = 0; k < intervals.length; k++) if (intervals[k]!.endNs > intervals[k]!.startNs) kept.push(k);
  const n = kept.length;
  const times = new Float64Array(2 * n);
  const ids = new Int32Array(2 * n);
  const order = Array.from({ length: 2 * n }, (_, k) => k);
  for (let j = 0; j < n; j++) {
    const k = kept[j]!;
    times[2 * j] = intervals[k]!.startNs;
    times[2 * j + 1] = intervals[k]!.endNs;
    ids[2 * j] = k;
    ids[2 * j + 1] = k;
  }
  order.sort((a, b) => times[a]! - times[b]! || (b & 1) - (a & 1) || a - b);
  const cat = new Map<string, number>();
  const pass = new Map<string, number>();
  const catPass = new Map<string, Map<string, number>>();
  const add = (c: string, p: string, dt: number) => {
    cat.set(c, (cat.get(c) ?? 0) + dt);
    pass.set(p, (pass.get(p) ?? 0) + dt);
    let m = catPass.get(c);
    if (!m) catPass.set(c, (m = new Map()));
    m.set(p, (m.get(p) ?? 0) + dt);
  };
  const active: number[] = [];
  let prev = 0;
  let attributed = 0;
  for (const e of order) {
    const t = Math.min(times[e]!, totalNs);
    if (t > prev && active.length > 0) {
      const best = intervals[pick(intervals, active)]!;
      const c = best.cls === 0 ? best.category : best.cls === 1 ? 'communication' : 'host';
      add(c, best.pass, t - prev);
      attributed += t - prev;
    }
    if (t > prev) prev = t;
    const k = ids[e]!;
    if ((e & 1) === 0) active.push(k);
    else active.splice(active.indexOf(k), 1);
  }
  const idle = Math.max(0, totalNs - attributed);
  add('idle', 'idle', idle);
  return { rank, totalNs, byCategory: ordered(cat, [...OP_CATEGORIES, 'host', 'idle'], ['host']), byPass: ordered(pass, [...PASSES, 'idle'], []), byCategoryPass: nested(catPass), rule: BREAKDOWN_RULE };
}

function pick(intervals: readonly Interval[], active: number[]): number {
  let best = active[0]!;
  for (let j = 1; j < active.length; j++) {
    const a = intervals[active[j]!]!;
    const b = intervals[best]!;
    if (a.cls < b.cls || (a.cls === b.cls && (a.startNs < b.startNs || (a.startNs === b.startNs && a.order < b.order)))) best = active[j]!;
  }
  return best;
}

/** Known keys first in their usual order (always present, 0 when unused, except `optional`), then the rest sorted. */
function ordered(m: Map<string, number>, known: string[], optional: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of known) if (m.has(k) || !optional.includes(k)) out[k] = m.get(k) ?? 0;
  for (const k of [...m.keys()].sort()) if (!(k in out)) out[k] = m.get(k)!;
  return out;
}

function nested(m: Map<string, Map<string, number>>): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const keys = [...m.keys()].sort((a, b) => rankOf(a) - rankOf(b) || a.localeCompare(b));
  for (const k of keys) {
    const inner = m.get(k)!;
    out[k] = {};
    for (const p of [...inner.keys()].sort((a, b) => rankOfPass(a) - rankOfPass(b) || a.localeCompare(b))) out[k][p] = inner.get(p)!;
  }
  return out;
}

const CAT_ORDER: string[] = [...OP_CATEGORIES, 'host', 'idle'];
const PASS_ORDER: string[] = [...PASSES, 'host', 'idle'];
const rankOf = (k: string) => (CAT_ORDER.includes(k) ? CAT_ORDER.indexOf(k) : CAT_ORDER.length);
const rankOfPass = (k: string) => (PASS_ORDER.includes(k) ? PASS_ORDER.indexOf(k) : PASS_ORDER.length);
