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
