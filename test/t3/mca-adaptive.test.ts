import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { ringsFor } from '../../src/hw/collectives/rings.js';
import { interconnectOf } from '../../src/hw/link/topology.js';
import { arbitrationPolicies, arbitrationPolicy, MemorySystem, registerArbitrationPolicy, type Sample, type WorkLeft } from '../../src/hw/memory/arbitration.js';
import { System } from '../../src/hw/system.js';
import { runFusedGemmRs } from '../../src/hw/t3/fused.js';
import { latencyTolerance, producerGemm } from '../../src/hw/t3/producer-gemm.js';
import { runSublayer } from '../../src/study/t3/configs.js';
import { sublayerGemm } from '../../src/study/t3/sublayers.js';
import type { GemmShape } from '../../src/kernels/gemm.js';

const mcaConfig = { policy: 'mca-adaptive', sample_ns: 1000, mca: { occupancy_threshold: 8, starvation_limit_ns: 5000 } };
const sample = (nowNs: number, u: number, workLeft?: WorkLeft): Sample => ({ nowNs, uTotal: u, uProducer: u, commActive: () => true, workLeft: () => workLeft });

// A policy that behaves like `fair` and records the work left GPU 0's controller hears of (the
// controllers are created in GPU order): the test registers its own policy, as an extension would.
const workSeen: WorkLeft[] = [];
let arbitersCreated = 0;
registerArbitrationPolicy({
  name: 'test-work-left-probe',
  description: 'fair, recording workLeft',
  create: (config) => {
    const fair = arbitrationPolicy('fair').create(config);
    const gpu0 = arbitersCreated++ === 0;
    return {
      ...fair,
      policy: 'test-work-left-probe',
      commCap(s) {
        const w = s.workLeft();
        // A copy: the run rewrites one object per GPU at every ask (Sample.workLeft).
        if (gpu0 && w) workSeen.push({ ...w });
        return fair.commCap(s);
      },
    };
  },
});

/** Work left GPU 0 reported at each sample of a fused run on TP 4 (t3-baseline with `overrides`). */
function workLeftSeen(overrides: string[]): WorkLeft[] {
  const hw = loadHardware('t3-baseline', overrides);
  const shape: GemmShape = { m: 4096, n: 4096, k: 2048, dtype: 'fp16' };
  const system = new System(hw, 4);
  workSeen.length = 0;
  arbitersCreated = 0;
  const memory = new MemorySystem(system, { ...hw.memory.arbitration, policy: 'test-work-left-probe' });
  const p = producerGemm(hw, shape, { uncachedOutput: true });
  runFusedGemmRs({ system, rings: ringsFor(interconnectOf(system), [0, 1, 2, 3]), producer: p, latency: latencyTolerance(hw, p, shape, hw.compute.cus), memory, staggered: true, onComplete: () => {} });
  system.sim.run();
  return [...workSeen];
}

const critical = (w: WorkLeft) => w.commNs - w.commTailNs > w.producerNs;

