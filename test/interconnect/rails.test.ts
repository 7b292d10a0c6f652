import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { dmaRings, simulateCollective } from '../../src/hw/collectives/index.js';
import { ringsFor } from '../../src/hw/collectives/rings.js';
import { interconnectOf } from '../../src/hw/link/topology.js';
import { System } from '../../src/hw/system.js';

const GiB = 1024 ** 3;

/** The (from, to) pairs of a ring's hops that cross between nodes. */
function crossings(ring: number[], nodeOf: (g: number) => number): [number, number][] {
  return ring.map((g, i) => [g, ring[(i + 1) % ring.length]!] as [number, number]).filter(([a, b]) => nodeOf(a) !== nodeOf(b));
}

describe('rail rings across nodes (a NIC per GPU)', () => {
  it.each(['h100-sxm', 'mi300x', 't3-baseline'])('%s: every ring visits each rank once and no two rings leave or enter a node by the same NIC', (part) => {
    const perNode = part === 't3-baseline' ? 4 : 8;
    const hw = loadHardware(part, ['interconnect.nodes=3', `interconnect.gpus_per_node=${perNode}`]);
    const ic = interconnectOf(new System(hw, 3 * perNode));
    const ranks = Array.from({ length: 3 * perNode }, (_, g) => g);
    const rings = ringsFor(ic, ranks);
    expect(rings.length).toBeGreaterThan(1);
    const senders = new Set<number>();
    const receivers = new Set<number>();
    for (const ring of rings) {
      expect([...ring].sort((a, b) => a - b)).toEqual(ranks);
      const cross = crossings(ring, (g) => ic.nodeOf(g));
      expect(cross).toHaveLength(3); // once into each node
      for (const [from, to] of cross) {
        expect(senders.has(from), `NIC out of GPU ${from} used twice`).toBe(false);
        expect(receivers.has(to), `NIC in of GPU ${to} used twice`).toBe(false);
        senders.add(from);
        receivers.add(to);
      }
    }
  });

  it('a group with one rank on a node keeps the one ring in rank order', () => {
    const hw = loadHardware('h100-sxm', ['interconnect.nodes=2']);
    const ic = interconnectOf(new System(hw, 16));
    expect(ringsFor(ic, [0, 8])).toEqual([[0, 8]]);
    expect(ringsFor(ic, [0, 1, 8])).toEqual([[0, 1, 8]]);
  });

  it.each([
    ['8 + 5 ranks', Array.from({ length: 13 }, (_, g) => g)],
    ['3 + 5 ranks', [0, 1, 2, 8, 9, 10, 11, 12]],
  ])('H100, unequal counts per node (%s): as many rail rings as the poorest node has ranks, each NIC used once', (_, ranks) => {
    // NCCL runs the fewest channels any rank found; until session 38 such a group fell back to one
    // ring in rank order and ran at one NIC's rate (46.8 GB/s of bus bandwidth for 8 + 5 ranks).
    const hw = loadHardware('h100-sxm', ['interconnect.nodes=2']);
    const ic = interconnectOf(new System(hw, 16));
    const fewest = Math.min(...[0, 1].map((node) => ranks.filter((g) => ic.nodeOf(g) === node).length));
    const rings = ringsFor(ic, ranks);
    expect(rings).toHaveLength(fewest);
    const senders = new Set<number>();
    const receivers = new Set<number>();
    for (const ring of rings) {
      expect([...ring].sort((a, b) => a - b)).toEqual([...ranks].sort((a, b) => a - b));
      const cross = crossings(ring, (g) => ic.nodeOf(g));
      expect(cross).toHaveLength(2);
      for (const [from, to] of cross) {
        expect(senders.has(from) || receivers.has(to)).toBe(false);
        senders.add(from);
        receivers.add(to);
      }
    }
    // Each ring crosses each boundary once through its own NIC: bus bandwidth is at most that many NICs'.
    // The rings' bound: auto takes the tree here, which sends half the NIC bytes (tree.test.ts).
    const run = simulateCollective(hw, 16, { kind: 'all-reduce', bytes: GiB / 4, ranks, algo: 'ring' });
    const nicsGbps = fewest * hw.interconnect.nic_gbps;
    expect(run.busBwGbps).toBeLessThanOrEqual(nicsGbps);
    expect(run.busBwGbps).toBeGreaterThan(0.95 * hw.interconnect.collective.protocol_efficiency * nicsGbps);
  });

  it.each([
    ['mi300x', 8, [0, 4, 8, 12]],
    ['t3-baseline', 4, [0, 2, 4, 6]],
    ['h100-sxm', 8, [0, 4, 8, 12]],
  ] as const)('%s: two ranks per node (data parallelism over tensor-parallel groups) use both ranks\' NICs', (part, perNode, ranks) => {
    // The pair's paths a -> b and b -> a share no link; one ring left the other NIC idle (MI300X 44.9 GB/s).
    const hw = loadHardware(part, ['interconnect.nodes=2', `interconnect.gpus_per_node=${perNode}`]);
    const ic = interconnectOf(new System(hw, 2 * perNode));
    const rings = ringsFor(ic, [...ranks]);
    expect(rings).toHaveLength(2);
    const senders = rings.flatMap((ring) => crossings(ring, (g) => ic.nodeOf(g)).map(([from]) => from));
    expect([...senders].sort((a, b) => a - b)).toEqual([...ranks]);
    // Each ring's slowest hop is a NIC or the pair's link: bus bandwidth at most two of those.
    const hopGbps = Math.min(hw.interconnect.nic_gbps, ic.pathCapacity(ranks[0], ranks[1]));
    const run = simulateCollective(hw, 2 * perNode, { kind: 'all-reduce', bytes: GiB / 4, ranks: [...ranks], algo: 'ring' });
    expect(run.busBwGbps).toBeLessThanOrEqual(2 * hopGbps);
    expect(run.busBwGbps).toBeGreaterThan(0.95 * hw.interconnect.collective.protocol_efficiency * 2 * hopGbps);
  });

  it('a 2-node H100 all-reduce reaches the node NICs together, never beyond them', () => {
    // Every ring crosses each node boundary, so a node's NICs send 2(n - 1)/n of the buffer in all:
    // bus bandwidth is at most the node's NICs' rate, and with a ring per NIC it is close to it
    // (CU engine: LL128 payload of protocol_efficiency). One ring crossed through one NIC (46.9 GB/s).
    const hw = loadHardware('h100-sxm', ['interconnect.nodes=2']);
    const nicsGbps = hw.interconnect.gpus_per_node * hw.interconnect.nic_gbps;
    const run = simulateCollective(hw, 16, { kind: 'all-reduce', bytes: GiB, algo: 'ring' });
    expect(run.busBwGbps).toBeLessThanOrEqual(nicsGbps);
    expect(run.busBwGbps).toBeGreaterThan(0.95 * hw.interconnect.collective.protocol_efficiency * nicsGbps);
    expect(run.linkBytes).toBe(2 * 15 * GiB); // 2(n - 1)/n of the buffer from each of 16 GPUs, payload
  });
});

