import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { arbitrationPolicies, arbitrationPolicy } from '../../src/hw/memory/arbitration.js';
import { expectedStallNs, fcfsLatencyNs, latencyBoundSpeed, priorityLatencyNs } from '../../src/hw/memory/latency.js';
import { runSublayer } from '../../src/study/t3/configs.js';

const mcaConfig = { policy: 'mca' as const, sample_ns: 1000, mca: { occupancy_threshold: 8, starvation_limit_ns: 5000 } };

describe('memory controller model', () => {
  it('loaded latency: FCFS grows with total load, priority protects the high class', () => {
    expect(fcfsLatencyNs(500, 0)).toBe(500);
    expect(fcfsLatencyNs(500, 0.5)).toBeCloseTo(1000, 9);
    expect(fcfsLatencyNs(500, 0.8)).toBeGreaterThan(fcfsLatencyNs(500, 0.5));
    // Same total load: the producer's latency under priority depends on its own share only.
    expect(priorityLatencyNs(500, 0.8, 0.3)).toBeLessThan(fcfsLatencyNs(500, 0.8));
    expect(priorityLatencyNs(500, 0.3, 0.3)).toBeCloseTo(fcfsLatencyNs(500, 0.3), 9);
  });

  it('stalls a producer by the latency it cannot hide, smoothly (exponential queueing tail)', () => {
    expect(expectedStallNs(500, 0, 2000)).toBe(0);
    expect(expectedStallNs(500, 100, 2000)).toBeLessThan(1e-3);
    expect(expectedStallNs(500, 1000, 2000)).toBeGreaterThan(expectedStallNs(500, 500, 2000));
    expect(expectedStallNs(3000, 0, 2000)).toBe(1000);
    const o = { idleNs: 500, hiddenNs: 1600, iterationNs: 800 };
    const alone = latencyBoundSpeed(o, (s) => fcfsLatencyNs(500, 0.3 * s));
    const shared = latencyBoundSpeed(o, (s) => fcfsLatencyNs(500, 0.3 + 0.3 * s));
    const prioritised = latencyBoundSpeed(o, (s) => priorityLatencyNs(500, 0.3 + 0.3 * s, 0.3 * s));
    expect(alone).toBeGreaterThan(0.99);
    expect(shared).toBeLessThan(alone);
    expect(prioritised).toBeGreaterThan(shared);
    expect(prioritised).toBeLessThanOrEqual(1);
  });

  it('registers fair, mca and mca-adaptive; an unknown policy is a one-line error', () => {
    // Containing, not equal: a policy someone adds must not break this test.
    expect(arbitrationPolicies()).toEqual(expect.arrayContaining(['fair', 'mca', 'mca-adaptive']));
    expect(() => arbitrationPolicy('fifo')).toThrow(`memory.arbitration.policy: expected one of ${arbitrationPolicies().join(', ')}, got "fifo"`);
  });

  it('MCA: compute first, communication capped by a threshold from the first stage, released after the starvation limit', () => {
    const a = arbitrationPolicy('mca').create(mcaConfig);
    expect(a.computePriority).toBeGreaterThan(a.commPriority);
    expect(a.commCap({ nowNs: 0, uTotal: 0.2, uProducer: 0.2, commActive: () => true, workLeft: () => undefined })).toBeUndefined(); // still measuring
    a.firstStage(0.5);
    // q_th = 8 (1 - 0.5) = 4 -> u_th = 0.8: communication may fill what the producer leaves below it.
    expect(a.commCap({ nowNs: 0, uTotal: 0.5, uProducer: 0.5, commActive: () => true, workLeft: () => undefined })).toBeCloseTo(0.3, 9);
    // A producer above the threshold blocks communication ... until the starvation limit.
    expect(a.commCap({ nowNs: 1000, uTotal: 0.9, uProducer: 0.9, commActive: () => true, workLeft: () => undefined })).toBe(0);
    expect(a.commCap({ nowNs: 5000, uTotal: 0.9, uProducer: 0.9, commActive: () => true, workLeft: () => undefined })).toBe(0);
    expect(a.commCap({ nowNs: 6000, uTotal: 0.9, uProducer: 0.9, commActive: () => true, workLeft: () => undefined })).toBeUndefined();
    const f = arbitrationPolicy('fair').create({ ...mcaConfig, policy: 'fair' });
    expect(f.computePriority).toBe(f.commPriority);
    expect(f.commCap({ nowNs: 0, uTotal: 0.9, uProducer: 0.9, commActive: () => true, workLeft: () => undefined })).toBeUndefined();
  });

  it('t3-mca beats t3 where communication contends with a compute-bound GEMM', () => {
    const hw = loadHardware('t3-baseline');
    const [seq, t3, mca] = runSublayer(hw, { m: 4096, n: 4096, k: 1024, dtype: 'fp16' }, 4, ['sequential', 't3', 't3-mca']);
    expect(t3!.time_us).toBeLessThan(seq!.time_us);
    expect(mca!.time_us).toBeLessThan(t3!.time_us * 0.99);
    // The difference is the GEMM itself: MCA keeps its loads ahead of the DMA and update traffic.
    expect(mca!.gemm_us).toBeLessThan(t3!.gemm_us);
  });
});
