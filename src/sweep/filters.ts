import { SilicaError, describe } from '../core/errors.js';
import { lookupPath } from '../core/tree.js';

/**
 * Sweep filters drop points from the expansion. Each filter is `exclude: {...}` (drop points that
 * match every condition) or `keep: {...}` (drop points that do not). A condition is keyed by a
 * dotted path into the point's config (or `variant`) and is a value (equal), a list (one of) or a
 * mapping of {min, max, in, not}; `not` is a value or a list (none of).
 */
export interface FilterCondition {
  equals?: unknown;
  in?: unknown[];
  /** Values the field must not take (`not: 1` is `not: [1]`). */
  not?: unknown[];
  min?: number;
  max?: number;
}

export interface SweepFilter {
  action: 'exclude' | 'keep';
  conditions: Array<{ path: string; test: FilterCondition }>;
}

const CONDITION_KEYS = new Set(['min', 'max', 'in', 'not']);

export function parseFilters(raw: unknown, file: string): SweepFilter[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new SilicaError(`${file}: filters: expected a list of {exclude: {...}} or {keep: {...}}, got ${describe(raw)}`);
  return raw.map((entry, i) => {
    const field = `filters.${i}`;
    if (!entry || typeof entry !== 'object' || Array.isArray(entry) || Object.keys(entry).length !== 1) {
      throw new SilicaError(`${file}: ${field}: expected a mapping with exactly one of exclude or keep, got ${describe(entry)}`);
    }
    const [action, body] = Object.entries(entry)[0]!;
    if (action !== 'exclude' && action !== 'keep') throw new SilicaError(`${file}: ${field}: expected exclude or keep, got "${action}"`);
    if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length === 0) {
      const got = body && typeof body === 'object' && !Array.isArray(body) ? 'an empty mapping' : describe(body);
      throw new SilicaError(`${file}: ${field}.${action}: expected a mapping of path: condition, got ${got}`);
    }
    const conditions = Object.entries(body as Record<string, unknown>).map(([path, cond]) => ({ path, test: parseCondition(cond, file, `${field}.${action}.${path}`) }));
    return { action, conditions };
  });
}

/**
 * A list's entries are values to compare with. An entry that is a mapping with a condition key
 * (`not: [{min: 2}]`, `[{max: 8}]`, `[{max: 2, foo: 1}]`) reads as a condition inside the list,
 * which would be compared as a value and match nothing: refused, since no config field silica
 * sweeps holds a mapping with such a key.
 */
function checkListValues(list: unknown[], file: string, field: string): unknown[] {
  list.forEach((v, i) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return;
    const keys = Object.keys(v);
    const conditionKeys = keys.filter((k) => CONDITION_KEYS.has(k));
    if (conditionKeys.length === 0) return;
    const got = conditionKeys.length === keys.length ? `the condition ${JSON.stringify(v)}` : `${JSON.stringify(v)}, a mapping with the condition key ${conditionKeys.join(', ')}`;
    throw new SilicaError(`${file}: ${field}.${i}: expected a value to compare with, got ${got} (conditions do not nest in lists)`);
  });
  return list;
}

function parseCondition(cond: unknown, file: string, field: string): FilterCondition {
  if (Array.isArray(cond)) return { in: checkListValues(cond, file, field) };
  if (cond && typeof cond === 'object') {
    const keys = Object.keys(cond);
    const bad = keys.find((k) => !CONDITION_KEYS.has(k));
    if (bad !== undefined || keys.length === 0) {
      throw new SilicaError(`${file}: ${field}: expected a value, a list, or a mapping of min/max/in/not${bad ? `, got key "${bad}"` : ''}`);
    }
    const c = cond as Omit<FilterCondition, 'not'> & { not?: unknown };
    for (const k of ['min', 'max'] as const) {
      if (c[k] !== undefined && typeof c[k] !== 'number') throw new SilicaError(`${file}: ${field}.${k}: expected a number, got ${describe(c[k])}`);
    }
    if (c.in !== undefined && !Array.isArray(c.in)) throw new SilicaError(`${file}: ${field}.in: expected a list, got ${describe(c.in)}`);
    if (c.in !== undefined) checkListValues(c.in, file, `${field}.in`);
    if (c.not === undefined) return c as FilterCondition;
    // A mapping under `not` ({min: 2}) reads as a negated condition, which filters do not have: it would match nothing.
    if (c.not === null || (typeof c.not === 'object' && !Array.isArray(c.not))) {
      throw new SilicaError(`${file}: ${field}.not: expected a value or a list of values, got ${describe(c.not)}`);
    }
    return { ...c, not: Array.isArray(c.not) ? checkListValues(c.not, file, `${field}.not`) : [c.not] };
  }
  return { equals: cond };
}

/** The paths filters read, for checking that each exists in the base experiment. */
export function filterPaths(filters: readonly SweepFilter[]): Array<{ path: string; field: string }> {
  return filters.flatMap((f, i) => f.conditions.map((c) => ({ path: c.path, field: `filters.${i}.${f.action}.${c.path}` })));
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function matches(value: unknown, test: FilterCondition): boolean {
  if ('equals' in test) return same(value, test.equals);
  if (test.in !== undefined && !test.in.some((v) => same(v, value))) return false;
  if (test.not !== undefined && test.not.some((v) => same(v, value))) return false;
  if (test.min !== undefined && !(typeof value === 'number' && value >= test.min)) return false;
  if (test.max !== undefined && !(typeof value === 'number' && value <= test.max)) return false;
  return true;
}

/** True when the point survives every filter. `variant` is addressable by that name. */
export function passesFilters(filters: readonly SweepFilter[], config: unknown, variant: string | undefined): boolean {
  for (const f of filters) {
    const all = f.conditions.every(({ path, test }) => {
      if (path === 'variant') return matches(variant, test);
      const found = lookupPath(config, path);
      return found.found && matches(found.value, test);
    });
    if (f.action === 'exclude' && all) return false;
    if (f.action === 'keep' && !all) return false;
  }
  return true;
}