describe('DMA rings across nodes', () => {
  it('gang as many engines as the slowest hop needs, not the first', () => {
    // Ring 0 -> 1 -> 8: its first hop is an H100 switch port (380 GB/s, four 100 GB/s engines),
    // but 1 -> 8 and 8 -> 0 cross 50 GB/s NICs, which one engine fills: four engines held no more.
    const hw = loadHardware('h100-sxm', ['interconnect.nodes=2']);
    const system = new System(hw, 16);
    const ic = interconnectOf(system);
    const ranks = [0, 1, 8];
    const rings = ringsFor(ic, ranks);
    const slowestGbps = Math.min(...rings[0]!.map((g, i) => ic.pathCapacity(g, rings[0]![(i + 1) % rings[0]!.length]!)));
    expect(slowestGbps).toBe(hw.interconnect.nic_gbps);
    expect(dmaRings(system, ic, rings)).toHaveLength(Math.ceil(slowestGbps / hw.dma.engine_gbps) * rings.length);
    // And within one node, where every hop is a switch port, four.
    const node = [0, 1, 2, 3, 4, 5, 6, 7];
    expect(dmaRings(system, ic, ringsFor(ic, node))).toHaveLength(Math.ceil(ic.pathCapacity(0, 1) / hw.dma.engine_gbps));
  });
});
