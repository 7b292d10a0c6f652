/**
 * Largest and smallest of a list, as Math.max and Math.min give them (NaN if any is NaN, +0 above
 * -0, -Infinity and Infinity for none), by a loop. `Math.max(...xs)` passes every element as an
 * argument on the stack, and V8 throws "Maximum call stack size exceeded" somewhere past 120,000 of
 * them: a sweep's points, a plot's rows or a serving run's requests easily exceed that.
 */
export function maxOf(values: Iterable<number>): number {
  let max = -Infinity;
  for (const v of values) if (v > max || Number.isNaN(v) || (v === 0 && Object.is(max, -0))) max = v;
  return max;
}

export function minOf(values: Iterable<number>): number {
  let min = Infinity;
  for (const v of values) if (v < min || Number.isNaN(v) || (Object.is(v, -0) && min === 0)) min = v;
  return min;
}