describe('mca-adaptive: MCA while the GEMM is the critical side, fair while the communication is', () => {
  it('follows mca, then fair rules (one class, FCFS latency, no cap) while the communication left outlasts the GEMM', () => {
    const mca = arbitrationPolicy('mca').create({ ...mcaConfig, policy: 'mca' });
    const fair = arbitrationPolicy('fair').create({ ...mcaConfig, policy: 'fair' });
    const a = arbitrationPolicy('mca-adaptive').create(mcaConfig);
    a.firstStage(0.5);
    mca.firstStage(0.5);
    // q_th = 8 (1 - 0.5) = 4 -> u_th = 0.8: mca's cap while no work is reported or the GEMM is critical.
    expect(a.commCap(sample(0, 0.5))).toBeCloseTo(0.3, 9);
    expect(a.commCap(sample(0, 0.5, { producerNs: 100, commNs: 105, commTailNs: 10 }))).toBe(mca.commCap(sample(0, 0.5)));
    expect(a.active!().computePriority).toBeGreaterThan(a.commPriority);
    expect(a.active!().producerLatencyNs(500, 0.6, 0.3)).toBe(mca.producerLatencyNs(500, 0.6, 0.3));
    // The communication left beyond its last step outlasts the GEMM: one queue, no cap.
    expect(a.commCap(sample(1000, 0.9, { producerNs: 100, commNs: 120, commTailNs: 10 }))).toBeUndefined();
    expect(a.active!().computePriority).toBe(a.commPriority);
    expect(a.active!().producerLatencyNs(500, 0.6, 0.3)).toBe(fair.producerLatencyNs(500, 0.6, 0.3));
    expect(a.producerLatencyNs(500, 0.6, 0.3)).toBe(fair.producerLatencyNs(500, 0.6, 0.3));
    // Back to mca once the GEMM is the longer side again; its starvation clock ran all along
    // (blocked since 1000 ns, so the held requests issue at 6000 ns).
    expect(a.commCap(sample(2000, 0.9, { producerNs: 100, commNs: 50, commTailNs: 10 }))).toBe(0);
    expect(a.commCap(sample(6000, 0.9, { producerNs: 100, commNs: 50, commTailNs: 10 }))).toBeUndefined();
  });

  it('is a hardware field value the schema accepts, as every registered policy is', () => {
    expect(loadHardware('t3-baseline', ['memory.arbitration.policy=mca-adaptive']).memory.arbitration.policy).toBe('mca-adaptive');
    const expected = arbitrationPolicies().map((p) => `"${p}"`).join('|');
    expect(() => loadHardware('t3-baseline', ['memory.arbitration.policy=fifo'])).toThrow(`memory.arbitration.policy (set by the override memory.arbitration.policy=fifo): expected one of ${expected}, got "fifo"`);
  });

  it('hears the work left from the fused run: the communication is critical with slow links, never with fast ones', () => {
    const fast = workLeftSeen(['interconnect.link_gbps=1e6', 'dma.engine_gbps=1e6']);
    const slow = workLeftSeen(['interconnect.link_gbps=10']);
    expect(fast.length).toBeGreaterThan(10);
    expect(slow.length).toBeGreaterThan(10);
    for (const w of [...fast, ...slow]) {
      expect(w.producerNs).toBeGreaterThanOrEqual(0);
      expect(w.commNs).toBeGreaterThanOrEqual(0);
      expect(w.commTailNs).toBeGreaterThan(0);
    }
    // The GEMM's time left shrinks to nothing as it stores its last tiles.
    expect(Math.min(...slow.map((w) => w.producerNs))).toBeLessThan(slow.find((w) => Number.isFinite(w.producerNs))!.producerNs / 4);
    // Closed form of the tail: one ring step (1/4 of the output over both rings) at 2 x 10 GB/s.
    const stepBytes = (4096 * 4096 * 2) / 4;
    expect(slow[0]!.commTailNs).toBeCloseTo(stepBytes / 20, 6);
    expect(fast.some(critical)).toBe(false);
    expect(slow.some(critical)).toBe(true);
  });

  // Mega-GPT-2 on t3-baseline: the attention output projection (k = 3072 / TP) is short and
  // memory-intensive, so its reduce-scatter is the critical path; FC-2's GEMM is the long side.
  // At TP 16 lifting mca's cap is not enough: the GEMM's priority alone starves the RS.
  const hw = loadHardware('t3-baseline');
  const configurations = ['sequential', 't3', 't3-mca', 't3-mca-adaptive', 'ideal-overlap-nmc'] as const;
  const run = (sublayer: 'attn-out' | 'fc2', tp = 8) => {
    const [seq, fair, mca, adaptive, bound] = runSublayer(hw, sublayerGemm('mega-gpt2-8.3b', tp, sublayer, 8192, 'fp16'), tp, configurations);
    return { seq: seq!, fair: fair!, mca: mca!, adaptive: adaptive!, bound: bound! };
  };

  it.each([8, 16])('where the reduce-scatter is critical, does not hold it back as mca does (attn-out, TP %i)', (tp) => {
    const r = run('attn-out', tp);
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
