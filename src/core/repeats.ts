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
