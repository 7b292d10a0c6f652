import type { CuSet } from './cu-mask.js';

/**
 * A memo per CU set: one value (e.g. a map of costs by shape) for every set with the same mask,
 * found through the CuSet object first, so a hot lookup neither builds nor hashes the mask's string
 * key (about 100 characters for 304 CUs). Sets made separately with the same CUs share the value.
 */
export class CuSetMemo<V> {
  private readonly byKey = new Map<string, V>();
  private readonly bySet = new WeakMap<CuSet, V>();

  constructor(private readonly make: () => V) {}

  get(cus: CuSet): V {
    let v = this.bySet.get(cus);
    if (v === undefined) {
      v = this.byKey.get(cus.key);
      if (v === undefined) this.byKey.set(cus.key, (v = this.make()));
      this.bySet.set(cus, v);
    }
    return v;
  }

  values(): IterableIterator<V> {
    return this.byKey.values();
  }
}
