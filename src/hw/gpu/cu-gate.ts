import { cuSetsOverlap, type CuSet } from './cu-mask.js';

/**
 * Which kernels may hold the same CUs at once: the workgroup dispatcher's "leftover" rule. The
 * dispatcher hands CU slots to kernels in the order they arrive and gives a later kernel only the
 * slots an earlier one leaves. In silica a CU runs one workgroup at a time, so a kernel whose grid
 * fills its CU set (a workgroup for every CU: dispatcher.ts `occupancy`) holds those CUs until its
 * last workgroup is dispatched (Gpu hands them back at the start of a partial last wave, else at
 * its end), and a kernel on any of them, from another stream, waits until then; a kernel with
 * fewer workgroups than CUs leaves the rest. A last wave, and a grid of one wave, keeps its own
 * CUs and runs at its own pace (cu-pool.ts); kernels that do share CUs share their time through the
 * flow solver.
 *
 * Measured on an H200 (validation/measured/h200-141gb-hbm3e-dma.json, `contention`; points in
 * validation/shared-sms.yaml): a stream of 512 MiB copies beside a stream of 8192^3 GEMMs, both on
 * the whole chip, slows 1.97-2.01x while the GEMMs slow 1.10-1.17x: the kernels take turns, one of
 * each, as this gate has them. Sharing the SMs' time by equal slowdown instead would slow both 1.3x.
 * A kernel profile of unmasked prefill and decode lanes (h200-141gb-hbm3e-serving-timeline.json)
 * shows the same turns, each next kernel starting in the tail of the one before.
 */

/** A running kernel's hold on the CUs its grid fills. */
export interface CuHold {
  readonly set: CuSet;
  /** Set once a kernel waits on these CUs; then `onContended` (if the holder gave one) runs. */
  contended: boolean;
  /** The holder's way to hand the CUs back before it ends (armed only when someone waits). */
  onContended?: () => void;
}

export class CuGate {
  private readonly holding: CuHold[] = [];
  /** Kernels waiting for held CUs, in arrival order (none overtakes an earlier one on its CUs). */
  private readonly waiting: Array<{ set: CuSet; hold: CuHold | undefined; start: () => void }> = [];

  /** Whether no kernel waits (then a release has nothing to start). */
  get idle(): boolean {
    return this.waiting.length === 0;
  }

  /**
   * Starts a kernel on `set` now if those CUs are free, else when they are. `hold` is given for a
   * kernel whose grid fills `set`: it holds the CUs from its start until `release(hold)`.
   */
  admit(set: CuSet, hold: CuHold | undefined, start: () => void): void {
    if (this.blocked(set, this.waiting.length)) {
      this.waiting.push({ set, hold, start });
      this.contend(set);
      return;
    }
    if (hold) this.holding.push(hold);
    start();
  }

  /** The CUs of `hold` go to the waiting kernels, first come first served. */
  release(hold: CuHold): void {
    const i = this.holding.indexOf(hold);
    if (i >= 0) this.holding.splice(i, 1);
    if (this.waiting.length === 0) return;
    const ready: Array<() => void> = [];
    for (let w = 0; w < this.waiting.length; ) {
      const entry = this.waiting[w]!;
      if (this.blocked(entry.set, w)) {
        w++;
        continue;
      }
      this.waiting.splice(w, 1);
      if (entry.hold) this.holding.push(entry.hold);
      ready.push(entry.start);
    }
    // Started after the scan: a kernel with no work finishes (and releases) inside start().
    for (const start of ready) start();
    for (const entry of this.waiting) this.contend(entry.set);
  }

  /** Whether `set` overlaps a held set or one of the first `before` waiting kernels' sets. */
  private blocked(set: CuSet, before: number): boolean {
    for (const held of this.holding) if (cuSetsOverlap(held.set, set)) return true;
    for (let w = 0; w < before; w++) if (cuSetsOverlap(this.waiting[w]!.set, set)) return true;
    return false;
  }

  /**
   * Tells the holders of CUs in `set` that a kernel waits for them (once each). Called only once
   * the waiter is queued: a holder may hand its CUs back at once, and the release must find it.
   */
  private contend(set: CuSet): void {
    for (const held of this.holding) {
      if (held.contended || !cuSetsOverlap(held.set, set)) continue;
      held.contended = true;
      held.onContended?.();
    }
  }
}
