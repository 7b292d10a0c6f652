import type { Resource } from '../../core/flow-network.js';
import type { Simulator } from '../../core/simulator.js';

/**
 * The CUs of each CU group that co-running kernels share as CU time (the flow solver's CU-group
 * resources), and the CUs taken out of that pool by whoever keeps them whole: a collective's CUs
 * (collectives/execute.ts), a kernel's partial last wave and a grid smaller than its CU set
 * (gpu.ts). A resident workgroup keeps its CU until it finishes; nobody shares it meanwhile.
 *
 * Capacities are recomputed from the group's size minus what is kept, never by adding back what was
 * taken, so millions of keeps and releases leave no floating-point residue: with nothing kept, a
 * group's capacity is exactly its CU count again.
 */
export class CuPool {
  private readonly kept: Float64Array;
  private keepers = 0;
  /** Who waits to keep CUs not yet free, in arrival order (cu-gate.ts's first come first served). */
  private readonly wanting: Array<{ perGroup: ArrayLike<number>; onKept: (release: () => void) => void }> = [];

  constructor(
    private readonly sim: Simulator,
    private readonly groups: readonly Resource[],
    private readonly cusInGroup: readonly number[],
  ) {
    this.kept = new Float64Array(groups.length);
  }

  /** CUs of group `g` nobody keeps. */
  free(g: number): number {
    return this.groups[g]!.capacity;
  }

  /** Whether a keep of `perGroup` CUs would be granted now: nobody waits before it, and they are free. */
  canKeep(perGroup: ArrayLike<number>): boolean {
    return this.wanting.length === 0 && this.fits(perGroup);
  }

  /** Whether `perGroup` CUs (fractional where a grid spreads over groups in proportion) are free in every group. */
  private fits(perGroup: ArrayLike<number>): boolean {
    for (let g = 0; g < this.groups.length; g++) if ((perGroup[g] ?? 0) > this.free(g) + 1e-9) return false;
    return true;
  }

  /**
   * Takes up to `perGroup` CUs out of the shared pool (what is free, where less) until the returned
   * release, which is safe to call more than once.
   */
  keep(perGroup: ArrayLike<number>): () => void {
    const taken = new Float64Array(this.groups.length);
    let any = false;
    for (let g = 0; g < this.groups.length; g++) {
      const take = Math.min(this.free(g), Math.max(0, perGroup[g] ?? 0));
      if (!(take > 0)) continue;
      taken[g] = take;
      this.kept[g]! += take;
      any = true;
    }
    if (!any) return () => {};
    this.keepers++;
    this.update();
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      for (let g = 0; g < this.groups.length; g++) this.kept[g]! -= taken[g]!;
      if (--this.keepers === 0) this.kept.fill(0);
      this.update();
      this.grant();
    };
  }

  /**
   * Keeps `perGroup` CUs as soon as all of them are free (now, or when a keeper releases), then
   * hands the release to `onKept`. Returns a cancel for a wait that is no longer wanted.
   */
  keepWhenFree(perGroup: ArrayLike<number>, onKept: (release: () => void) => void): () => void {
    if (this.canKeep(perGroup)) {
      onKept(this.keep(perGroup));
      return () => {};
    }
    const entry = { perGroup, onKept };
    this.wanting.push(entry);
    return () => {
      const i = this.wanting.indexOf(entry);
      if (i >= 0) this.wanting.splice(i, 1);
    };
  }

  /** Grants waiting keeps, in order, while the first of them fits. */
  private grant(): void {
    while (this.wanting.length > 0 && this.fits(this.wanting[0]!.perGroup)) {
      const entry = this.wanting.shift()!;
      entry.onKept(this.keep(entry.perGroup));
    }
  }

  private update(): void {
    for (let g = 0; g < this.groups.length; g++) this.sim.setCapacity(this.groups[g]!, Math.max(0, this.cusInGroup[g]! - this.kept[g]!));
  }
}
