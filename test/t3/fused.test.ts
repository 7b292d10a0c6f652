import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { ringsFor } from '../../src/hw/collectives/rings.js';
import { interconnectOf } from '../../src/hw/link/topology.js';
import { MemorySystem } from '../../src/hw/memory/arbitration.js';
import { System } from '../../src/hw/system.js';
import { runFusedGemmRs, type FusedResult } from '../../src/hw/t3/fused.js';
import { latencyTolerance, producerGemm } from '../../src/hw/t3/producer-gemm.js';
import { runConfiguration, runSublayer } from '../../src/study/t3/configs.js';
import type { GemmShape } from '../../src/kernels/gemm.js';

const hw = loadHardware('t3-baseline');
const shape: GemmShape = { m: 4096, n: 4096, k: 2048, dtype: 'fp16' };
const TP = 4;
const outBytes = shape.m * shape.n * 2;

function fused(staggered: boolean, overrides: string[] = []): { r: FusedResult; system: System } {
  const h = overrides.length ? loadHardware('t3-baseline', overrides) : hw;
  const system = new System(h, TP);
  const rings = ringsFor(interconnectOf(system), [0, 1, 2, 3]);
  const p = producerGemm(h, shape, { uncachedOutput: true });
  let r: FusedResult | undefined;
  runFusedGemmRs({ system, rings, producer: p, latency: latencyTolerance(h, p, shape, h.compute.cus), memory: new MemorySystem(system, h.memory.arbitration), staggered, onComplete: (x) => (r = x) });
  system.sim.run();
  return { r: r!, system };
}

