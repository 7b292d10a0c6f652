import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { ringsFor } from '../../src/hw/collectives/rings.js';
import { interconnectOf } from '../../src/hw/link/topology.js';
import { arbitrationPolicy, MemorySystem, registerArbitrationPolicy, type Sample } from '../../src/hw/memory/arbitration.js';
import { System } from '../../src/hw/system.js';
import { runFusedGemmRs } from '../../src/hw/t3/fused.js';
import { latencyTolerance, producerGemm } from '../../src/hw/t3/producer-gemm.js';
import { runSublayer } from '../../src/study/t3/configs.js';
import { sublayerGemm } from '../../src/study/t3/sublayers.js';
import type { GemmShape } from '../../src/kernels/gemm.js';

const mcaConfig = { policy: 'mca-adaptive' as const, sample_ns: 1000, mca: { occupancy_threshold: 8, starvation_limit_ns: 5000 } };
const sample = (nowNs: number, u: number, backlog: number): Sample => ({ nowNs, uTotal: u, uProducer: u, commActive: () => true, commBacklogSteps: () => backlog });

// A policy that behaves like `fair` and records the backlog GPU 0's controller reports (the
// controllers are created in GPU order): the test registers its own policy, as an extension would.
const backlogSeen: number[] = [];
let arbitersCreated = 0;
registerArbitrationPolicy({
  name: 'test-backlog-probe',
  description: 'fair, recording commBacklogSteps',
  create: (config) => {
    const fair = arbitrationPolicy('fair').create(config);
    const gpu0 = arbitersCreated++ === 0;
    return {
      ...fair,
      policy: 'test-backlog-probe',
      commCap(s) {
        if (gpu0) backlogSeen.push(s.commBacklogSteps());
        return fair.commCap(s);
      },
    };
  },
});

/** Backlogs GPU 0 reported during a fused run of `shape` on TP 4 (t3-baseline with `overrides`). */
function backlogs(overrides: string[]): number[] {
  const hw = loadHardware('t3-baseline', overrides);
  const shape: GemmShape = { m: 4096, n: 4096, k: 2048, dtype: 'fp16' };
  const system = new System(hw, 4);
  backlogSeen.length = 0;
  arbitersCreated = 0;
  const memory = new MemorySystem(system, { ...hw.memory.arbitration, policy: 'test-backlog-probe' });
  const p = producerGemm(hw, shape, { uncachedOutput: true });
  runFusedGemmRs({ system, rings: ringsFor(interconnectOf(system), [0, 1, 2, 3]), producer: p, latency: latencyTolerance(hw, p, shape, hw.compute.cus), memory, staggered: true, onComplete: () => {} });
  system.sim.run();
  return [...backlogSeen];
}

describe('mca-adaptive: MCA that lifts its cap while the communication is the critical side', () => {
  it('caps as mca while the communication keeps up, not at all once it lags by more than a step', () => {
    const mca = arbitrationPolicy('mca').create({ ...mcaConfig, policy: 'mca' });
    const a = arbitrationPolicy('mca-adaptive').create(mcaConfig);
    expect(a.computePriority).toBe(mca.computePriority);
    expect(a.commPriority).toBe(mca.commPriority);
    expect(a.producerLatencyNs(500, 0.6, 0.3)).toBe(mca.producerLatencyNs(500, 0.6, 0.3));
    a.firstStage(0.5);
    mca.firstStage(0.5);
    // q_th = 8 (1 - 0.5) = 4 -> u_th = 0.8: the same cap as mca with one step in flight.
    expect(a.commCap(sample(0, 0.5, 1))).toBeCloseTo(0.3, 9);
    expect(a.commCap(sample(0, 0.5, 1))).toBe(mca.commCap(sample(0, 0.5, 1)));
    expect(a.commCap(sample(0, 0.5, 1.5))).toBeUndefined();
    // Blocked beside an intense producer; lagging lifts the block at once, not after 5 µs.
    expect(a.commCap(sample(1000, 0.9, 0.5))).toBe(0);
    expect(a.commCap(sample(2000, 0.9, 2))).toBeUndefined();
  });

  it('sees a backlog between none and the ring, larger when the links are slower', () => {
    const fast = backlogs(['interconnect.link_gbps=1e6', 'dma.engine_gbps=1e6']);
    const slow = backlogs(['interconnect.link_gbps=10']);
    for (const b of [...fast, ...slow]) {
      // Delivered tiles were stored first (a chunk is forwarded only once complete); at most
      // the n - 1 forwarded steps can wait.
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThanOrEqual(3 + 1e-9);
    }
    expect(fast.length).toBeGreaterThan(10);
    expect(slow.length).toBeGreaterThan(10);
    // Links that keep up: about the step being forwarded; slow links: the producer runs ahead.
    expect(Math.max(...fast)).toBeLessThanOrEqual(1.5);
    expect(Math.max(...slow)).toBeGreaterThan(1.5);
  });

  // Mega-GPT-2, TP 8, t3-baseline: the attention output projection (k = 3072 / 8) is short and
  // memory-intensive, so its reduce-scatter is the critical path; FC-2's GEMM is the long side.
  const hw = loadHardware('t3-baseline');
  const configurations = ['sequential', 't3', 't3-mca', 't3-mca-adaptive', 'ideal-overlap-nmc'] as const;
  const run = (sublayer: 'attn-out' | 'fc2') => {
    const [seq, fair, mca, adaptive, bound] = runSublayer(hw, sublayerGemm('mega-gpt2-8.3b', 8, sublayer, 8192, 'fp16'), 8, configurations);
    return { seq: seq!, fair: fair!, mca: mca!, adaptive: adaptive!, bound: bound! };
  };

  it('where the reduce-scatter is critical, does not hold it back as mca does (attn-out)', () => {
    const r = run('attn-out');
    expect(r.mca.time_us).toBeGreaterThan(r.fair.time_us * 1.03); // mca's loss this policy is for
    expect(r.adaptive.time_us).toBeLessThan(r.mca.time_us * 0.97);
    expect(r.adaptive.time_us).toBeLessThanOrEqual(r.fair.time_us * 1.005);
    expect(r.adaptive.time_us).toBeGreaterThanOrEqual(r.bound.time_us);
  });

  it('where the GEMM is critical, protects it as mca does (fc2); arbitration moves no byte', () => {
    const r = run('fc2');
    expect(r.mca.time_us).toBeLessThan(r.fair.time_us * 0.98);
    expect(r.adaptive.time_us).toBeLessThanOrEqual(r.mca.time_us * 1.005);
    expect(r.adaptive.time_us).toBeGreaterThanOrEqual(r.bound.time_us);
    for (const x of [r.fair, r.mca]) {
      expect(r.adaptive.link_bytes).toBe(x.link_bytes);
      expect(r.adaptive.dram_update_bytes).toBe(x.dram_update_bytes);
      expect(r.adaptive.dram_write_bytes).toBe(x.dram_write_bytes);
    }
  });
});
