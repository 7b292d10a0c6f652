import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { loadHardware } from '../../src/hw/config/load.js';
import { dmaEnginesOf, dmaTransfer } from '../../src/hw/dma/dma.js';
import { interconnectOf } from '../../src/hw/link/topology.js';
import { hamiltonianDecomposition } from '../../src/hw/collectives/rings.js';
import { System } from '../../src/hw/system.js';
import { simulateCollective } from '../../src/hw/collectives/index.js';

const GiB = 1024 ** 3;

describe('topologies', () => {
  it('fully connected: one link per ordered pair at the effective per-direction rate', () => {
    const hw = loadHardware('mi300x');
    const ic = interconnectOf(new System(hw, 8));
    expect(ic.linkResources()).toHaveLength(56);
    const path = ic.path(2, 6);
    expect(path).toHaveLength(1);
    expect(path[0]!.capacity).toBe(hw.interconnect.link_gbps);
    expect(ic.path(6, 2)[0]).not.toBe(path[0]);
    expect(ic.latencyNs(2, 6)).toBe(hw.interconnect.link_latency_ns);
    expect(ic.path(3, 3)).toEqual([]);
  });

  it('interconnectOf caches one interconnect per System', () => {
    const system = new System(loadHardware('mi300x'), 4);
    expect(interconnectOf(system)).toBe(interconnectOf(system));
  });

  it('switch: egress then ingress port, each with all the GPU links', () => {
    const hw = loadHardware('h100-sxm');
    const ic = interconnectOf(new System(hw, 8));
    const path = ic.path(1, 7);
    expect(path.map((r) => r.name)).toEqual(['gpu1.switch.out', 'gpu7.switch.in']);
    expect(path[0]!.capacity).toBeCloseTo(hw.interconnect.links_per_gpu * hw.interconnect.link_gbps, 9);
  });

  it('ring: the shorter way round, one link per hop, latency per hop', () => {
    const hw = loadHardware('t3-baseline');
    const ic = interconnectOf(new System(hw, 8));
    expect(ic.path(0, 3).map((r) => r.name)).toEqual(['link0->1', 'link1->2', 'link2->3']);
    expect(ic.path(0, 6).map((r) => r.name)).toEqual(['link0->7', 'link7->6']);
    expect(ic.latencyNs(0, 3)).toBe(3 * hw.interconnect.link_latency_ns);
  });

  it('several nodes: GPUs of different nodes talk through their NICs', () => {
    const hw = loadHardware('mi300x', ['interconnect.nodes=2']);
    const ic = interconnectOf(new System(hw, 16));
    expect(ic.nodeOf(9)).toBe(1);
    expect(ic.path(1, 9).map((r) => r.name)).toEqual(['gpu1.nic.out', 'gpu9.nic.in']);
    expect(ic.latencyNs(1, 9)).toBe(hw.interconnect.nic_latency_ns);
    expect(ic.path(9, 10)).toHaveLength(1);
  });

  it('edge-disjoint Hamiltonian rings cover every link of an 8-GPU fully connected node', () => {
    const cycles = hamiltonianDecomposition(8);
    expect(cycles).toHaveLength(7);
    const used = new Set<string>();
    for (const c of cycles) {
      expect([...c].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      c.forEach((g, i) => {
        const edge = `${g}>${c[(i + 1) % c.length]}`;
        expect(used.has(edge)).toBe(false);
        used.add(edge);
      });
    }
    expect(used.size).toBe(56);
  });
});

describe('bad configurations are one-line SilicaErrors', () => {
  it('more GPUs than the node has', () => {
    expect(() => interconnectOf(new System(loadHardware('mi300x'), 9))).toThrow(SilicaError);
  });
  it('a topology that does not connect the group', () => {
    const ic = interconnectOf(new System(loadHardware('mi300x', ['interconnect.topology=none']), 2));
    expect(() => ic.path(0, 1)).toThrow(/does not connect GPU 0 to GPU 1/);
  });
  it('zero link bandwidth', () => {
    expect(() => loadHardware('mi300x', ['interconnect.link_gbps=0'])).toThrow(/interconnect.link_gbps/);
    expect(() => loadHardware('mi300x', ['dma.engine_gbps=0'])).toThrow(/dma.engine_gbps/);
  });
});

describe('DMA engines', () => {
  it('a peer copy is capped by one link and pays setup plus latency', () => {
    const hw = loadHardware('mi300x');
    const system = new System(hw, 8);
    let end = 0;
    dmaTransfer(system, { src: 0, dst: 3, bytes: GiB, onComplete: () => (end = system.sim.nowNs) });
    system.sim.run();
    const limit = Math.min(hw.interconnect.link_gbps, hw.dma.engine_gbps);
    expect(end).toBeCloseTo(hw.dma.setup_ns + hw.interconnect.link_latency_ns + GiB / limit, -1);
    expect(system.gpus[0]!.hbm.usedIntegral).toBeCloseTo(GiB, -1);
    expect(system.gpus[3]!.hbm.usedIntegral).toBeCloseTo(GiB, -1);
  });

  it('update mode costs the near-memory factor on the destination HBM', () => {
    const hw = loadHardware('mi300x');
    const system = new System(hw, 2);
    dmaTransfer(system, { src: 0, dst: 1, bytes: GiB, mode: 'update', onComplete: () => {} });
    system.sim.run();
    expect(system.gpus[1]!.hbm.usedIntegral).toBeCloseTo(hw.memory.nmc.update_cost_factor * GiB, -1);
  });

  it('concurrent copies over one link share it; milestones fire on the way', () => {
    const hw = loadHardware('mi300x');
    const system = new System(hw, 2);
    const ends: number[] = [];
    const fired: number[] = [];
    for (let i = 0; i < 2; i++) {
      dmaTransfer(system, {
        src: 0,
        dst: 1,
        bytes: GiB,
        milestones: [{ at: GiB / 2, fire: () => fired.push(system.sim.nowNs) }],
        onComplete: () => ends.push(system.sim.nowNs),
      });
    }
    system.sim.run();
    const start = hw.dma.setup_ns + hw.interconnect.link_latency_ns;
    expect(ends[0]).toBeCloseTo(start + (2 * GiB) / hw.interconnect.link_gbps, -1);
    expect(fired).toHaveLength(2);
    expect(fired[0]).toBeCloseTo(start + GiB / hw.interconnect.link_gbps, -1);
    expect(dmaEnginesOf(system, 0).engines).toHaveLength(hw.dma.engines);
  });
});

describe('bad collective requests', () => {
  const hw = loadHardware('mi300x');
  it('CU counts, ranks and algorithms are checked', () => {
    expect(() => simulateCollective(hw, 8, { kind: 'all-reduce', bytes: 1024, cus: 0 })).toThrow(/--cus/);
    expect(() => simulateCollective(hw, 8, { kind: 'all-reduce', bytes: 1024, cus: 305 })).toThrow(/--cus/);
    expect(() => simulateCollective(hw, 8, { kind: 'all-reduce', bytes: 1024, ranks: [0, 0] })).toThrow(/twice/);
    expect(() => simulateCollective(hw, 8, { kind: 'all-reduce', bytes: 1024, ranks: [0, 8] })).toThrow(/rank 8/);
    expect(() => simulateCollective(hw, 8, { kind: 'all-to-all', bytes: 1024, algo: 'ring' })).toThrow(/all-to-all/);
    expect(() => simulateCollective(hw, 8, { kind: 'reduce-scatter', bytes: 1024, engine: 'dma', algo: 'ring' })).not.toThrow();
    const noNmc = loadHardware('mi300x', ['memory.nmc.enabled=false']);
    expect(() => simulateCollective(noNmc, 8, { kind: 'reduce-scatter', bytes: 1024, engine: 'dma' })).toThrow(SilicaError);
  });
});
