import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/study/index.js';
import { stableHash } from '../../src/sweep/canonical.js';
import { resolveExperiment } from '../../src/sweep/experiment.js';
import { loadSweep } from '../../src/sweep/spec.js';
import { ROOT, expectOneLineError, silica } from '../helpers/cli.js';

/**
 * A file a sweep names by path (a hardware YAML of one's own) is part of what its points are: its
 * digest is in the resolved config's header and in the ids of the points that read it, so shards
 * run before and after an edit do not merge, and --resume does not mix the two versions.
 */
const dir = mkdtempSync(join(tmpdir(), 'silica-input-files-'));
const part = join(dir, 'part.yaml');
copyFileSync(join(ROOT, 'configs', 'hw', 'a100-sxm.yaml'), part);
const sweep = join(dir, 'sweep.yaml');
writeFileSync(sweep, 'name: s\nbase:\n  kind: kernels\n  hw: part.yaml\n  figure: false\n  points:\n    - { op: gemm, m: 256, n: 256, k: 256, dtype: bf16 }\naxes:\n  points.0.m: [256, 512, 1024]\n');
const run = (...args: string[]) => silica(['sweep', sweep, '--quiet', '--jobs', '1', ...args]);

describe('files a sweep reads by path', () => {
  it('are named with their digests in the header; a sweep of presets keeps the ids it had', () => {
    const spec = loadSweep(sweep);
    expect(Object.keys(spec.files ?? {})).toEqual(['part.yaml']);
    const presets = loadSweep(join(ROOT, 'configs', 'sweeps', 'gemm-hw.yaml'));
    expect(presets.files).toBeUndefined();
    // The id of a point that reads no file hashes its config and tags alone, as before files counted.
    const p = presets.points[3]!;
    expect(p.id).toBe(stableHash({ config: resolveExperiment(p.raw, presets.file, presets.baseDir).config, tags: p.tags }));
  });

  it('an edit between two shards: merge refuses; between a run and its --resume: refused', () => {
    expect(run('--shard', '0/2', '--out', join(dir, 's0')).code).toBe(0);
    expect(readFileSync(join(dir, 's0', 'config.resolved.yaml'), 'utf8')).toMatch(/\n {2}files:\n {4}part\.yaml: [0-9a-f]{16}\n/);
    appendFileSync(part, '# recalibrated\n');
    expect(run('--shard', '1/2', '--out', join(dir, 's1')).code).toBe(0);
    expectOneLineError(silica(['merge', join(dir, 's0'), join(dir, 's1'), '--out', join(dir, 'merged')]), /s1: read part\.yaml with digest [0-9a-f]{16}, .*s0 with [0-9a-f]{16} .*the file changed between the shards' runs/);
    expectOneLineError(run('--shard', '0/2', '--out', join(dir, 's0'), '--resume'), /--resume: the folder holds point 0 .*the sweep, or a file its points read, changed \(a folder written before silica recorded file digests counts as changed\): use a new --out$/);
    // Run again with the file as it is now, the shards merge.
    expect(run('--shard', '0/2', '--out', join(dir, 's0')).code).toBe(0);
    expect(silica(['merge', join(dir, 's0'), join(dir, 's1'), '--out', join(dir, 'merged')]).code).toBe(0);
    // A shard from before digests were recorded is named as such, not as an edit.
    const config = join(dir, 's0', 'config.resolved.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace(/\n {2}files:\n {4}part\.yaml: [0-9a-f]{16}\n/, '\n'));
    expectOneLineError(silica(['merge', join(dir, 's0'), join(dir, 's1'), '--out', join(dir, 'merged-old')]), /s0: written by a silica that did not record the files its sweep reads/);
  });

  it('a string that only looks like a path is not read, whatever it is', () => {
    // Under a file (ENOTDIR), too long, a directory: none is a file; the sweep loads.
    const odd = ['part.yaml/x', `./${'x'.repeat(300)}.yaml`, '.'];
    const file = join(dir, 'odd.yaml');
    writeFileSync(file, `name: odd\nbase:\n  kind: kernels\n  hw: mi300x\n  figure: false\n  points:\n    - { op: gemm, name: g, m: 256, n: 256, k: 256, dtype: bf16 }\naxes:\n  points.0.name: ${JSON.stringify(odd)}\n`);
    const spec = loadSweep(file);
    expect(spec.points).toHaveLength(3);
    expect(spec.files).toBeUndefined();
  });

  it('a hardware file built on another file counts with it: an edit to the base changes the points that read it', () => {
    writeFileSync(join(dir, 'lab-base.yaml'), 'base: mi300x\ncompute: {cus: 256}\n');
    writeFileSync(join(dir, 'lab-wide.yaml'), 'base: lab-base.yaml\ncompute: {cus: 288}\n');
    const file = join(dir, 'lab.yaml');
    writeFileSync(file, 'name: lab\nbase:\n  kind: kernels\n  hw: lab-wide.yaml\n  figure: false\n  points:\n    - { op: gemm, m: 256, n: 256, k: 256, dtype: bf16 }\naxes:\n  points.0.m: [256, 512]\n');
    const before = loadSweep(file);
    expect(Object.keys(before.files ?? {})).toEqual(['lab-wide.yaml']);
    appendFileSync(join(dir, 'lab-base.yaml'), 'memory: {hbm: {efficiency: 0.7}}\n');
    const after = loadSweep(file);
    expect(after.files!['lab-wide.yaml']).not.toBe(before.files!['lab-wide.yaml']);
    expect(after.points.map((p) => p.id)).not.toEqual(before.points.map((p) => p.id));
  });

  it('a YAML that is not hardware, whose base: names no file, is digested by its own bytes and does not stop the sweep', () => {
    // A point names a YAML file of its own (here through a kernel's name); its `base:` is no
    // hardware chain, so the sweep loads and the file's bytes count for the points that name it.
    const notes = join(dir, 'notes.yaml');
    writeFileSync(notes, 'base: gone.yaml\nnote: not a hardware file\n');
    const file = join(dir, 'named.yaml');
    writeFileSync(file, `name: named\nbase:\n  kind: kernels\n  hw: mi300x\n  figure: false\n  points:\n    - { op: gemm, name: notes.yaml, m: 256, n: 256, k: 256, dtype: bf16 }\naxes:\n  points.0.m: [256, 512]\n`);
    const before = loadSweep(file);
    expect(before.points).toHaveLength(2);
    expect(before.files).toEqual({ 'notes.yaml': expect.stringMatching(/^[0-9a-f]{16}$/) });
    appendFileSync(notes, 'more: 1\n');
    const after = loadSweep(file);
    expect(after.files!['notes.yaml']).not.toBe(before.files!['notes.yaml']);
    expect(after.points.map((p) => p.id)).not.toEqual(before.points.map((p) => p.id));
  });
});
