import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectOneLineError, silica } from '../helpers/cli.js';

/**
 * Bad output paths: one line naming the flag and path, a non-zero exit, and nothing left behind:
 * no file of a command that wrote several, no folder it made.
 */
const T = mkdtempSync(join(tmpdir(), 'silica-output-paths-'));
afterAll(() => rmSync(T, { recursive: true, force: true }));

const TRACE = 'traces/bert-base-train-b2-s128.silica.gz';
// Small and quick: the rapid policy's start-up alone takes seconds.
const SERVE = ['serve', '--requests', '4', '--rate', '2', '--model', 'llama3-8b', '--gpus', '1', '--tp', '1', '--policy', 'continuous'];
const EMIT = ['emit', '--model', 'bert-base', '--phase', 'prefill', '--batch', '1', '--seq', '128'];

/** A fresh folder per case, holding one small experiment and a plain file named f. */
function scratch(name: string): { dir: string; exp: string; file: string } {
  const dir = join(T, name);
  mkdirSync(dir);
  const exp = join(dir, 'k.yaml');
  writeFileSync(exp, 'kind: kernels\npoints:\n  - { op: gemm, m: 64, n: 64, k: 64 }\n');
  const file = join(dir, 'f');
  writeFileSync(file, 'not a folder\n');
  return { dir, exp, file };
}

const listing = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('output paths: --out naming an existing file', () => {
  it('run, serve, sweep and merge say a directory was expected', () => {
    const { dir, exp, file } = scratch('file-out');
    const expected = new RegExp(`--out ${esc(file)}: expected a directory, got a file$`);
    expectOneLineError(silica(['run', exp, '--out', file]), expected);
    expectOneLineError(silica([...SERVE, '--out', file]), expected);
    expectOneLineError(silica(['sweep', 'test/sweep/fixtures/small.yaml', '--out', file, '--jobs', '1']), expected);
    expectOneLineError(silica(['merge', dir, '--out', file]), expected);
    expectOneLineError(silica(['run', exp, '--out', join(file, 'sub')]), new RegExp(`expected ${esc(file)} to be a directory, got a file$`));
    expect(listing(dir)).toEqual(['f', 'k.yaml']);
  });
});

describe('output paths: a directory that cannot be created', () => {
  it('serve --out under /proc fails at once instead of spinning', () => {
    // Before, this spun at 100% CPU until killed (the test's timeout would catch a relapse).
    expectOneLineError(silica([...SERVE, '--out', '/proc/silica-sv']), /--out \/proc\/silica-sv: cannot create directory \(ENOENT: no such file or directory\)$/);
    expect(existsSync('/proc/silica-sv')).toBe(false);
  });

  it('run makes missing levels one at a time and names the --out it could not make', () => {
    const { exp } = scratch('proc-run');
    expectOneLineError(silica(['run', exp, '--out', '/proc/silica-a/b']), /--out \/proc\/silica-a\/b: cannot create directory/);
  });
});

describe('output paths: empty strings', () => {
  it('are rejected, not taken as the current directory or skipped', () => {
    const { dir, exp } = scratch('empty');
    const empty = (flag: string) => new RegExp(`${flag}: expected a path, got an empty string$`);
    expectOneLineError(silica(['run', exp, '--out', ''], { cwd: dir }), empty('--out'));
    expectOneLineError(silica([...SERVE, '--out', ''], { cwd: dir }), empty('--out'));
    expectOneLineError(silica(['replay', join(process.cwd(), TRACE), '--chrome-trace', ''], { cwd: dir }), empty('--chrome-trace'));
    expectOneLineError(silica([...EMIT, '-o', ''], { cwd: dir }), empty('-o'));
    expectOneLineError(silica([...EMIT, '--tp', '2', '--format', 'chakra', '-o', ''], { cwd: dir }), empty('-o'));
    expect(listing(dir)).toEqual(['f', 'k.yaml']);
  });
});

