import type { z } from 'zod';

/**
 * The first item that repeats an earlier one, by `key` (the item itself by default): where the
 * earlier one is and where it comes again. Lists that must not repeat (a sweep axis's values, a
 * collective group's ranks, policy names) use this to name both places in their error.
 */
export function firstRepeat<T>(items: readonly T[], key: (item: T) => unknown = (item) => item): { first: number; again: number } | undefined {
  const seen = new Map<unknown, number>();
  for (let i = 0; i < items.length; i++) {
    const k = key(items[i]!);
    const first = seen.get(k);
    if (first !== undefined) return { first, again: i };
    seen.set(k, i);
  }
  return undefined;
}

/**
 * A schema issue for the first name given twice in a list of named entries (`studies.1.name:
 * expected a unique name, "x" is also studies.0.name`); entries without a name are skipped.
 * Rows, figures and comparisons find an entry by its name: two of one name would be mixed up.
 * Returns whether the names are unique.
 */
export function checkUniqueNames(ctx: z.RefinementCtx, list: string, names: ReadonlyArray<string | undefined>): boolean {
  const named = names.flatMap((name, i) => (name === undefined ? [] : [{ name, i }]));
  const twice = firstRepeat(named, (e) => e.name);
  if (!twice) return true;
  const [first, again] = [named[twice.first]!, named[twice.again]!];
  ctx.addIssue({ code: 'custom', path: [list, again.i, 'name'], message: `expected a unique name, "${again.name}" is also ${list}.${first.i}.name`, input: again.name });
  return false;
}