describe('T3 fused GEMM + reduce-scatter (every GPU simulated)', () => {
  it('triggers every tracked chunk exactly once on every GPU, none lost to overflow', () => {
    const { r } = fused(true);
    // Every piece of every sub-chunk (rings x ranks, all tracked: first chunk DMA-mapped) fires once,
    const chunksPerGpu = r.schedule.subChunks.length;
    expect(r.trackedPieces).toBeGreaterThan(TP * chunksPerGpu); // forwarding tiles: several per chunk
    expect(r.tracker.triggers).toBe(r.trackedPieces);
    // and each forwarded sub-chunk (all but the owned one per ring) is one DMA command.
    expect(r.dmaCommands).toBe(TP * (chunksPerGpu - r.schedule.rings.length));
    expect(r.tracker.fallbackChunks).toBe(0);
    expect(r.tracker.maxEntriesUsed).toBeLessThanOrEqual(hw.t3.tracker_entries);
    expect(r.endNs).toBeGreaterThanOrEqual(r.producerEndNs);
  });

  it('conserves bytes across the ring: each GPU forwards n-1 chunks per ring, every byte reduced once', () => {
    const { system } = fused(true);
    const st = system.sim.stats;
    const sum = (name: string) => system.gpus.reduce((s, _g, i) => s + st.get(`gpu${i}.hbm.${name}`), 0);
    // Updates land on (n-1)/n of every GPU's output: (n-1) x the output over the group.
    expect(sum('update_bytes')).toBeCloseTo((TP - 1) * outBytes, -3);
    // Payload on the links: the same (n-1)/n of the output per GPU as a ring reduce-scatter.
    expect(interconnectOf(system).linkBytes()).toBeCloseTo((TP - 1) * outBytes, -3);
  });

  it('gives the same final data movement staggered or not (only the timing differs)', () => {
    const a = fused(true);
    const b = fused(false);
    for (const name of ['read_bytes', 'write_bytes', 'update_bytes']) {
      const sum = (s: System) => s.gpus.reduce((acc, _g, i) => acc + s.sim.stats.get(`gpu${i}.hbm.${name}`), 0);
      expect(sum(b.system)).toBeCloseTo(sum(a.system), -3);
    }
    expect(interconnectOf(b.system).linkBytes()).toBeCloseTo(interconnectOf(a.system).linkBytes(), -3);
    expect(b.r.endNs).toBeGreaterThanOrEqual(a.r.endNs * 0.999);
  });

  it('approaches the GEMM alone when links are infinitely fast', () => {
    const fast = loadHardware('t3-baseline', ['interconnect.link_gbps=1e9', 'interconnect.link_latency_ns=0', 'dma.engine_gbps=1e9', 'dma.setup_ns=0']);
    const [seq, t3, mca] = runSublayer(fast, shape, TP, ['sequential', 't3', 't3-mca']);
    // With MCA the reduce-scatter hides entirely behind the GEMM (the last chunk's update is tiny).
    expect(mca!.rs_end_us).toBeLessThan(seq!.gemm_us * 1.01);
    // Without it, DMAs no longer held back by links burst at DRAM speed and slow the GEMM through
    // loaded latency (fair arbitration): still well ahead of the sequential reduce-scatter.
    expect(t3!.rs_end_us).toBeLessThan(seq!.gemm_us * 1.15);
    expect(t3!.rs_end_us).toBeLessThan(seq!.rs_end_us);
  });

  it('runs t3 under the part\'s arbitration policy: set to mca, t3 is t3-mca; the MCA configurations keep theirs', () => {
    const slow = loadHardware('t3-baseline', ['memory.hbm.peak_gbps=500']);
    const asMca = loadHardware('t3-baseline', ['memory.hbm.peak_gbps=500', 'memory.arbitration.policy=mca']);
    const [t3, mca] = runSublayer(slow, shape, TP, ['t3', 't3-mca']);
    // Where HBM is loaded the two policies differ, so the equality below says which one ran.
    expect(Math.abs(t3!.time_us - mca!.time_us)).toBeGreaterThan(0.001 * mca!.time_us);
    const [t3UnderMca, mcaAgain] = runSublayer(asMca, shape, TP, ['t3', 't3-mca']);
    expect(t3UnderMca!.time_us).toBe(mca!.time_us);
    expect(mcaAgain!.time_us).toBe(mca!.time_us);
  });

  it('forwards a split-K producer\'s finished output only: its fp32 partials stay in its own HBM', () => {
    // GPT-3's FC-2 at TP 8 on 1024 tokens: few output tiles for MI300X's 304 CUs, so split-K.
    const mi300x = loadHardware('mi300x');
    const skinny: GemmShape = { m: 1024, n: 12288, k: 6144, dtype: 'fp16' };
    expect(producerGemm(mi300x, skinny, { uncachedOutput: true }).splitK).toBeGreaterThan(1);
    const [seq, t3, nmc, bound] = runSublayer(mi300x, skinny, 8, ['sequential', 't3', 'ideal-rs-nmc', 'ideal-overlap-nmc']);
    // The ring moves the output's (n-1)/n per GPU whoever runs it (the links used to carry 3x).
    expect(t3!.link_bytes).toBe(seq!.link_bytes);
    // T3's reduce-scatter is the same DMA + near-memory one as ideal-rs-nmc: the same updates.
    expect(t3!.dram_update_bytes).toBe(nmc!.dram_update_bytes);
    expect(t3!.time_us).toBeGreaterThanOrEqual(bound!.time_us);
  });

  it('is bounded by the collective when the collective is larger than the GEMM', () => {
    const small: GemmShape = { m: 4096, n: 4096, k: 128, dtype: 'fp16' };
    const [seq, t3, nmc] = runSublayer(hw, small, TP, ['sequential', 't3', 'ideal-rs-nmc']);
    expect(seq!.rs_end_us - seq!.gemm_us).toBeGreaterThan(seq!.gemm_us); // the collective dominates
    // T3 cannot beat the collective alone (its NMC reduce-scatter, then the all-gather).
    const collectiveUs = nmc!.time_us - nmc!.gemm_us;
    expect(t3!.time_us).toBeGreaterThanOrEqual(collectiveUs * 0.98);
    expect(seq!.time_us / t3!.time_us).toBeLessThanOrEqual(seq!.time_us / collectiveUs + 1e-9);
  });
});
