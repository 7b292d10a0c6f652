import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { loadHardware } from '../../src/hw/config/load.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange, cuSetFromBits, cuSetsOverlap, firstNCus, type CuSet } from '../../src/hw/gpu/cu-mask.js';
import { occupancy } from '../../src/hw/gpu/dispatcher.js';
import { Stream } from '../../src/hw/gpu/gpu.js';
import { System } from '../../src/hw/system.js';
import type { KernelCost } from '../../src/kernels/types.js';
import { runnerFor } from '../../src/validate/index.js';

// Kernels that take turns on shared CUs (src/hw/gpu/cu-gate.ts): the dispatcher gives a later
// kernel only the CUs an earlier one leaves.
const hw = loadHardware('h200-sxm');
const layout = makeCuLayout(hw.compute);
const ALL = firstNCus(layout, layout.cus);

/** A compute-bound kernel of `workgroups` identical workgroups (no DRAM traffic, so only CUs are shared). */
function kernel(name: string, workgroups: number, vectorFlops = 2e6): KernelCost {
  return {
    name,
    category: 'elementwise',
    workgroups,
    perWorkgroup: { matrixFlops: 0, vectorFlops, cuBytes: 0 },
    dtype: 'fp32',
    flops: workgroups * vectorFlops,
    hbmReadBytes: 0,
    hbmWriteBytes: 0,
  };
}

/** Issues each [kernel, CU set] on its own stream at time 0; returns each one's end and the launch latency. */
function run(items: Array<[KernelCost, CuSet]>): { ends: number[]; starts: number[]; fixedNs: number } {
  const system = new System(hw, 1);
  const gpu = system.gpus[0]!;
  const ends = items.map(() => NaN);
  const starts = items.map(() => NaN);
  items.forEach(([k, set], i) =>
    new Stream(gpu, `s${i}`, set).enqueue(k, {
      onComplete: (r) => {
        ends[i] = system.sim.nowNs;
        starts[i] = r.startNs;
      },
    }),
  );
  system.sim.run();
  return { ends, starts, fixedNs: gpu.timing(items[0]![0], items[0]![1]).fixedNs };
}

const alone = (k: KernelCost, set: CuSet = ALL) => run([[k, set]]).ends[0]!;

