import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { makeCuLayout } from '../../src/hw/gpu/cu-layout.js';
import { cuRange, firstNCus } from '../../src/hw/gpu/cu-mask.js';
import { CuSetMemo } from '../../src/hw/gpu/cu-set-memo.js';

describe('CuSetMemo', () => {
  const layout = makeCuLayout(loadHardware('mi300x').compute);

  it('gives sets of the same CUs one value, however they were made, and other sets their own', () => {
    let made = 0;
    const memo = new CuSetMemo(() => ({ n: made++ }));
    const a = firstNCus(layout, 64);
    const sameCus = cuRange(layout, 0, 64); // the same CUs, a new object
    expect(sameCus).not.toBe(a);
    expect(memo.get(sameCus)).toBe(memo.get(a));
    expect(memo.get(a)).toBe(memo.get(a));
    const other = cuRange(layout, 64, 64);
    expect(memo.get(other)).not.toBe(memo.get(a));
    expect(made).toBe(2);
    expect([...memo.values()]).toHaveLength(2);
  });
});
