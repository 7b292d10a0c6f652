/**
 * `compute` remembered per key, for functions called with a few distinct keys millions of times
 * (a sweep's dotted paths and config keys, once per point). Past `limit` distinct keys the memo
 * starts over, so a caller with ever new keys costs memory no more than `limit` entries.
 */
export function boundedMemo<K, V>(compute: (key: K) => V, limit = 4096): (key: K) => V {
  return boundedMemoBy((key: K) => key, compute, limit);
}

/**
 * `boundedMemo` for a function of several arguments, remembered by the key `keyOf` makes of them.
 * A call that throws remembers nothing.
 */
export function boundedMemoBy<A extends unknown[], K, V>(keyOf: (...args: A) => K, compute: (...args: A) => V, limit = 4096): (...args: A) => V {
  const memo = new Map<K, V>();
  return (...args: A): V => {
    const key = keyOf(...args);
    let value = memo.get(key);
    if (value === undefined) {
      value = compute(...args);
      if (memo.size >= limit) memo.clear();
      memo.set(key, value);
    }
    return value;
  };
}
