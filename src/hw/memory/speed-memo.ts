/**
 * Latency-bound producer speeds remembered by state. A speed is the fixed point latencyBoundSpeed
 * bisects (30 steps, an exponential each), a pure function of the policy's latency law and five
 * numbers, and the GPUs of a ring sample the same states over and over: the T3 study asks 1.76
 * million times for 1,468 distinct states. A memo that outgrows its bound starts afresh, which
 * changes no result.
 *
 * The states are kept in an open-addressing table over typed arrays, the five numbers of a state
 * side by side. Until session 40 they were keys of nested Maps: a Map takes a number as an object,
 * so every ask boxed four or five of them, and with the closure that solved a miss that was most
 * of what the T3 study's memory sampler allocated (0.3 GB of the 4.6 GB the study then allocated).
 */

// The T3 study meets ~1,500 states; a sweep of such points in one lane meets more. Bounded so a
// long-lived lane never holds more than a few MB of table.
const MAX_ENTRIES = 50_000;
const KEYS = 5;

/** Scratch for reading a double's bits (hashing). */
const bits = new Float64Array(1);
const words = new Int32Array(bits.buffer);

/** Mixes a double's bits into an FNV-1a style hash. */
function mix(h: number, x: number): number {
  bits[0] = x;
  h = Math.imul(h ^ words[0]!, 0x01000193);
  return Math.imul(h ^ words[1]!, 0x01000193);
}

function hashOf(a: number, b: number, c: number, d: number, e: number): number {
  const h = mix(mix(mix(mix(mix(0x811c9dc5, a), b), c), d), e);
  return h ^ (h >>> 15);
}

export class SpeedMemo {
  /** Slots: a power of two, at most half of them used. */
  private slots = 0;
  private keys = new Float64Array(0);
  private speeds = new Float64Array(0);
  private used = new Uint8Array(0);
  private entries = 0;

  constructor() {
    this.reset(1024);
  }

  /** The speed for this state: remembered, else `solve()`d and remembered. */
  speed(idleNs: number, hiddenNs: number, iterationNs: number, uComm: number, uFull: number, solve: () => number): number {
    const known = this.find(idleNs, hiddenNs, iterationNs, uComm, uFull);
    if (!Number.isNaN(known)) return known;
    const speed = solve();
    this.remember(idleNs, hiddenNs, iterationNs, uComm, uFull, speed);
    return speed;
  }

  /** The remembered speed for this state, or NaN (no closure to build on the path that finds one). */
  find(idleNs: number, hiddenNs: number, iterationNs: number, uComm: number, uFull: number): number {
    // + 0 makes -0 the key +0 is, as the Map keys these were (SameValueZero) had it.
    const a = idleNs + 0;
    const b = hiddenNs + 0;
    const c = iterationNs + 0;
    const d = uComm + 0;
    const e = uFull + 0;
    const mask = this.slots - 1;
    const keys = this.keys;
    for (let i = hashOf(a, b, c, d, e) & mask; this.used[i]; i = (i + 1) & mask) {
      const k = i * KEYS;
      if (keys[k] === a && keys[k + 1] === b && keys[k + 2] === c && keys[k + 3] === d && keys[k + 4] === e) return this.speeds[i]!;
    }
    return NaN;
  }

  /** Remembers `speed` for a state `find` did not know. */
  remember(idleNs: number, hiddenNs: number, iterationNs: number, uComm: number, uFull: number, speed: number): void {
    if (++this.entries > MAX_ENTRIES) {
      this.reset(1024);
      return;
    }
    if (2 * this.entries > this.slots) this.grow();
    this.put(idleNs + 0, hiddenNs + 0, iterationNs + 0, uComm + 0, uFull + 0, speed);
  }

  private put(a: number, b: number, c: number, d: number, e: number, speed: number): void {
    const mask = this.slots - 1;
    let i = hashOf(a, b, c, d, e) & mask;
    while (this.used[i]) i = (i + 1) & mask;
    const k = i * KEYS;
    this.keys[k] = a;
    this.keys[k + 1] = b;
    this.keys[k + 2] = c;
    this.keys[k + 3] = d;
    this.keys[k + 4] = e;
    this.speeds[i] = speed;
    this.used[i] = 1;
  }

  private reset(slots: number): void {
    this.slots = slots;
    this.keys = new Float64Array(slots * KEYS);
    this.speeds = new Float64Array(slots);
    this.used = new Uint8Array(slots);
    this.entries = 0;
  }

  private grow(): void {
    const { slots, keys, speeds, used, entries } = this;
    this.reset(slots * 2);
    this.entries = entries;
    for (let i = 0; i < slots; i++) {
      if (!used[i]) continue;
      const k = i * KEYS;
      this.put(keys[k]!, keys[k + 1]!, keys[k + 2]!, keys[k + 3]!, keys[k + 4]!, speeds[i]!);
    }
  }
}

const memos = new Map<string, SpeedMemo>();

/** The memo shared by every controller whose policy has this latency law (Arbiter.latencyLaw). */
export function speedMemoFor(latencyLaw: string): SpeedMemo {
  let memo = memos.get(latencyLaw);
  if (!memo) memos.set(latencyLaw, (memo = new SpeedMemo()));
  return memo;
}
