import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, silica } from '../helpers/cli.js';
import { SilicaError } from '../../src/core/errors.js';
import '../../src/study/index.js';
import { loadSweep } from '../../src/sweep/spec.js';
import { tempDir } from './helpers.js';

const BASE = `base:
  kind: kernels
  hw: mi300x
  figure: false
  points:
    - { op: gemm, m: 1024, n: 1024, k: 1024 }
`;

describe('bad sweep files give one-line errors and write nothing', () => {
  const dir = tempDir('bad');
  const cases: Array<[string, string, RegExp]> = [
    ['unknown path', `${BASE}axes:\n  points.0.bogus: [1, 2]\n`, /unknown-path\.yaml: axes\.points\.0\.bogus: unknown path in the base experiment \(no field bogus\)$/],
    ['unknown top path', `${BASE}axes:\n  hw_typo: [mi300x]\n`, /axes\.hw_typo: unknown path in the base experiment/],
    ['index past the end', `${BASE}axes:\n  points.3.m: [1, 2]\n`, /axes\.points\.3\.m: unknown path in the base experiment \(points has 1 entries\)/],
    ['empty axis', `${BASE}axes:\n  points.0.m: []\n`, /empty-axis\.yaml: axes\.points\.0\.m: expected at least one value \(an empty axis gives no points\)$/],
    ['zip of unequal lengths', `${BASE}expand: zip\naxes:\n  points.0.m: [1, 2, 3]\n  points.0.n: [1, 2]\n`, /axes: expand: zip needs axes of equal length, got points\.0\.m=3, points\.0\.n=2$/],
    ['unknown set path', `${BASE}set:\n  points.0.q: 3\n`, /set\.points\.0\.q: unknown path in the base experiment/],
    ['unknown variant path', `${BASE}variants:\n  - { name: a, set: { cus_typo: [1] } }\n`, /variants\.a\.set\.cus_typo: unknown path/],
    ['unknown filter path', `${BASE}filters:\n  - exclude: { points.0.mm: 1 }\n`, /filters\.0\.exclude\.points\.0\.mm: unknown path/],
    ['filters drop everything', `${BASE}filters:\n  - keep: { points.0.m: 7 }\n`, /filters: expected at least one point to survive, got none of 1$/],
    ['bad value for the kind', `${BASE}axes:\n  points.0.m: [64, -1]\n`, /point 1 \(points_0_m=-1\): points\.0\.m: .*got -1$/],
    // What the schema cannot see (a preset exists, an override is valid) is checked at load too.
    ['unknown preset on an axis', `${BASE}axes:\n  hw: [mi300x, nope]\n`, /point 1 \(hw=nope\): hw: unknown preset "nope"/],
    ['invalid hardware override', `${BASE.replace('figure: false', 'figure: false\n  hw_overrides: {}')}variants:\n  - { name: ok }\n  - { name: fast, set: { hw_overrides: { memory: { hbm: { efficiency: 7 } } } } }\n`, /point 1 \(variant=fast\): .*memory\.hbm\.efficiency \(set by the override memory\.hbm\.efficiency=7\)/],
    ['unknown kind', `base:\n  kind: nope\n`, /base\.kind|kind: expected one of .*kernels.*suite.*, got "nope"/],
    ['unknown top-level field', `${BASE}axis:\n  hw: [mi300x]\n`, /\(top level\): expected no unknown fields \(axis\)/],
    ['bad expand', `${BASE}expand: cross\n`, /expand: expected grid or zip, got "cross"/],
    ['missing base file', `base: ./nowhere.yaml\n`, /base: expected an experiment file, no such file \.\/nowhere\.yaml/],
    ['malformed YAML', `base: [unclosed\n`, /malformed YAML/],
    ['a condition under not', `${BASE}axes:\n  points.0.m: [1, 2]\nfilters:\n  - keep: { points.0.m: { not: { min: 2 } } }\n`, /filters\.0\.keep\.points\.0\.m\.not: expected a value or a list of values, got a mapping$/],
    ['empty filter', `${BASE}filters:\n  - keep: {}\n`, /filters\.0\.keep: expected a mapping of path: condition, got an empty mapping$/],
    ['unknown YAML tag', `${BASE.replace('kind: kernels', 'kind: !foo kernels')}`, /malformed YAML at line 2, column 9: unknown tag: !foo/],
  ];
  // The loader is what rejects a bad file; check every case in-process (fast) ...
  for (const [name, text, pattern] of cases) {
    it(name, () => {
      const file = join(dir, `${name.replace(/ /g, '-')}.yaml`);
      writeFileSync(file, text);
      let message = '';
      try {
        loadSweep(file);
      } catch (err) {
        expect(err).toBeInstanceOf(SilicaError);
        message = (err as Error).message;
      }
      expect(message).toMatch(pattern);
      expect(message).not.toContain('\n');
    });
  }

  // ... and the contract at the CLI edge for the three the issue names: one line, non-zero, no output.
  for (const name of ['unknown path', 'empty axis', 'zip of unequal lengths']) {
    it(`CLI: ${name}`, () => {
      const [, text, pattern] = cases.find(([n]) => n === name)!;
      const file = join(dir, `cli-${name.replace(/ /g, '-')}.yaml`);
      writeFileSync(file, text);
      const out = join(dir, `out-${name.replace(/ /g, '-')}`);
      expectOneLineError(silica(['sweep', file, '--out', out, '--jobs', '1']), pattern);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('bad flags', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, `${BASE}axes:\n  points.0.m: [1, 2]\n`);
    expectOneLineError(silica(['sweep', file, '--out', join(dir, 'o1'), '--shard', '4/4']), /--shard: expected i\/N with 0 <= i < N/);
    expectOneLineError(silica(['sweep', file, '--out', join(dir, 'o2'), '--jobs', '0']), /--jobs: expected a positive whole number/);
    expectOneLineError(silica(['sweep', file]), /--out: expected an output directory/);
    expectOneLineError(silica(['merge', dir, '--out', join(dir, 'o3')]), /not a sweep output folder/);
    // Thousands of lanes would each start a thread with its own heap before anything is checked.
    expectOneLineError(silica(['sweep', file, '--out', join(dir, 'o5'), '--jobs', '100000']), /--jobs: expected at most \d+ \(4 per CPU of this machine's \d+\), got 100000/);
    expect(existsSync(join(dir, 'o5'))).toBe(false);
    // A shard folder whose resolved config was damaged: named, one line.
    const shard = join(dir, 'damaged');
    mkdirSync(shard);
    writeFileSync(join(shard, 'points.jsonl'), '');
    writeFileSync(join(shard, 'config.resolved.yaml'), 'sweep: [\n');
    expectOneLineError(silica(['merge', shard, '--out', join(dir, 'o6')]), /damaged\/config\.resolved\.yaml: malformed YAML/);
    expect(existsSync(join(dir, 'o6'))).toBe(false);
    // Well-formed YAML, but a point without its index and id.
    writeFileSync(join(shard, 'config.resolved.yaml'), 'sweep:\n  name: s\npoints:\n  - config: {}\n');
    expectOneLineError(silica(['merge', shard, '--out', join(dir, 'o6')]), /damaged\/config\.resolved\.yaml: expected a resolved sweep \(sweep, points\), written by silica sweep/);
    expect(existsSync(join(dir, 'o6'))).toBe(false);
    // An unknown flag stops the command before it runs: nothing is written.
    const o4 = join(dir, 'o4');
    expectOneLineError(silica(['sweep', file, '--out', o4, '--jbos', '2']), /Unknown argument: jbos/);
    expect(existsSync(o4)).toBe(false);
  });

  it('a point that fails at run time names the point', () => {
    const file = join(dir, 'runtime.yaml');
    writeFileSync(file, `${BASE.replace('figure: false', 'figure: false\n  cus: [8]')}axes:\n  cus.0: [8, 999]\n`);
    const out = join(dir, 'out-runtime');
    expectOneLineError(silica(['sweep', file, '--out', out, '--jobs', '1', '--quiet']), /runtime\.yaml: point 1 \(cus_0=999\): cus\.0: expected at most 304/);
  });
});