describe('output paths: no partial outputs', () => {
  it('replay: a --chrome-trace that cannot be written takes back --kernels', () => {
    const { dir } = scratch('replay-proc');
    const kernels = join(dir, 'k.csv');
    const r = silica(['replay', TRACE, '--hw', 'mi300x', '--chrome-trace', '/proc/silica-foo.json', '--kernels', kernels]);
    expectOneLineError(r, /^silica: --chrome-trace \/proc\/silica-foo\.json: cannot write \(ENOENT: no such file or directory\)$/);
    expect(r.stderr).not.toMatch(/\.tmp-\d+/);
    expect(existsSync(kernels)).toBe(false);
  });

  it('replay: a --chrome-trace naming a directory is rejected before anything is written', () => {
    const { dir } = scratch('replay-dir');
    const kernels = join(dir, 'k.csv');
    expectOneLineError(silica(['replay', TRACE, '--hw', 'mi300x', '--chrome-trace', `${dir}/`, '--kernels', kernels]), /--chrome-trace .*replay-dir\/: expected a file, got a directory$/);
    expect(existsSync(kernels)).toBe(false);
  });

  it('replay: an output naming the input trace (by any path) is rejected, the trace left as it was', () => {
    const { dir } = scratch('replay-self');
    const trace = join(dir, 'self.pb');
    copyFileSync(TRACE, trace);
    symlinkSync(trace, join(dir, 'link.pb'));
    const before = readFileSync(trace);
    expectOneLineError(silica(['replay', 'self.pb', '--chrome-trace', trace], { cwd: dir }), new RegExp(`--chrome-trace ${esc(trace)}: expected an output file other than the trace being replayed, got its input self\\.pb$`));
    expectOneLineError(silica(['replay', 'link.pb', '--kernels', './self.pb'], { cwd: dir }), /--kernels \.\/self\.pb: expected an output file other than the trace being replayed, got its input link\.pb$/);
    expect(readFileSync(trace).equals(before)).toBe(true);
    expect(listing(dir)).toEqual(['f', 'k.yaml', 'link.pb', 'self.pb']);
  });

  it('replay: an output naming the --hw file is rejected, the file left as it was', () => {
    const { dir } = scratch('replay-hw');
    const hw = join(dir, 'part.yaml');
    writeFileSync(hw, silica(['hw', 'show', 'mi300x']).stdout);
    const before = readFileSync(hw);
    expectOneLineError(silica(['replay', TRACE, '--hw', hw, '--kernels', hw]), new RegExp(`--kernels ${esc(hw)}: expected an output file other than the hardware file --hw ${esc(hw)}$`));
    expect(readFileSync(hw).equals(before)).toBe(true);
  });

  it('replay: a Chakra rank file as an output is its input too', () => {
    const { dir } = scratch('replay-chakra-self');
    expect(silica([...EMIT, '--tp', '2', '--format', 'chakra', '-o', join(dir, 'p')]).code).toBe(0);
    const rank1 = join(dir, 'p.1.et');
    const before = readFileSync(rank1);
    expectOneLineError(silica(['replay', join(dir, 'p'), '--kernels', rank1]), new RegExp(`--kernels ${esc(rank1)}: expected an output file other than the trace being replayed, got its input ${esc(rank1)}$`));
    expect(readFileSync(rank1).equals(before)).toBe(true);
  });

  it('replay: --kernels and --chrome-trace naming one file are rejected before either is written', () => {
    const { dir } = scratch('replay-same-out');
    expectOneLineError(silica(['replay', join(process.cwd(), TRACE), '--kernels', 'k.csv', '--chrome-trace', join(dir, 'k.csv')], { cwd: dir }), /^silica: --kernels and --chrome-trace: expected two different files, got k\.csv for both \(one would overwrite the other\)$/);
    expect(listing(dir)).toEqual(['f', 'k.yaml']);
  });

  it('emit --format chakra writes every rank or none', () => {
    const { dir } = scratch('emit');
    mkdirSync(join(dir, 'p.1.et'));
    expectOneLineError(silica([...EMIT, '--tp', '2', '--format', 'chakra', '-o', join(dir, 'p')]), new RegExp(`-o ${esc(join(dir, 'p.1.et'))}: expected a file, got a directory$`));
    expect(listing(dir)).toEqual(['f', 'k.yaml', 'p.1.et']);
  });

  it('serve: one output that cannot be written leaves none of the others', () => {
    const { dir } = scratch('serve');
    const out = join(dir, 'e');
    mkdirSync(join(out, 'trace.json'), { recursive: true });
    expectOneLineError(silica([...SERVE, '--out', out]), new RegExp(`--out ${esc(join(out, 'trace.json'))}: expected a file, got a directory$`));
    expect(listing(out)).toEqual(['trace.json']);
  });

  it('run: a study failing midway takes back the figures written before it and the folders made', () => {
    const { dir } = scratch('run-suite');
    const suite = join(dir, 'suite.yaml');
    const sub = (name: string) => `  - { name: ${name}, experiment: { kind: kernels, points: [{ op: gemm, m: 64, n: 64, k: 64 }] } }\n`;
    writeFileSync(suite, `kind: suite\nexperiments:\n${sub('a')}${sub('b')}`);
    const out = join(dir, 'o');
    mkdirSync(join(out, 'b', 'kernels.svg'), { recursive: true });
    const r = silica(['run', suite, '--out', out, '--quiet']);
    expectOneLineError(r, new RegExp(`${esc(join(out, 'b', 'kernels.svg'))}: cannot write \\(EISDIR: illegal operation on a directory\\)$`));
    expect(listing(out)).toEqual(['b', join('b', 'kernels.svg')]);
  });

  it('run: a failed rerun into a folder puts back the earlier run\'s files', () => {
    const { dir } = scratch('run-rerun');
    const suite = join(dir, 'suite.yaml');
    const sub = (name: string, m: number) => `  - { name: ${name}, experiment: { kind: kernels, points: [{ op: gemm, m: ${m}, n: 64, k: 64 }] } }\n`;
    const out = join(dir, 'o');
    writeFileSync(suite, `kind: suite\nexperiments:\n${sub('a', 64)}${sub('b', 64)}`);
    expect(silica(['run', suite, '--out', out, '--quiet']).code).toBe(0);
    const files = listing(out).filter((f) => !statSync(join(out, f)).isDirectory());
    const earlier = new Map(files.map((f) => [f, readFileSync(join(out, f))]));
    // The rerun changes a's results, then fails writing b's figure.
    writeFileSync(suite, `kind: suite\nexperiments:\n${sub('a', 128)}${sub('b', 64)}`);
    rmSync(join(out, 'b', 'kernels.svg'));
    mkdirSync(join(out, 'b', 'kernels.svg'));
    const before = listing(out);
    expectOneLineError(silica(['run', suite, '--out', out, '--quiet']), /kernels\.svg: cannot write \(EISDIR/);
    expect(listing(out)).toEqual(before);
    for (const [f, bytes] of earlier) if (f !== join('b', 'kernels.svg')) expect(readFileSync(join(out, f)).equals(bytes), f).toBe(true);
  });

  it('run: a rerun removes the files the earlier run wrote that it does not write again, and nothing else', () => {
    const { dir, exp } = scratch('run-stale');
    const out = join(dir, 'o');
    expect(silica(['run', exp, '--out', out, '--quiet']).code).toBe(0);
    expect(existsSync(join(out, 'kernels.svg'))).toBe(true);
    writeFileSync(join(out, 'notes.txt'), 'the user\'s own\n');
    // The same experiment without its figure: the old figure would sit beside tables it does not show.
    writeFileSync(exp, 'kind: kernels\nfigure: false\npoints:\n  - { op: gemm, m: 64, n: 64, k: 64 }\n');
    expect(silica(['run', exp, '--out', out, '--quiet']).code).toBe(0);
    expect(listing(out)).toEqual(['config.resolved.yaml', 'notes.txt', 'results.csv', 'results.jsonl', 'summary.json']);
    // A suite that drops a sub-experiment: its folder goes with its files, another's stays.
    const suite = join(dir, 'suite.yaml');
    const sub = (name: string) => `  - { name: ${name}, experiment: { kind: kernels, points: [{ op: gemm, m: 64, n: 64, k: 64 }] } }\n`;
    const suiteOut = join(dir, 's');
    writeFileSync(suite, `kind: suite\nexperiments:\n${sub('a')}${sub('b')}`);
    expect(silica(['run', suite, '--out', suiteOut, '--quiet']).code).toBe(0);
    writeFileSync(suite, `kind: suite\nexperiments:\n${sub('a')}`);
    expect(silica(['run', suite, '--out', suiteOut, '--quiet']).code).toBe(0);
    expect(listing(suiteOut)).toEqual(['a', join('a', 'kernels.svg'), 'config.resolved.yaml', 'results.csv', 'results.jsonl', 'summary.json']);
  });

  it('merge: inputs that are not sweep folders leave no --out folder', () => {
    const { dir } = scratch('merge');
    expectOneLineError(silica(['merge', dir, '--out', join(dir, 'merged')]), /not a sweep output folder/);
    expect(existsSync(join(dir, 'merged'))).toBe(false);
  });
});
