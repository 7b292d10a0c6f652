/**
 * `compute` remembered per key, for functions called with a few distinct keys millions of times
 * (a sweep's dotted paths and config keys, once per point). Past `limit` distinct keys the memo
 * starts over, so a caller with ever new keys costs memory no more than `limit` entries.
 */
export function boundedMemo<K, V>(compute: (key: K) => V, limit = 4096): (key: K) => V {
  const memo = new Map<K, V>();
  return (key: K): V => {
    let value = memo.get(key);
    if (value === undefined) {
      value = compute(key);
      if (memo.size >= limit) memo.clear();
      memo.set(key, value);
    }
    return value;
  };
}
