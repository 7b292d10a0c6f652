/**
 * Stats registry: named counters and accumulators that components register once and bump in
 * their hot paths. Names are dotted paths with units (`gpu0.hbm.read_bytes`), so a dump is a
 * tidy table without translation.
 */
export class StatsRegistry {
  private values = new Map<string, number>();

  add(name: string, amount: number): void {
    this.values.set(name, (this.values.get(name) ?? 0) + amount);
  }

  set(name: string, value: number): void {
    this.values.set(name, value);
  }

  max(name: string, value: number): void {
    const prev = this.values.get(name);
    if (prev === undefined || value > prev) this.values.set(name, value);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** Sum of every counter whose name matches the predicate. */
  sum(match: (name: string) => boolean): number {
    let total = 0;
    for (const [name, value] of this.values) if (match(name)) total += value;
    return total;
  }

  /** Sorted snapshot: deterministic output order. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of [...this.values.keys()].sort()) out[name] = this.values.get(name)!;
    return out;
  }
}
