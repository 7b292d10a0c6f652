import { sortFloat64 } from '../../core/sort-f64.js';
import type { Req } from './request-state.js';

/**
 * Serving metrics, collected in one place (Vidur style) and summarised at the end of a run.
 *
 * - TTFT: arrival to the first output token (end of the iteration that finishes the prompt).
 * - ITL: every gap between two consecutive output tokens of a request (percentiles over all gaps).
 * - TPOT: per request, (last token - first token) / (output tokens - 1).
 * - SLO: a request meets it when TTFT <= max(floor, prompt_tokens * ttft_ms_per_1k / 1000) and its
 *   ITL criterion (`tpot`: mean gap, the DistServe/Sarathi convention; or `max`: worst gap) <= itl_ms.
 *   Rejected and unfinished requests miss it. Percentiles interpolate linearly.
 */
export interface SloConfig {
  ttftMsPer1kPromptTokens: number;
  /** A prompt of a few tokens still needs one forward pass of the model: its TTFT SLO never goes below this. */
  ttftFloorMs: number;
  itlMs: number;
  itlMetric: 'tpot' | 'max';
  /** Share of requests that must meet both SLOs for a rate to count towards goodput. */
  targetShare: number;
}

export function defaultSlo(moe: boolean): SloConfig {
  // Published study: TTFT <= 1 s per 1,000 prompt tokens; ITL <= 100 ms dense / 50 ms MoE (mission §1).
  return { ttftMsPer1kPromptTokens: 1000, ttftFloorMs: 100, itlMs: moe ? 50 : 100, itlMetric: 'tpot', targetShare: 0.9 };
}

export function ttftSloMs(slo: SloConfig, promptTokens: number): number {
  return Math.max(slo.ttftFloorMs, (promptTokens * slo.ttftMsPer1kPromptTokens) / 1000);
}

export class GrowableF64 {
  data = new Float64Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  sorted(): Float64Array {
    return sortFloat64(this.data.slice(0, this.length));
  }
}

/** Linear-interpolation percentile of an ascending array (p in [0, 100]). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const x = (p / 100) * (n - 1);
  const lo = Math.floor(x);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (x - lo);
}

export function percentiles(values: ArrayLike<number>, prefix: string, unitSuffix: string, scale = 1): Record<string, number> {
  const sorted = sortFloat64(new Float64Array(values));
  const out: Record<string, number> = {};
  for (const p of [50, 90, 95, 99]) out[`${prefix}_p${p}_${unitSuffix}`] = percentile(sorted, p) * scale;
  // Summed in ascending order, as before: the mean's last bits depend on the order.
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  out[`${prefix}_mean_${unitSuffix}`] = sorted.length ? (sum / sorted.length) * scale : NaN;
  return out;
}

export interface RequestRow {
  [key: string]: string | number;
  id: number;
  status: string;
  reason: string;
  replica: number;
  arrival_ms: number;
  prompt_tokens: number;
  output_tokens: number;
  generated_tokens: number;
  ttft_ms: number;
  tpot_ms: number;
  itl_max_ms: number;
  e2e_ms: number;
  preemptions: number;
  meets_slo: number;
}

export class MetricsCollector {
  readonly itlNs = new GrowableF64();
  generatedTokens = 0;
  prefillTokens = 0;
  finished: Req[] = [];
  rejected: Req[] = [];
  /**
   * The measurement window of a steady-state run (steady-state.ts): output tokens generated in it,
   * by any request, give its throughput. The whole run otherwise.
   */
  windowStartNs = -Infinity;
  windowEndNs = Infinity;
  windowTokens = 0;

  constructor(readonly slo: SloConfig) {}

  /** Records one output token of `req` at `nowNs`; returns true when the request is complete. */
  token(req: Req, nowNs: number): boolean {
    if (nowNs >= this.windowStartNs && nowNs <= this.windowEndNs) this.windowTokens++;
    if (req.generated === 0) req.firstTokenNs = nowNs;
    else {
      const gap = nowNs - req.lastTokenNs;
      if (req.measured) this.itlNs.push(gap);
      req.itlSumNs += gap;
      if (gap > req.itlMaxNs) req.itlMaxNs = gap;
    }
    req.lastTokenNs = nowNs;
    req.generated++;
    this.generatedTokens++;
    if (req.generated >= req.outputTokens) {
      req.finishNs = nowNs;
      req.phase = 'done';
      this.finished.push(req);
      return true;
    }
    return false;
  }

  reject(req: Req, reason: string): void {
    req.phase = 'rejected';
    req.rejectReason = reason;
    this.rejected.push(req);
  }

  tpotNs(req: Req): number {
    return req.generated > 1 ? (req.lastTokenNs - req.firstTokenNs) / (req.generated - 1) : 0;
  }

  meetsTtft(req: Req): boolean {
    return req.firstTokenNs >= 0 && (req.firstTokenNs - req.arrivalNs) / 1e6 <= ttftSloMs(this.slo, req.promptTokens);
  }

  meetsItl(req: Req): boolean {
    const itl = this.slo.itlMetric === 'max' ? req.itlMaxNs : this.tpotNs(req);
    return itl / 1e6 <= this.slo.itlMs;
  }

  meetsSlo(req: Req): boolean {
    return req.phase === 'done' && this.meetsTtft(req) && this.meetsItl(req);
  }

  rows(all: readonly Req[]): RequestRow[] {
    return all.map((r) => {
      const done = r.phase === 'done';
      return {
        id: r.id,
        status: r.phase === 'done' ? 'completed' : r.phase === 'rejected' ? 'rejected' : 'unfinished',
        reason: r.rejectReason,
        replica: r.replica,
        arrival_ms: r.arrivalNs / 1e6,
        prompt_tokens: r.promptTokens,
        output_tokens: r.outputTokens,
        generated_tokens: r.generated,
        ttft_ms: r.firstTokenNs >= 0 ? (r.firstTokenNs - r.arrivalNs) / 1e6 : NaN,
        tpot_ms: done ? this.tpotNs(r) / 1e6 : NaN,
        itl_max_ms: r.itlMaxNs / 1e6,
        e2e_ms: done ? (r.finishNs - r.arrivalNs) / 1e6 : NaN,
        preemptions: r.preemptions,
        meets_slo: this.meetsSlo(r) ? 1 : 0,
      };
    });
  }

  /** Latency and SLO figures over the measured requests (rejected and unfinished ones count as misses). */
  summary(all: readonly Req[]): Record<string, number> {
    const done = all.filter((r) => r.phase === 'done');
    const ttft = done.map((r) => r.firstTokenNs - r.arrivalNs);
    const tpot = done.filter((r) => r.generated > 1).map((r) => this.tpotNs(r));
    const e2e = done.map((r) => r.finishNs - r.arrivalNs);
    let meet = 0;
    let meetTtft = 0;
    let meetItl = 0;
    for (const r of all) {
      if (r.phase !== 'done') continue;
      const t = this.meetsTtft(r);
      const i = this.meetsItl(r);
      if (t) meetTtft++;
      if (i) meetItl++;
      if (t && i) meet++;
    }
    const n = Math.max(1, all.length);
    return {
      ...percentiles(ttft, 'ttft', 'ms', 1e-6),
      ...percentiles(tpot, 'tpot', 'ms', 1e-6),
      ...percentiles(this.itlNs.data.subarray(0, this.itlNs.length), 'itl', 'ms', 1e-6),
      ...percentiles(e2e, 'e2e', 'ms', 1e-6),
      slo_attainment: meet / n,
      ttft_slo_attainment: meetTtft / n,
      itl_slo_attainment: meetItl / n,
    };
  }
}
