import { describe, expect, it } from 'vitest';
import { configDifferences } from '../../src/hw/config/diff.js';
import { loadHardware } from '../../src/hw/config/load.js';
import { expectOneLineError, silica } from '../helpers/cli.js';

describe('hardware config differences', () => {
  it('compares mappings field by field and lists and values whole; a section one side leaves out is one difference', () => {
    const a = { name: 'a', compute: { cus: 8, tiles: [[1, 2]] }, only_a: 1 };
    const b = { name: 'a', compute: { cus: 16, tiles: [[1, 2]] }, only_b: { x: 2 } };
    expect(configDifferences(a, b)).toEqual([
      { field: 'compute.cus', a: 8, b: 16 },
      { field: 'only_a', a: 1, b: undefined },
      { field: 'only_b', a: undefined, b: { x: 2 } },
    ]);
    expect(configDifferences(a, { ...a, compute: { cus: 8, tiles: [[2, 1]] } })).toEqual([{ field: 'compute.tiles', a: [[1, 2]], b: [[2, 1]] }]);
    expect(configDifferences(a, structuredClone(a))).toEqual([]);
  });

  it('of a preset and itself with overrides: exactly the overridden fields', () => {
    const diff = configDifferences(loadHardware('mi300x'), loadHardware('mi300x', ['compute.cus=320', 'memory.hbm.efficiency=0.8']));
    expect(diff).toEqual([
      { field: 'compute.cus', a: 304, b: 320 },
      { field: 'memory.hbm.efficiency', a: 0.78, b: 0.8 },
    ]);
  });

  it('silica hw diff: a table, JSON, "no field differs", and one-line errors', () => {
    const table = silica(['hw', 'diff', 'h100-sxm', 'h200-sxm']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^field\s+h100-sxm\s+h200-sxm$/m);
    expect(table.stdout).toMatch(/^memory\.hbm\.peak_gbps\s+3350\s+4800$/m);
    const json = JSON.parse(silica(['hw', 'diff', 'mi300x', '--set', 'compute.cus=320', '--json']).stdout);
    expect(json).toEqual([{ field: 'compute.cus', a: 304, b: 320 }]);
    expect(silica(['hw', 'diff', 'mi300x', 'mi300x']).stdout).toBe('mi300x and mi300x: no field differs\n');
    expectOneLineError(silica(['hw', 'diff']), /^silica: hw diff: expected two presets or YAML paths/);
    expectOneLineError(silica(['hw', 'show', 'mi300x', 'h100-sxm']), /hw show: expected one preset name, got a second \("h100-sxm"; hw diff compares two\)$/);
  });
});