describe('CU gate: kernels of different streams on shared CUs', () => {
  it('two kernels that fill the chip with whole waves run one after the other (closed form)', () => {
    const a = kernel('a', 2 * layout.cus);
    const b = kernel('b', 3 * layout.cus);
    const { ends, starts, fixedNs } = run([[a, ALL], [b, ALL]]);
    expect(ends[0]).toBeCloseTo(alone(a), 6);
    // b's launch latency passes while a runs; then b waits for a's CUs and runs alone.
    expect(ends[1]).toBeCloseTo(alone(a) + alone(b) - fixedNs, 6);
    // Its record starts where it could (its launch latency before a's end), not at its issue.
    expect(starts[0]).toBe(0);
    expect(starts[1]).toBeCloseTo(alone(a) - fixedNs, 6);
  });

  it('a partial last wave frees its idle CUs: the waiting kernel starts when that wave starts, not at the end', () => {
    const a = kernel('a', 2 * layout.cus + 12); // three waves, the last of 12 workgroups
    const b = kernel('b', 3 * layout.cus);
    const { ends, fixedNs } = run([[a, ALL], [b, ALL]]);
    const strict = alone(a) + alone(b) - fixedNs;
    expect(ends[1]).toBeLessThan(strict - 1);
    // No earlier than the start of a's last wave plus b's own time on the chip.
    expect(ends[1]).toBeGreaterThanOrEqual(fixedNs + ((alone(a) - fixedNs) * 2) / 3 + (alone(b) - fixedNs) - 1e-6);
    // The last wave keeps its CUs: the holder is not slowed by the kernel that starts beside it.
    expect(ends[0]).toBeCloseTo(alone(a), 6);
  });

  it('kernels with fewer workgroups than CUs leave the rest: together they take no longer than alone', () => {
    const a = kernel('a', 60);
    const b = kernel('b', 60);
    const { ends } = run([[a, ALL], [b, ALL]]);
    expect(ends[0]).toBeCloseTo(alone(a), 6);
    expect(ends[1]).toBeCloseTo(alone(b), 6);
  });

  it('kernels on disjoint CU sets never wait for each other', () => {
    const half = layout.cus / 2;
    const left = cuRange(layout, 0, half);
    const right = cuRange(layout, half, half);
    expect(cuSetsOverlap(left, right)).toBe(false);
    const a = kernel('a', 4 * half);
    const { ends } = run([[a, left], [a, right]]);
    expect(ends[0]).toBeCloseTo(alone(a, left), 6);
    expect(ends[1]).toBeCloseTo(alone(a, right), 6);
  });

  it('waiting kernels get the CUs in arrival order; one on other CUs is not held up by them', () => {
    const big = kernel('big', 4 * layout.cus);
    const half = cuRange(layout, 0, layout.cus / 2);
    const other = cuRange(layout, layout.cus / 2, layout.cus / 2);
    // s0 holds the chip; s1 (all CUs) and s2 (the first half) wait in that order; s3 on the second half, launched last, waits too (s0 holds it).
    const { ends } = run([[big, ALL], [big, ALL], [kernel('h', layout.cus / 2), half], [kernel('o', layout.cus / 2), other]]);
    expect(ends[1]).toBeGreaterThan(ends[0]!);
    expect(ends[2]).toBeGreaterThan(ends[1]!); // s2 may not overtake s1, which arrived first on its CUs
    expect(ends[3]).toBeGreaterThan(ends[1]!); // s3's CUs overlap s1's, and s1 arrived first
  });

  it('a kernel that arrives after the holder\'s last wave began starts at once (the holder hands its CUs back)', () => {
    const a = kernel('a', 2 * layout.cus + 12);
    const b = kernel('b', layout.cus);
    const system = new System(hw, 1);
    const gpu = system.gpus[0]!;
    const ends = [NaN, NaN];
    new Stream(gpu, 'a', ALL).enqueue(a, { onComplete: () => (ends[0] = system.sim.nowNs) });
    const arriveNs = alone(a) * 0.9; // a's last wave started at 2/3 of its run
    system.sim.after(arriveNs, () => new Stream(gpu, 'b', ALL).enqueue(b, { onComplete: () => (ends[1] = system.sim.nowNs) }));
    system.sim.run();
    expect(ends[1]).toBeLessThan(ends[0]! + alone(b) - 1); // it did not wait for a's end
    expect(ends[1]).toBeGreaterThanOrEqual(arriveNs + alone(b) - 1e-6);
  });

  it.each(['h200-sxm', 'mi300x'])('every kernel completes on %s, whatever mix of grids, CU sets and arrival times (no kernel waits forever, no CU is lost)', (part) => {
    const partHw = loadHardware(part);
    const partLayout = makeCuLayout(partHw.compute);
    const rng = new Rng(7, 'cu-gate');
    const half = Math.floor(partLayout.cus / 2);
    const all = firstNCus(partLayout, partLayout.cus);
    const sets = [all, cuRange(partLayout, 0, half), cuRange(partLayout, half, half), cuRange(partLayout, 40, 60)];
    for (let trial = 0; trial < 20; trial++) {
      const system = new System(partHw, 1);
      const gpu = system.gpus[0]!;
      let completed = 0;
      let flops = 0;
      const streams = Array.from({ length: 4 }, (_, i) => new Stream(gpu, `s${i}`, sets[i]!));
      for (let n = 0; n < 40; n++) {
        const k = kernel(`k${n}`, rng.int(1, 4 * partLayout.cus), rng.int(1, 4) * 1e6);
        flops += k.flops;
        const stream = streams[rng.int(0, 3)]!;
        system.sim.after(rng.uniform() * 2e5, () => stream.enqueue(k, { onComplete: () => completed++ }));
      }
      system.sim.run();
      expect(completed).toBe(40);
      expect(system.sim.stats.get('gpu0.flops')).toBeCloseTo(flops, 0);
      // Every CU kept by a one-wave grid or a last wave came back: nothing leaked, no residue.
      gpu.cuGroups.forEach((group, g) => expect(group.capacity).toBe(partLayout.cusInGroup[g]));
    }
  });

  it('conserves work: taking turns moves no FLOPs or bytes, and the same inputs give the same times', () => {
    const a = kernel('a', 2 * layout.cus + 5);
    const b = kernel('b', layout.cus + 7);
    const first = run([[a, ALL], [b, ALL]]).ends;
    const again = run([[a, ALL], [b, ALL]]).ends;
    expect(again).toEqual(first);
    const system = new System(hw, 1);
    const gpu = system.gpus[0]!;
    new Stream(gpu, 'x', ALL).enqueue(a);
    new Stream(gpu, 'y', ALL).enqueue(b);
    system.sim.run();
    expect(system.sim.stats.get('gpu0.flops')).toBe(a.flops + b.flops);
    expect(system.sim.stats.get('gpu0.kernels')).toBe(2);
  });

  it('a stream keeps the CU mask it was created with: a launch naming another is refused', () => {
    const system = new System(hw, 1);
    const half = cuRange(layout, 0, layout.cus / 2);
    const stream = new Stream(system.gpus[0]!, 'masked', half);
    expect(() => stream.enqueue(kernel('a', 8), { cuSet: ALL })).toThrow(/may not change the stream's CU mask/);
    let cus = 0;
    stream.enqueue(kernel('b', 8), { cuSet: cuRange(layout, 0, layout.cus / 2), onComplete: (r) => (cus = r.cus) });
    system.sim.run();
    expect(cus).toBe(half.count);
  });
});

describe('one-wave grids keep their CUs (cu-pool.ts): a workgroup holds its CU until it ends', () => {
  it('a filling kernel beside a one-wave grid runs on the CUs that grid leaves, and does not slow it (closed form)', () => {
    const a = kernel('a', 60); // one wave on 60 of 132 CUs
    const b = kernel('b', 10 * layout.cus, 1e6); // ten whole waves, each half as long as a's
    const { ends, fixedNs } = run([[a, ALL], [b, ALL]]);
    expect(ends[0]).toBeCloseTo(alone(a), 6);
    // Until a ends, b has the other 72 CUs: it does 72/132 of its full-chip pace.
    const bNs = alone(b) - fixedNs;
    const doneBeforeAEnds = ((layout.cus - 60) / layout.cus) * ((alone(a) - fixedNs) / bNs);
    expect(ends[1]).toBeCloseTo(alone(a) + (1 - doneBeforeAEnds) * bNs, 6);
  });

  it('a one-wave grid that finds too few CUs free shares what is left, then keeps its own once they free up (closed form)', () => {
    const a = kernel('a', 100);
    const { ends, fixedNs } = run([[a, ALL], [a, ALL]]);
    // The first keeps 100 CUs and runs as alone; the second gets 32 CUs' worth until then.
    expect(ends[0]).toBeCloseTo(alone(a), 6);
    const aNs = alone(a) - fixedNs;
    expect(ends[1]).toBeCloseTo(alone(a) + (1 - (layout.cus - 100) / 100) * aNs, 6);
  });
});

describe('CuPool: the CUs kernels share, less those kept whole', () => {
  it('hands back exactly the CU count after any mix of fractional keeps', () => {
    const system = new System(hw, 1);
    const gpu = system.gpus[0]!;
    const cuGroup = gpu.cuGroups[0]!;
    const releases = [1 / 3, 2 / 7, 10.1, 0.3].map((n) => gpu.pool.keep([n]));
    expect(cuGroup.capacity).toBeLessThan(layout.cus);
    for (const release of [releases[2]!, releases[0]!, releases[3]!, releases[1]!]) release();
    releases[0]!(); // a second release changes nothing
    expect(cuGroup.capacity).toBe(layout.cus);
  });

  it('grants waiting keeps first come first served once they fit, and a cancelled wait is skipped', () => {
    const system = new System(hw, 1);
    const pool = system.gpus[0]!.pool;
    const releaseBig = pool.keep([100]);
    const granted: string[] = [];
    const releases: Array<() => void> = [];
    pool.keepWhenFree([50], (r) => (granted.push('first'), releases.push(r)));
    const cancel = pool.keepWhenFree([10], () => granted.push('cancelled'));
    pool.keepWhenFree([20], (r) => (granted.push('second'), releases.push(r)));
    expect(granted).toEqual([]); // 32 free: the first (50) waits, and nobody overtakes it
    cancel();
    releaseBig();
    expect(granted).toEqual(['first', 'second']);
    expect(pool.free(0)).toBe(layout.cus - 70);
    for (const r of releases) r();
    expect(pool.free(0)).toBe(layout.cus);
  });
});

describe('occupancy: how a grid holds its CU set (dispatcher.ts)', () => {
  it('least-loaded dispatch: fills at one workgroup per CU; the last wave keeps the remainder busy', () => {
    const n = layout.cus;
    expect(occupancy(n - 1, ALL, layout, hw.compute)).toEqual({ fills: false, waves: 1, lastWaveCus: n - 1 });
    expect(occupancy(n, ALL, layout, hw.compute)).toEqual({ fills: true, waves: 1, lastWaveCus: n });
    expect(occupancy(2 * n + 12, ALL, layout, hw.compute)).toEqual({ fills: true, waves: 3, lastWaveCus: 12 });
    expect(occupancy(3 * n, ALL, layout, hw.compute)).toEqual({ fills: true, waves: 3, lastWaveCus: n });
  });

  it('round-robin dispatch (MI300X): a grid fills a mask only if every XCD\'s share covers that XCD\'s CUs', () => {
    const mi = loadHardware('mi300x');
    const miLayout = makeCuLayout(mi.compute);
    // 38 CUs on XCD 0, one on each other XCD: a grid of 90 deals XCD 0 only 12 workgroups.
    const bits = new Uint8Array(miLayout.cus);
    const seen = new Set<number>();
    for (let i = 0; i < miLayout.cus; i++) {
      const g = miLayout.groupOfCu[i]!;
      if (g === 0 || !seen.has(g)) {
        bits[i] = 1;
        seen.add(g);
      }
    }
    const uneven = cuSetFromBits(miLayout, bits);
    expect(uneven.count).toBe(45);
    expect(occupancy(90, uneven, miLayout, mi.compute).fills).toBe(false);
    const full = occupancy(8 * 38 * 3 + 8, firstNCus(miLayout, miLayout.cus), miLayout, mi.compute);
    expect(full).toEqual({ fills: true, waves: 4, lastWaveCus: 8 });
  });
});

describe('validation runner corun, shared: true (two streams on the same CUs)', () => {
  const corun = runnerFor('corun');
  const copy = { op: 'copy', array_bytes: '512MiB' };
  const gemm = { op: 'gemm', m: 8192, n: 8192, k: 8192, dtype: 'bf16' };
  const shared = (a: object, b: object) => corun(hw, { shared: true, cus_a: 132, a, b, reps_a: 20, reps_b: 60 }, { overlays: [] }) as Record<string, number>;

  it('a GEMM stream beside a copy stream on the whole chip: the copies wait, the pair gains little over running in turn', () => {
    const r = shared(gemm, copy);
    expect(r.b_slowdown!).toBeGreaterThan(r.a_slowdown!);
    expect(r.pair_speedup!).toBeGreaterThanOrEqual(1 - 1e-9);
    expect(r.pair_speedup!).toBeLessThan(1.15);
    // The same pair on disjoint halves overlaps for real.
    const split = corun(hw, { cus_a: 66, cus_b: 66, a: gemm, b: copy, reps_a: 20, reps_b: 60 }, { overlays: [] }) as Record<string, number>;
    expect(split.pair_speedup!).toBeGreaterThan(r.pair_speedup!);
  });

  it('refuses cus_b with shared, a shared that is not true or false, and more launches than memory holds', () => {
    expect(() => corun(hw, { shared: true, cus_a: 132, cus_b: 10, a: gemm, b: copy }, { overlays: [] })).toThrow(/cus_b: not with shared: true/);
    expect(() => corun(hw, { shared: 'yes', cus_a: 132, a: gemm, b: copy }, { overlays: [] })).toThrow(/params.shared: expected true or false/);
    expect(() => corun(hw, { shared: null, cus_a: 132, a: gemm, b: copy }, { overlays: [] })).toThrow(/params.shared: expected true or false, got null/);
    expect(() => corun(hw, { shared: true, cus_a: 132, a: gemm, b: copy, reps_a: 1e12 }, { overlays: [] })).toThrow(/reps_a: 1,000,000,000,000 kernel launches; expected at most 1,000,000/);
  });
});
