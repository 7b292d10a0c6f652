import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hardwareFiles, loadHardware } from '../../src/hw/config/load.js';
import { gemmCost } from '../../src/kernels/gemm.js';
import { simulateKernel } from '../../src/hw/system.js';
import { ROOT, expectOneLineError, silica } from '../helpers/cli.js';
import { silicaErrorOf } from '../helpers/errors.js';

/**
 * A hardware file that starts from a preset (`base: mi300x`) and gives only what differs; and
 * overrides of optional fields a preset leaves out.
 */
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
      ['base: mi301x\n', /bad\.yaml: base: expected a preset name \(a100-sxm, .*mi300x.*\) or a hardware file \(a path ending in \.yaml\), got "mi301x"$/],
      ['base: other.yaml\n', /bad\.yaml: base: no such file other\.yaml \(.*other\.yaml\)$/],
      ['base: [mi300x]\n', /bad\.yaml: base: expected a preset name .*, got a list of 1$/],
      ['base: mi300x\ncompute: {cuz: 320}\n', /bad\.yaml: compute: expected no unknown fields \(cuz\)/],
      ['base: mi300x\ncompute: {cus: -3}\n', /bad\.yaml: compute\.cus: expected a positive number, got -3$/],
      ['base: mi300x\n__proto__: {compute: {cus: 1}}\n', /bad\.yaml: __proto__: expected a field name, got __proto__ \(no silica field has it\)$/],
    ];
    for (const [text, pattern] of cases) {
      const path = hwFile('bad.yaml', text);
      expect(silicaErrorOf(() => loadHardware(path))).toMatch(pattern);
    }
  });

  it('a file without a base that leaves fields out is told how to give only what differs', () => {
    const partial = hwFile('partial.yaml', 'compute: {cus: 320}\n');
    expect(silicaErrorOf(() => loadHardware(partial))).toMatch(/partial\.yaml: name: expected a string \(missing\); a file that gives only what differs from a preset starts with base: PRESET \(silica hw list\)$/);
    // With a base, a field it lacks is the file's own mistake (a section the preset does not have, given half): no hint.
    expect(silicaErrorOf(() => loadHardware(hwFile('half-llc.yaml', 'base: h100-sxm\nmemory: {llc: {}}\n')))).toMatch(/half-llc\.yaml: memory\.llc\.bytes: expected a number \(missing\)$/);
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

describe('a hardware file with base: FILE', () => {
  it('is its base file with its own fields over it, each file over the one it names, down to the preset', () => {
    hwFile('my-gpu.yaml', 'base: mi300x\ncompute: {cus: 256}\nmemory: {hbm: {efficiency: 0.8}}\n');
    mkdirSync(join(dir, 'what-if'), { recursive: true });
    // Relative to the file's own folder, as every path in a silica file is.
    const wide = hwFile('what-if/wide.yaml', 'base: ../my-gpu.yaml\ncompute: {cus: 320}\n');
    const hw = loadHardware(wide);
    expect(hw).toEqual({ ...loadHardware('mi300x', ['compute.cus=320', 'memory.hbm.efficiency=0.8']), name: 'wide', description: 'my-gpu.yaml with the changes in wide.yaml' });
    expect(hardwareFiles(wide)).toEqual([wide, join(dir, 'what-if', '..', 'my-gpu.yaml')]);
    expect(hardwareFiles(join(ROOT, 'configs', 'hw', 'mi300x.yaml'))).toHaveLength(1);
  });

  it('an edit to the base file is an edit to every file built on it', () => {
    const base = hwFile('edited-base.yaml', 'base: mi300x\ncompute: {cus: 256}\n');
    const top = hwFile('edited-top.yaml', 'base: edited-base.yaml\nmemory: {hbm: {efficiency: 0.8}}\n');
    expect(loadHardware(top).compute.cus).toBe(256);
    // A different size, so the file's version changes even within the file system's time resolution.
    writeFileSync(base, 'base: mi300x\ncompute: {cus: 128}\n# halved\n');
    expect(loadHardware(top).compute.cus).toBe(128);
  });

  it('refuses a chain that comes back to itself, and a base file that is not there, in one line', () => {
    hwFile('loop-a.yaml', 'base: loop-b.yaml\n');
    const b = hwFile('loop-b.yaml', 'base: loop-a.yaml\n');
    expect(silicaErrorOf(() => loadHardware(b))).toMatch(/loop-a\.yaml: base: loop-b\.yaml leads back to .*loop-b\.yaml \(loop-b\.yaml -> loop-a\.yaml -> loop-b\.yaml\): expected a chain that ends at a preset or at a file without base$/);
    expect(silicaErrorOf(() => loadHardware(hwFile('self.yaml', 'base: ./self.yaml\n')))).toMatch(/self\.yaml: base: \.\/self\.yaml leads back to/);
    expectOneLineError(silica(['hw', 'show', hwFile('gone.yaml', 'base: nowhere/gone.yaml\n')]), /gone\.yaml: base: no such file nowhere\/gone\.yaml/);
  });

  it('a bad field a base file writes is named in that file, not in the file built on it', () => {
    hwFile('lab-bad.yaml', 'base: mi300x\ncompute: {cus: -1}\n');
    const top = hwFile('on-lab-bad.yaml', 'base: lab-bad.yaml\nmemory: {hbm: {efficiency: 0.8}}\n');
    expect(silicaErrorOf(() => loadHardware(top))).toMatch(/\/lab-bad\.yaml: compute\.cus: expected a positive number, got -1 \(\S*on-lab-bad\.yaml starts from it\)$/);
    hwFile('lab-typo.yaml', 'base: mi300x\ncompute: {cuz: 1}\n');
    expect(silicaErrorOf(() => loadHardware(hwFile('on-lab-typo.yaml', 'base: lab-typo.yaml\n')))).toMatch(/\/lab-typo\.yaml: compute: expected no unknown fields \(cuz\);.* \(\S*on-lab-typo\.yaml starts from it\)$/);
    // The file's own value, and an override's, are theirs.
    expect(silicaErrorOf(() => loadHardware(hwFile('own-bad.yaml', 'base: lab-bad.yaml\ncompute: {cus: -2}\n')))).toMatch(/own-bad\.yaml: compute\.cus: expected a positive number, got -2$/);
    expect(silicaErrorOf(() => loadHardware(top, ['compute.cus=-3']))).toMatch(/on-lab-bad\.yaml: compute\.cus \(set by the override compute\.cus=-3\): expected a positive number, got -3$/);
  });
});

describe('an optional hardware field a preset leaves out', () => {
  // compute.dram_gbps_per_cu (what one CU can pull from DRAM) is set on the NVIDIA presets only.
  it('can be set by --set and by an experiment\'s hw_overrides, and bounds what the CUs draw', () => {
    expect(loadHardware('mi300x').compute.dram_gbps_per_cu).toBeUndefined();
    const capped = loadHardware('mi300x', ['compute.dram_gbps_per_cu=20']);
    expect(capped.compute.dram_gbps_per_cu).toBe(20);
    const stream = (extra: string[]) => JSON.parse(silica(['kernel', 'stream', '--op', 'copy', '--bytes', '256MiB', '--cus', '8', '--json', ...extra]).stdout) as { achieved_gbps: number };
    const free = stream([]).achieved_gbps;
    const limited = stream(['--set', 'compute.dram_gbps_per_cu=20']).achieved_gbps;
    expect(limited).toBeLessThanOrEqual(8 * 20 * 1.001);
    expect(limited).toBeLessThan(free);
    const exp = hwFile('capped-kernels.yaml', 'kind: kernels\nhw: mi300x\nhw_overrides: {compute: {dram_gbps_per_cu: 20}}\nfigure: false\npoints:\n  - {op: stream, stream: copy, bytes: 256MiB}\ncus: [8]\n');
    const out = join(dir, 'capped-out');
    const r = silica(['run', exp, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [header, row] = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    expect(Number(row![header!.indexOf('achieved_gbps')])).toBeCloseTo(limited, 3);
  });

  it('a field the schema does not have is still refused, naming the override', () => {
    expect(silicaErrorOf(() => loadHardware('mi300x', ['compute.dram_gbps_per_cux=20']))).toMatch(/^--set compute\.dram_gbps_per_cux: no such field in configs\/hw\/mi300x\.yaml \(compute has clock_peak_mhz, .*, cus, .*\)$/);
    expect(silicaErrorOf(() => loadHardware('mi300x', ['compute.dram_gbps_per_cu=-1']))).toMatch(/compute\.dram_gbps_per_cu \(set by the override compute\.dram_gbps_per_cu=-1\): expected a positive number, got -1$/);
  });
});
