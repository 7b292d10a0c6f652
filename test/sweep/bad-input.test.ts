import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, silica } from '../helpers/cli.js';
import { SilicaError } from '../../src/core/errors.js';
import '../../src/study/index.js';
import { loadSweep } from '../../src/sweep/spec.js';
import { loadExperimentFile } from '../../src/sweep/experiment.js';
import { mergeSweepDirs } from '../../src/sweep/merge.js';
import { runSweep } from '../../src/sweep/run-sweep.js';
import { readCompleted } from '../../src/sweep/completed.js';
import { removeLeftoverTemporaries } from '../../src/sweep/store.js';
import { tempDir } from './helpers.js';

const BASE = `base:
  kind: kernels
  hw: mi300x
  figure: false
  points:
    - { op: gemm, m: 1024, n: 1024, k: 1024 }
`;

const SERVE = `base:
  kind: serve
  hw: mi300x
  gpus: 8
  tp: 8
  models: [llama3.1-70b]
  workloads: [lmsys]
  policies:
    - { name: disagg, policy: disagg, options: { prefill_gpus: 4, decode_gpus: 4, prefill_tp: 4, decode_tp: 4 } }
  compare: disagg
  baselines: []
  figures: false
`;

describe('bad sweep files give one-line errors and write nothing', () => {
  const dir = tempDir('bad');
  const cases: Array<[string, string, RegExp]> = [
    ['unknown path', `${BASE}axes:\n  points.0.bogus: [1, 2]\n`, /unknown-path\.yaml: axes\.points\.0\.bogus: unknown path in the base experiment \(no field bogus\)$/],
    ['unknown top path', `${BASE}axes:\n  hw_typo: [mi300x]\n`, /axes\.hw_typo: unknown path in the base experiment/],
    // A field the kind fills in by default exists for the kind but not in the tree a sweep overlays.
    ['a field the kind defaults', `${BASE}axes:\n  points.0.dtype: [bf16, fp8]\n`, /axes\.points\.0\.dtype: unknown path in the base experiment \(no field dtype; the experiment kind defaults it: write points\.0\.dtype in the base to sweep it\)$/],
    ['index past the end', `${BASE}axes:\n  points.3.m: [1, 2]\n`, /axes\.points\.3\.m: unknown path in the base experiment \(points has 1 entries\)/],
    ['empty path', `${BASE}axes:\n  '': [1, 2]\n`, /axes\.: unknown path in the base experiment \(an empty field name: expected a dotted path such as points\.0\.m\)$/],
    ['empty axis', `${BASE}axes:\n  points.0.m: []\n`, /empty-axis\.yaml: axes\.points\.0\.m: expected at least one value \(an empty axis gives no points\)$/],
    ['a value repeated on an axis', `${BASE}axes:\n  points.0.m: [1, 64, 1]\n`, /repeated-on-an-axis\.yaml: axes\.points\.0\.m: expected distinct values, got 1 twice \(values 0 and 2: the same points twice\)$/],
    ['a combination repeated by zipped axes', `${BASE}expand: zip\naxes:\n  points.0.m: [1, 1, 2]\n  points.0.n: [8, 8, 8]\n`, /axes: expected distinct zipped combinations, got points\.0\.m=1, points\.0\.n=8 twice \(positions 0 and 1: the same points twice\)$/],
    ['zip of unequal lengths', `${BASE}expand: zip\naxes:\n  points.0.m: [1, 2, 3]\n  points.0.n: [1, 2]\n`, /axes: expand: zip needs axes of equal length, got points\.0\.m=3, points\.0\.n=2$/],
    ['unknown set path', `${BASE}set:\n  points.0.q: 3\n`, /set\.points\.0\.q: unknown path in the base experiment/],
    ['unknown variant path', `${BASE}variants:\n  - { name: a, set: { cus_typo: [1] } }\n`, /variants\.a\.set\.cus_typo: unknown path/],
    ['unknown filter path', `${BASE}filters:\n  - exclude: { points.0.mm: 1 }\n`, /filters\.0\.exclude\.points\.0\.mm: unknown path/],
    ['filters drop everything', `${BASE}filters:\n  - keep: { points.0.m: 7 }\n`, /filters: expected at least one point to survive, got none of 1$/],
    ['bad value for the kind', `${BASE}axes:\n  points.0.m: [64, -1]\n`, /point 1 \(points_0_m=-1\): points\.0\.m: .*got -1$/],
    // What the schema cannot see (a preset exists, an override is valid) is checked at load too.
    ['unknown preset on an axis', `${BASE}axes:\n  hw: [mi300x, nope]\n`, /point 1 \(hw=nope\): hw: unknown preset "nope"/],
    ['invalid hardware override', `${BASE.replace('figure: false', 'figure: false\n  hw_overrides: {}')}variants:\n  - { name: ok }\n  - { name: fast, set: { hw_overrides: { memory: { hbm: { efficiency: 7 } } } } }\n`, /point 1 \(variant=fast\): .*memory\.hbm\.efficiency \(set by the override memory\.hbm\.efficiency=7\)/],
    // A serving study's cases are resolved at load (policy options included), not when its point runs.
    ['a serving policy option of the wrong type', SERVE.replace('prefill_gpus: 4', 'prefill_gpus: two'), /point 0: policies\.0\.options\.prefill_gpus: expected a number, got "two"$/],
    ['a serving policy option out of range on an axis', `${SERVE}axes:\n  policies.0.options.prefill_gpus: [4, 9]\n`, /point 1 \(policies_0_options_prefill_gpus=9\): policies\.0\.options\.prefill_gpus: expected at most 7 \(the decode pool needs at least one of the 8 GPUs\), got 9$/],
    // So are a BERT study's configurations: a combination the runtime refuses is refused at load.
    ['a BERT configuration the runtime cannot run', `base:\n  kind: bert\n  figures: false\n  baseline: { optimizer: lamb, optimizer_impl: fused }\n  studies:\n    - { name: batch, vary: { batch: [8, 32] } }\naxes:\n  baseline.optimizer_impl: [fused, per-tensor]\n`, /point 1 \(baseline_optimizer_impl=per-tensor\): baseline\.optimizer_impl: per-tensor is PyTorch's for-loop AdamW: expected the adam optimizer, got lamb/],
    ['unknown kind', `base:\n  kind: nope\n`, /base\.kind|kind: expected one of .*kernels.*suite.*, got "nope"/],
    ['unknown top-level field', `${BASE}axis:\n  hw: [mi300x]\n`, /\(top level\): expected no unknown fields \(axis\)/],
    ['bad expand', `${BASE}expand: cross\n`, /expand: expected grid or zip, got "cross"/],
    ['missing base file', `base: ./nowhere.yaml\n`, /base: expected an experiment file, no such file \.\/nowhere\.yaml/],
    ['malformed YAML', `base: [unclosed\n`, /malformed YAML/],
    ['a condition inside a not list', `${BASE}axes:\n  points.0.m: [1, 2]\nfilters:\n  - keep: { points.0.m: { not: [{ min: 2 }] } }\n`, /filters\.0\.keep\.points\.0\.m\.not\.0: expected a value to compare with, got the condition \{"min":2\} \(conditions do not nest in lists\)$/],
    ['a condition key mixed into a list entry', `${BASE}axes:\n  points.0.m: [1, 2]\nfilters:\n  - keep: { points.0.m: [{ max: 2, foo: 1 }] }\n`, /filters\.0\.keep\.points\.0\.m\.0: expected a value to compare with, got \{"max":2,"foo":1\}, a mapping with the condition key max \(conditions do not nest in lists\)$/],
    ['a condition inside a list', `${BASE}axes:\n  points.0.m: [1, 2]\nfilters:\n  - exclude: { points.0.m: [1, { max: 8 }] }\n`, /filters\.0\.exclude\.points\.0\.m\.1: expected a value to compare with, got the condition \{"max":8\}/],
    ['a condition under not', `${BASE}axes:\n  points.0.m: [1, 2]\nfilters:\n  - keep: { points.0.m: { not: { min: 2 } } }\n`, /filters\.0\.keep\.points\.0\.m\.not: expected a value or a list of values, got a mapping$/],
    ['empty filter', `${BASE}filters:\n  - keep: {}\n`, /filters\.0\.keep: expected a mapping of path: condition, got an empty mapping$/],
    ['a range without an end', `${BASE}axes:\n  points.0.m: { from: 64, step: 64 }\n`, /axes\.points\.0\.m\.to: expected a number \(missing\)$/],
    ['a range both arithmetic and geometric', `${BASE}axes:\n  points.0.m: { from: 64, to: 512, step: 64, times: 2 }\n`, /axes\.points\.0\.m: expected one of step \(arithmetic\) or times \(geometric\), got both$/],
    ['a range with values too', `${BASE}axes:\n  points.0.m: { from: 64, to: 512, step: 64, values: [1] }\n`, /axes\.points\.0\.m: expected values or a range \(from, to, step\|times\), got both$/],
    ['a range running backwards', `${BASE}axes:\n  points.0.m: { from: 512, to: 64, step: 64 }\n`, /axes\.points\.0\.m\.to: expected at least from \(512\), got 64$/],
    ['a zero step', `${BASE}axes:\n  points.0.m: { from: 64, to: 512, step: 0 }\n`, /axes\.points\.0\.m\.step: expected a positive number, got 0$/],
    ['a geometric range that does not grow', `${BASE}axes:\n  points.0.m: { from: 64, to: 512, times: 1 }\n`, /axes\.points\.0\.m\.times: expected a number above 1, got 1$/],
    ['a range of too many values', `${BASE}axes:\n  points.0.m: { from: 1, to: 1000000, step: 1 }\n`, /axes\.points\.0\.m: expected at most 100000 values, got 1000000 \(from 1 to 1000000 by 1\)$/],
    ['an unknown axis field', `${BASE}axes:\n  points.0.m: { from: 64, to: 512, by: 64 }\n`, /axes\.points\.0\.m: expected a list of values, \{name, values\} or a range \{from, to, step\|times\}, got unknown field by$/],
    ['a sample larger than the sweep', `${BASE}axes:\n  points.0.m: [1, 2, 3]\nfilters:\n  - exclude: { points.0.m: 3 }\nsample: { points: 5 }\n`, /sample\.points: expected at most the 2 points the axes and filters give, got 5$/],
    ['an empty sample', `${BASE}sample: { points: 0, seed: 1 }\n`, /sample\.points: expected a positive whole number, got 0$/],
    ['a sample without points', `${BASE}sample: { seed: 1 }\n`, /sample\.points: expected a positive whole number \(missing\)$/],
    ['a negative sample seed', `${BASE}sample: { points: 1, seed: -2 }\n`, /sample\.seed: expected a whole number from 0 to 2147483647, got -2$/],
    ['an unknown sample field', `${BASE}sample: { points: 1, size: 2 }\n`, /sample: expected fields points and seed, got unknown field size$/],
    // `variant` in a filter names a variant, not a path: a name no variant has would match nothing.
    ['a filter on the variant of a sweep without variants', `${BASE}axes:\n  points.0.m: [1, 2]\nfilters:\n  - exclude: { variant: nominal }\n`, /filters\.0\.exclude\.variant: expected a sweep with variants, got none \(no point has a variant to match\)$/],
    ['a filter on a variant name no variant has', `${BASE}axes:\n  points.0.m: [1, 2]\nvariants:\n  - { name: nominal }\n  - { name: slow }\nfilters:\n  - exclude: { variant: nomnal, points.0.m: 1 }\n`, /filters\.0\.exclude\.variant: expected a variant name \(nominal, slow\), got "nomnal"$/],
    ['a variant name in a filter list no variant has', `${BASE}variants:\n  - { name: nominal }\n  - { name: slow }\nfilters:\n  - keep: { variant: { not: [slow, fast] } }\n`, /filters\.0\.keep\.variant: expected a variant name \(nominal, slow\), got "fast"$/],
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

  it('a sweep file given to silica run says which command runs it', () => {
    const file = join(dir, 'sweep-as-experiment.yaml');
    writeFileSync(file, `${BASE}axes:\n  points.0.m: [1, 2]\n`);
    expect(() => loadExperimentFile(file)).toThrow(/sweep-as-experiment\.yaml: kind: expected the name of an experiment kind \(.*\) \(missing; this is a sweep file: run it with silica sweep\)$/);
  });

  it('an experiment file given to silica sweep says which command runs it, and a bad kind names the point', () => {
    const file = join(dir, 'experiment-as-sweep.yaml');
    writeFileSync(file, BASE.replace('base:\n', '').replace(/^  /gm, ''));
    expect(() => loadSweep(file)).toThrow(/experiment-as-sweep\.yaml: \(top level\): expected no unknown fields \(kind, hw, figure, points\); allowed: .* \(this is an experiment file: run it with silica run, or name it as a sweep's base\)$/);
    const kindAxis = join(dir, 'kind-axis.yaml');
    writeFileSync(kindAxis, `${BASE}axes:\n  kind: [kernels, nope]\n`);
    expect(() => loadSweep(kindAxis)).toThrow(/kind-axis\.yaml: point 1 \(kind=nope\): kind: expected one of .*, got "nope"$/);
  });

  it('bad flags', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, `${BASE}axes:\n  points.0.m: [1, 2]\n`);
    expectOneLineError(silica(['sweep', file, '--out', join(dir, 'o1'), '--shard', '4/4']), /--shard: expected i\/N with 0 <= i < N/);
    expectOneLineError(silica(['sweep', file, '--out', join(dir, 'o2'), '--jobs', '0']), /--jobs: expected a positive whole number/);
    expectOneLineError(silica(['sweep', file]), /--out: expected an output directory/);
    expectOneLineError(silica(['sweep', file, '--out', join(dir, 'o7'), '--partition', 'gpu']), /^silica: --partition: only with --emit-slurm/);
    expectOneLineError(silica(['sweep', file, '--out', join(dir, 'o7'), '--shards', '8']), /^silica: --shards: only with --emit-slurm .*; --shard i\/N runs one shard$/);
    expect(existsSync(join(dir, 'o7'))).toBe(false);
    expectOneLineError(silica(['merge', dir, '--out', join(dir, 'o3')]), /not a sweep output folder/);
    expectOneLineError(silica(['merge', '--out', join(dir, 'o3')]), /^silica: merge: expected one or more sweep output folders to merge/);
    expect(existsSync(join(dir, 'o3'))).toBe(false);
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

  it('refuses a folder where a sweep file name is a directory, before anything in it moves', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, `${BASE}axes:\n  points.0.m: [1, 2]\n`);
    for (const name of ['summary.json', 'results.csv', 'sweep.lock']) {
      const out = join(dir, `taken-${name}`);
      mkdirSync(join(out, name), { recursive: true });
      expectOneLineError(silica(['sweep', file, '--out', out, '--quiet']), new RegExp(`--out .*taken-${name}/${name.replace('.', '\\.')}: expected a file, got a directory$`));
      // Nothing set aside, nothing written: the folder holds what it held.
      expect(readdirSync(out)).toEqual([name]);
    }
  });

  it('a point that fails at run time names the point', () => {
    const file = join(dir, 'runtime.yaml');
    writeFileSync(file, `${BASE.replace('figure: false', 'figure: false\n  cus: [8]')}axes:\n  cus.0: [8, 999]\n`);
    const out = join(dir, 'out-runtime');
    expectOneLineError(silica(['sweep', file, '--out', out, '--jobs', '1', '--quiet']), /runtime\.yaml: point 1 \(cus_0=999\): cus\.0: expected at most 304/);
    // Fewer CUs than MI300X's 8 XCDs leave some empty: the message names the CU count and the kernel.
    writeFileSync(file, `${BASE.replace('figure: false', 'figure: false\n  cus: [8]')}axes:\n  cus.0: [8, 4]\n`);
    expectOneLineError(silica(['sweep', file, '--out', join(dir, 'out-runtime-xcd'), '--jobs', '1', '--quiet']), /point 1 \(cus_0=4\): cus\.0 \(4 CUs\), points\.0: CU mask leaves XCD 4, 5, 6, 7 without CUs/);
  });
});

describe('merge takes shards of one sweep only', () => {
  const dir = tempDir('merge-mixed');
  const file = join(dir, 's.yaml');
  const sweep = (ms: number[], n = 1024) => `${BASE.replace('n: 1024', `n: ${n}`)}axes:\n  points.0.m: [${ms.join(', ')}]\n`;
  /** Shard i/2 of the sweep file as it reads now, into its own folder. */
  const shard = async (i: number, out: string) => {
    await runSweep(loadSweep(file, { shard: { index: i, count: 2 } }), { out, jobs: 1, resume: false, shard: { index: i, count: 2 }, quiet: true });
    return out;
  };
  const mergeMessage = (dirs: string[], out: string) => {
    try {
      mergeSweepDirs(dirs, out);
    } catch (err) {
      expect(err).toBeInstanceOf(SilicaError);
      expect(existsSync(out)).toBe(false);
      return (err as Error).message;
    }
    throw new Error('expected the merge to fail');
  };

  it('refuses shards run before and after the sweep file changed: its axes, or its base', async () => {
    writeFileSync(file, sweep([64, 128, 256, 512]));
    const first = await shard(0, join(dir, 'a0'));
    writeFileSync(file, sweep([64, 128, 256, 1024]));
    const axesChanged = await shard(1, join(dir, 'a1'));
    expect(mergeMessage([first, axesChanged], join(dir, 'm1'))).toMatch(/a1: its sweep's axes differ from .*a0's \(config\.resolved\.yaml\): the sweep file changed between the shards' runs/);
    writeFileSync(file, sweep([64, 128, 256, 512], 2048));
    const baseChanged = await shard(1, join(dir, 'b1'));
    expect(mergeMessage([first, baseChanged], join(dir, 'm2'))).toMatch(/b1: its sweep's base_id differs/);
    // The shards of one version merge.
    writeFileSync(file, sweep([64, 128, 256, 512]));
    expect(mergeSweepDirs([first, await shard(1, join(dir, 'ok1'))], join(dir, 'm3')).points).toBe(4);
  });

  it('refuses a ledger line naming another shard\'s point, whatever the order of the folders', async () => {
    writeFileSync(file, sweep([64, 128, 256, 512]));
    const s0 = await shard(0, join(dir, 'mixed0'));
    const s1 = await shard(1, join(dir, 'mixed1'));
    // Shard 1's first point, rows and ledger line, appended to shard 0's folder.
    for (const f of ['results.jsonl', 'points.jsonl']) appendFileSync(join(s0, f), readFileSync(join(s1, f), 'utf8').split('\n')[0] + '\n');
    for (const dirs of [[s0, s1], [s1, s0]]) expect(mergeMessage(dirs, join(dir, 'm5'))).toMatch(/mixed0\/points\.jsonl: point 1 \(id \w+\) is not a point of .*mixed0\/config\.resolved\.yaml/);
    expect(mergeMessage([join(dir, 'nowhere')], join(dir, 'm5'))).toMatch(/nowhere: no such folder \(expected the --out of silica sweep\)$/);
  });

  it('refuses a shard whose recorded points lost their rows, or whose ledger has a damaged line, and the same folder twice', async () => {
    writeFileSync(file, sweep([64, 128, 256, 512]));
    const s0 = await shard(0, join(dir, 'whole0'));
    const lostRows = await shard(1, join(dir, 'lost1'));
    // A recorded point's rows replaced by garbage: the merge used to drop the point with a note.
    const results = join(lostRows, 'results.jsonl');
    writeFileSync(results, 'garbage\n' + readFileSync(results, 'utf8').split('\n').slice(1).join('\n'));
    expect(mergeMessage([s0, lostRows], join(dir, 'm6'))).toMatch(/lost1\/results\.jsonl: point 1 \(id \w+\) is recorded in points\.jsonl, but its rows are missing or damaged \(expected 1\); .*--resume into it runs the point again\)$/);
    const badLedger = await shard(1, join(dir, 'ledger1'));
    appendFileSync(join(badLedger, 'points.jsonl'), 'garbage\n');
    expect(mergeMessage([s0, badLedger], join(dir, 'm7'))).toMatch(/ledger1\/points\.jsonl: 1 line that is not a ledger entry; expected the file as silica sweep wrote it/);
    // A last line cut short by a kill is what appending leaves: dropped, not refused.
    const cut = await shard(1, join(dir, 'cut1'));
    appendFileSync(join(cut, 'points.jsonl'), '{"point":3,"poi');
    expect(mergeSweepDirs([s0, cut], join(dir, 'm8')).points).toBe(4);
    expect(mergeMessage([s0, `${s0}/`], join(dir, 'm9'))).toMatch(/^merge: .*whole0\/: the same folder as .*whole0; expected each shard folder once$/);
    // Merged into one of its inputs, shard 0's folder would hold shard 1's points, and refuse its own --resume.
    const before = readFileSync(join(s0, 'points.jsonl'), 'utf8');
    expect(() => mergeSweepDirs([s0, cut], `${s0}/`)).toThrow(/^merge: --out .*whole0\/: one of the folders to merge \(.*whole0\); expected a folder of its own, e\.g\. OUT\/merged$/);
    expect(readFileSync(join(s0, 'points.jsonl'), 'utf8')).toBe(before);
  });

  it('refuses a ledger line that does not name a point of the folder as listed (an edited points.jsonl)', async () => {
    writeFileSync(file, sweep([64, 128, 256, 512]));
    const folder = await shard(0, join(dir, 'edited'));
    const ledger = join(folder, 'points.jsonl');
    writeFileSync(ledger, readFileSync(ledger, 'utf8').replace('"point":2,', '"point":0,'));
    expect(mergeMessage([folder], join(dir, 'm4'))).toMatch(/edited\/points\.jsonl: point 0 \(id \w+\) is not a point of .*edited\/config\.resolved\.yaml/);
  });
});

describe('a sweep that fails', () => {
  const dir = tempDir('failed-sweep');
  const FILES = ['results.csv', 'results.jsonl', 'points.jsonl', 'config.resolved.yaml', 'summary.json'];
  const snapshot = (out: string) => Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(join(out, f), 'utf8')]));
  /**
   * A sweep over n whose axis is named m: a point whose n differs from its m (1024) fails when it
   * runs, not at load (the tag m would contradict the row's column m), as a column clash does.
   */
  const nSweep = (name: string, ns: number[]) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `${BASE}axes:\n  points.0.n: { name: m, values: [${ns.join(', ')}] }\n`);
    return file;
  };
  const run = (file: string, out: string) => runSweep(loadSweep(file), { out, jobs: 1, resume: false, quiet: true });

  it('before finishing a point leaves the folder as it found it: the earlier run\'s results, byte for byte', async () => {
    const out = join(dir, 'earlier');
    await run(nSweep('good', [1024]), out);
    const before = snapshot(out);
    expect(Object.keys(before).sort()).toEqual([...FILES].sort());
    await expect(run(nSweep('bad-first', [2048, 1024]), out)).rejects.toThrow(/point 0 \(m=2048\): column m is both a sweep tag/);
    expect(snapshot(out)).toEqual(before);
  });

  it('after finishing a point keeps that point for --resume, and nothing of the earlier run', async () => {
    const out = join(dir, 'partial');
    await run(nSweep('good', [1024]), out);
    await expect(run(nSweep('bad-second', [1024, 2048]), out)).rejects.toThrow(/point 1 \(m=2048\)/);
    expect(readCompleted(out).points.map((p) => p.entry.tags)).toEqual([{ m: 1024 }]);
    expect(readFileSync(join(out, 'config.resolved.yaml'), 'utf8')).toContain('bad-second.yaml');
    expect(readdirSync(out).filter((f) => !FILES.includes(f))).toEqual([]);
  });

  it('before finishing a point leaves no folder it made (CLI)', () => {
    const out = join(dir, 'made', 'here');
    expectOneLineError(silica(['sweep', nSweep('cli-bad', [2048]), '--out', out, '--jobs', '1', '--quiet']), /point 0 \(m=2048\)/);
    expect(existsSync(join(dir, 'made'))).toBe(false);
  });

  it('--resume into a folder with no finished point is a fresh run: a failure leaves no folder it made', () => {
    const out = join(dir, 'resumed', 'here');
    expectOneLineError(silica(['sweep', nSweep('cli-bad-resume', [2048]), '--out', out, '--resume', '--jobs', '1', '--quiet']), /point 0 \(m=2048\)/);
    expect(existsSync(join(dir, 'resumed'))).toBe(false);
  });

  it('killed before finishing a point: the next run puts the earlier results back; killed after, it drops them', () => {
    const dead = 2 ** 22 + 12345; // above the kernel's default pid_max: no such process
    // A ledger cut inside its first line has no finished point.
    for (const [ledger, expected] of [['', 'earlier'], ['{"point":0,"poi', 'earlier'], ['{"point":0,"point_id":"x","rows":0}\n', 'new']] as const) {
      const out = join(dir, `killed-${expected}-${ledger.length}`);
      mkdirSync(out);
      for (const f of FILES) writeFileSync(join(out, `${f}.earlier-${dead}`), `earlier ${f}\n`);
      writeFileSync(join(out, 'points.jsonl'), ledger);
      writeFileSync(join(out, 'config.resolved.yaml'), 'new\n');
      removeLeftoverTemporaries(out);
      expect(readdirSync(out).filter((f) => f.includes('.earlier-'))).toEqual([]);
      expect(readFileSync(join(out, 'config.resolved.yaml'), 'utf8')).toBe(expected === 'earlier' ? 'earlier config.resolved.yaml\n' : 'new\n');
    }
  });
});
