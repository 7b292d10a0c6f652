import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import { simulateKernel } from '../../src/hw/system.js';
import { expectOneLineError, silica } from '../helpers/cli.js';
import { silicaErrorOf } from '../helpers/errors.js';

/** A hardware file that starts from a preset (`base: mi300x`) and gives only what differs. */
const dir = mkdtempSync(join(tmpdir(), 'silica-hw-base-'));
function hwFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('a hardware file with base: PRESET', () => {
  it('is the preset with its fields overridden, as --set would, named after the file', () => {
    const path = hwFile('wide-mi300x.yaml', 'base: mi300x\ncompute: {cus: 320}\nmemory: {hbm: {efficiency: 0.8}}\n');
    const derived = loadHardware(path);
    const viaOverrides = loadHardware('mi300x', ['compute.cus=320', 'memory.hbm.efficiency=0.8']);
    expect(derived).toEqual({ ...viaOverrides, name: 'wide-mi300x', description: 'mi300x with the changes in wide-mi300x.yaml' });
    // Untouched sections are the preset's, field for field.
    expect(derived.interconnect).toEqual(loadHardware('mi300x').interconnect);
  });

  it('keeps a name and description of its own; a list replaces the preset\'s whole', () => {
    const path = hwFile('tiles.yaml', 'base: h100-sxm\nname: h100-big-tiles\ndescription: H100 with only large tiles\ncompute: {gemm_tiles: [[256, 128]]}\n');
    const hw = loadHardware(path);
    expect(hw.name).toBe('h100-big-tiles');
    expect(hw.description).toBe('H100 with only large tiles');
    expect(hw.compute.gemm_tiles).toEqual([[256, 128]]);
    expect(hw.compute.cus).toBe(loadHardware('h100-sxm').compute.cus);
  });

  it('more CUs never make a compute-bound GEMM slower', () => {
    const base = loadHardware('mi300x');
    const wider = loadHardware(hwFile('more-cus.yaml', 'base: mi300x\ncompute: {cus: 320}\n'));
    const shape = { m: 8192, n: 8192, k: 8192, dtype: 'bf16' as const };
    const ns = (hw: typeof base) => simulateKernel(hw, gemmCost(hw, shape)).timeNs;
    expect(ns(wider)).toBeLessThanOrEqual(ns(base));
  });

  it('refuses a base that is not a preset, and names the file and field', () => {
    const cases: Array<[string, RegExp]> = [
      ['base: mi301x\n', /bad\.yaml: base: expected a preset name \(a100-sxm, .*mi300x.*\), got "mi301x"$/],
      ['base: other.yaml\n', /bad\.yaml: base: expected a preset name .*, got "other\.yaml" \(a file starts from a preset, not from another file\)$/],
      ['base: [mi300x]\n', /bad\.yaml: base: expected a preset name .*, got a list of 1$/],
      ['base: mi300x\ncompute: {cuz: 320}\n', /bad\.yaml: compute: expected no unknown fields \(cuz\)/],
      ['base: mi300x\ncompute: {cus: -3}\n', /bad\.yaml: compute\.cus: expected a positive number, got -3$/],
      ['base: mi300x\n__proto__: {compute: {cus: 1}}\n', /bad\.yaml: \(top level\): expected no unknown fields \(__proto__\)/],
    ];
    for (const [text, pattern] of cases) {
      const path = hwFile('bad.yaml', text);
      expect(silicaErrorOf(() => loadHardware(path))).toMatch(pattern);
    }
  });

  it('a file without a base that leaves fields out is told how to give only what differs', () => {
    const partial = hwFile('partial.yaml', 'compute: {cus: 320}\n');
    expect(silicaErrorOf(() => loadHardware(partial))).toMatch(/partial\.yaml: name: expected a string \(missing\); a file that gives only what differs from a preset starts with base: PRESET \(silica hw list\)$/);
    // With a base, a field it lacks is the file's own mistake: no hint.
    expect(silicaErrorOf(() => loadHardware(hwFile('nulled.yaml', 'base: mi300x\ncompute: {cus: null}\n')))).toMatch(/nulled\.yaml: compute\.cus: expected a number, got null$/);
  });

  it('the CLI reads one as any hardware file (hw show, one-line errors)', () => {
    const path = hwFile('cli.yaml', 'base: mi300x\nmemory: {hbm: {efficiency: 0.75}}\n');
    const shown = silica(['hw', 'show', path, '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: 'cli', memory: { hbm: { efficiency: 0.75 } } });
    expectOneLineError(silica(['kernel', 'gemm', '--hw', hwFile('typo.yaml', 'base: mi300y\n'), '-m', '64', '-n', '64', '-k', '64']), /typo\.yaml: base: expected a preset name/);
  });
});
