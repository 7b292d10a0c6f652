import type { HardwareConfig } from '../../hw/config/schema.js';
import { simulateCollective, type CollectiveKind } from '../../hw/collectives/index.js';
import { hwKey } from './hw-key.js';

/**
 * Tensor-parallel collectives of an iteration, timed by the collective model (a ring or direct
 * plan executed as flows over the node's links and HBM).
 *
 * One simulated collective costs ~0.3 s of host time on an 8-GPU node, too much to pay for every
 * size an iteration's all-reduces take. So the model is run at sizes 4^k bytes (1 KiB, 4 KiB, ...)
 * and a size in between is interpolated linearly in bytes between its two neighbours. A collective's
 * time is affine in its size between those points (a fixed latency plus bytes over the ring's
 * bandwidth, once the buffer fills the pipeline chunks), so the interpolation error is small; the
 * grid points themselves are exact simulator results.
 */
export interface CollectiveTiming {
  ns: number;
  /** Payload this rank puts on its links. */
  linkBytesPerRank: number;
  hbmBytesPerRank: number;
}

const grid = new Map<string, CollectiveTiming>();
const memo = new Map<string, CollectiveTiming>();
let simulated = 0;

/** Number of collective simulations run so far in this process (for reports and tests). */
export function collectiveSimulations(): number {
  return simulated;
}

function atGrid(hw: HardwareConfig, tp: number, kind: string, bytes: number): CollectiveTiming {
  const key = `${hwKey(hw)}|${tp}|${kind}|${bytes}`;
  let t = grid.get(key);
  if (!t) {
    const run = simulateCollective(hw, tp, { kind: kind as CollectiveKind, bytes });
    simulated++;
    t = { ns: run.timeNs, linkBytesPerRank: run.linkBytes / tp, hbmBytesPerRank: run.hbmBytes / tp };
    grid.set(key, t);
  }
  return t;
}

export function collectiveTiming(hw: HardwareConfig, tp: number, kind: string, bytes: number): CollectiveTiming {
  if (tp <= 1 || bytes <= 0) return { ns: 0, linkBytesPerRank: 0, hbmBytesPerRank: 0 };
  const key = `${hwKey(hw)}|${tp}|${kind}|${bytes}`;
  let t = memo.get(key);
  if (!t) {
    const lo = Math.max(1024, 4 ** Math.floor(Math.log(bytes) / Math.log(4)));
    if (bytes <= lo) t = atGrid(hw, tp, kind, lo);
    else {
      const hi = lo * 4;
      const a = atGrid(hw, tp, kind, lo);
      const b = atGrid(hw, tp, kind, hi);
      const f = (bytes - lo) / (hi - lo);
      const mix = (x: number, y: number) => x + (y - x) * f;
      t = { ns: mix(a.ns, b.ns), linkBytesPerRank: mix(a.linkBytesPerRank, b.linkBytesPerRank), hbmBytesPerRank: mix(a.hbmBytesPerRank, b.hbmBytesPerRank) };
    }
    memo.set(key, t);
  }
  return t;
}
