import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { simulateCollective } from '../../src/hw/collectives/index.js';
import { HardwareCoster } from '../../src/study/bert/coster.js';

describe('BERT study coster', () => {
  it('all-reduce times interpolated inside a power-of-4 bracket stay within 1% of the engine', () => {
    const c = new HardwareCoster('mi300x');
    const bytes = 27 * 2 ** 20 + 12345;
    const exact = simulateCollective(loadHardware('mi300x'), 8, { kind: 'all-reduce', bytes }).timeNs;
    expect(Math.abs(c.collectiveNs('all-reduce', bytes, 8) / exact - 1)).toBeLessThan(0.01);
    expect(c.collectiveNs('all-reduce', bytes, 1)).toBe(0);
  });

  it('places a group as its GPUs lie: data-parallel ranks striding over TP groups span the nodes', () => {
    const bytes = 64 * 2 ** 20;
    for (const hw of ['mi300x', 'h100-sxm']) {
      const c = new HardwareCoster(hw);
      // GPUs 0..n-1 of any system are the same collective as a system of n.
      expect(c.collectiveNs('all-reduce', bytes, [0, 1, 2, 3], 16)).toBe(c.collectiveNs('all-reduce', bytes, 4));
      // Eight ranks one node holds, against every other GPU of two nodes (DP 8 over TP 2): half of
      // them behind the NICs. (Over 4 of the NICs a ring took more than twice one node's time; the
      // tree auto takes on H100, with half the NIC bytes, 1.8x.)
      const strided = c.collectiveNs('all-reduce', bytes, [0, 2, 4, 6, 8, 10, 12, 14], 16);
      expect(strided, hw).toBeGreaterThan(1.5 * c.collectiveNs('all-reduce', bytes, 8));
      const twoNodes = loadHardware(hw, ['interconnect.nodes=2']);
      expect(strided / simulateCollective(twoNodes, 16, { kind: 'all-reduce', bytes, ranks: [0, 2, 4, 6, 8, 10, 12, 14] }).timeNs).toBeCloseTo(1, 2);
    }
    // A pair in one H100 node meets over NVLink, a pair across two over the NICs.
    const h100 = new HardwareCoster('h100-sxm');
    expect(h100.collectiveNs('all-reduce', bytes, [0, 8], 16)).toBeGreaterThan(3 * h100.collectiveNs('all-reduce', bytes, 2));
  });

  it('memoises kernels by shape, not by name', () => {
    const c = new HardwareCoster('mi300x');
    const a = c.kernel({ op: 'gemm', name: 'a', m: 512, n: 512, k: 512, dtype: 'fp16' });
    const b = c.kernel({ op: 'gemm', name: 'b', m: 512, n: 512, k: 512, dtype: 'fp16' });
    expect(b).toBe(a);
    expect(c.kernelMisses).toBe(1);
    expect(c.kernel({ op: 'elementwise', name: 'x', elements: 1 << 24, inputs: 2, outputs: 1, flopsPerElement: 1, dtype: 'fp16' }).bound).toBe('memory');
    expect(c.kernel({ op: 'gemm', m: 8192, n: 8192, k: 8192, dtype: 'fp16' }).bound).toBe('compute');
  });
});
