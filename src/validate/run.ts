import { flagAsField, SilicaError, withErrorContext } from '../core/errors.js';
import { loadHardware } from '../hw/config/load.js';
import type { HardwareConfig } from '../hw/config/schema.js';
import type { ValidationPoint } from './points.js';
import { runnerFor } from './runners.js';

export interface PointResult {
  group: string;
  name: string;
  metric: string;
  unit: string;
  measured: number;
  simulated: number;
  error_pct: number;
  tolerance: string;
  within: boolean;
  informational: boolean;
  /** A constant of the part was read off this figure: a check of the fit, not a prediction. */
  fitted: boolean;
  source: string;
}

export interface ValidationReport {
  points: PointResult[];
  /**
   * Mean absolute percentage error per group, over its predictions: informational points and the
   * points a constant was fitted to are left out (a group of fits alone has no entry).
   */
  mapeByGroup: Record<string, number>;
  failed: number;
}

export interface ValidateOptions {
  /** Hardware for every point (a lab's own part): a preset name or YAML path. */
  hwOverride?: string;
  /** Field overrides applied to every point's hardware. */
  overlays?: string[];
  /** Before a point runs (a study-level point runs for seconds: progress can say which). */
  onStart?: (p: ValidationPoint, index: number, total: number) => void;
  onPoint?: (r: PointResult, index: number, total: number) => void;
}

export async function runValidation(points: ValidationPoint[], options: ValidateOptions = {}): Promise<ValidationReport> {
  const hwCache = new Map<string, HardwareConfig>();
  const hwFor = (name: string | undefined): HardwareConfig | undefined => {
    const key = options.hwOverride ?? name;
    if (!key) return undefined;
    if (!hwCache.has(key)) hwCache.set(key, loadHardware(key, options.overlays ?? []));
    return hwCache.get(key);
  };
  const results: PointResult[] = [];
  for (const [i, p] of points.entries()) {
    options.onStart?.(p, i, points.length);
    // Runners share the CLI's models, whose messages name flags (`gemm -m`): here those are the point's params.
    const values = await withErrorContext(where(p), () => runPoint(p, hwFor, options), (m) => flagAsField(m.replace(/^validation /, ''), (f) => `params.${f}`));
    const simulated = values[p.metric];
    if (simulated === undefined) throw new SilicaError(`${where(p)}: metric: runner ${p.runner} has no metric ${p.metric} (it gives ${Object.keys(values).join(', ')})`);
    const errorPct = ((simulated - p.measured) / p.measured) * 100;
    const within = p.band ? simulated >= p.band[0] && simulated <= p.band[1] : Math.abs(errorPct) <= p.tolerance_pct!;
    const r: PointResult = {
      group: p.group,
      name: p.name,
      metric: p.metric,
      unit: p.unit,
      measured: p.measured,
      simulated,
      error_pct: errorPct,
      tolerance: p.band ? `[${p.band[0]}, ${p.band[1]}]` : `±${p.tolerance_pct}%`,
      within,
      informational: p.informational,
      fitted: p.fitted,
      source: p.source,
    };
    results.push(r);
    options.onPoint?.(r, i, points.length);
  }
  const mapeByGroup: Record<string, number> = {};
  const groups = [...new Set(results.map((r) => r.group))];
  for (const g of groups) {
    const rs = results.filter((r) => r.group === g && !r.informational && !r.fitted);
    if (rs.length) mapeByGroup[g] = rs.reduce((s, r) => s + Math.abs(r.error_pct), 0) / rs.length;
  }
  return { points: results, mapeByGroup, failed: results.filter((r) => !r.within && !r.informational).length };
}

/** `FILE: points.N ("name")`: what every message about a point starts with. */
function where(p: ValidationPoint): string {
  return `${p.origin ?? 'validation point'} ("${p.name}")`;
}

/**
 * Runs a point's runner, then refuses parameters it never read: a misspelt or foreign key would
 * otherwise be silently ignored and the point would validate something other than it says.
 */
async function runPoint(p: ValidationPoint, hwFor: (name: string | undefined) => HardwareConfig | undefined, options: ValidateOptions): Promise<Record<string, number>> {
  const read = new Set<string>();
  const params = new Proxy(p.params, {
    get(target, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key, receiver);
    },
  });
  const runner = runnerFor(p.runner);
  let hw: HardwareConfig | undefined;
  try {
    hw = hwFor(p.hw);
  } catch (err) {
    // The preset loader speaks of the CLI flag; here the name came from the point's `hw` field.
    if (err instanceof SilicaError && !options.hwOverride) throw new SilicaError(`hw: ${err.message.replace(/^--hw: /, '')}`);
    throw err;
  }
  const values = await runner(hw, params, { hwRef: options.hwOverride ?? p.hw, overlays: options.overlays ?? [] });
  const unread = Object.keys(p.params).filter((k) => !read.has(k));
  if (unread.length) {
    throw new SilicaError(`params.${unread[0]}: not a parameter of runner ${p.runner} (it read ${[...read].sort().join(', ') || 'none'})`);
  }
  return values;
}
