/**
 * Latency-bound producer speeds remembered by state. A speed is the fixed point latencyBoundSpeed
 * bisects (30 steps, an exponential each), a pure function of the policy's latency law and five
 * numbers, and the GPUs of a ring sample the same states over and over: the T3 study asks 1.76
 * million times for 1,468 distinct states. Keys are the numbers themselves in nested maps (no key
 * strings to format); a memo that outgrows its bound starts afresh, which changes no result.
 */
type Level = Map<number, Level | number>;

// The T3 study meets ~1,500 states; a sweep of such points in one lane meets more. Bounded so a
// long-lived lane never holds more than a few tens of MB of nested maps.
const MAX_ENTRIES = 50_000;

export class SpeedMemo {
  private root: Level = new Map();
  private entries = 0;

  /** The speed for this state: remembered, else `solve()`d and remembered. */
  speed(idleNs: number, hiddenNs: number, iterationNs: number, uComm: number, uFull: number, solve: () => number): number {
    const leaf = level(level(level(level(this.root, idleNs), hiddenNs), iterationNs), uComm);
    let speed = leaf.get(uFull) as number | undefined;
    if (speed === undefined) {
      speed = solve();
      if (++this.entries > MAX_ENTRIES) {
        this.root = new Map();
        this.entries = 0;
      } else leaf.set(uFull, speed);
    }
    return speed;
  }
}

function level(m: Level, key: number): Level {
  let next = m.get(key) as Level | undefined;
  if (next === undefined) m.set(key, (next = new Map()));
  return next;
}

const memos = new Map<string, SpeedMemo>();

/** The memo shared by every controller whose policy has this latency law (Arbiter.latencyLaw). */
export function speedMemoFor(latencyLaw: string): SpeedMemo {
  let memo = memos.get(latencyLaw);
  if (!memo) memos.set(latencyLaw, (memo = new SpeedMemo()));
  return memo;
}
