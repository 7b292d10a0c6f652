import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectOneLineError, silica, silicaJson } from '../helpers/cli.js';
import { runKernels, type KernelsConfig } from '../../src/study/kernels.js';

describe('silica CLI (foundation)', () => {
  it('kernel gemm prints the documented JSON fields', () => {
    const r = silicaJson(['kernel', 'gemm', '--hw', 'mi300x', '--m', '8192', '--n', '8192', '--k', '8192', '--dtype', 'bf16']);
    for (const f of ['time_us', 'tflops', 'hbm_read_bytes', 'hbm_write_bytes', 'workgroups']) expect(r).toHaveProperty(f);
    expect(r.tflops as number).toBeGreaterThan(100);
  });

  it('kernel stream prints achieved_gbps', () => {
    const r = silicaJson(['kernel', 'stream', '--hw', 'h100-sxm', '--op', 'triad', '--bytes', '4GiB']);
    expect(r.achieved_gbps as number).toBeGreaterThan(2000);
    expect(r.achieved_gbps as number).toBeLessThan(3350);
  });

  it('--cus and --cu-mask restrict the CUs', () => {
    const r = silicaJson(['kernel', 'gemm', '--m', '8192', '--n', '8192', '--k', '8192', '--cus', '152']);
    expect(r.cus).toBe(152);
    const m = silicaJson(['kernel', 'gemm', '--m', '4096', '--n', '4096', '--k', '4096', '--cu-mask', '0xFFFF']);
    expect(m.cus).toBe(16);
  });

  it('notes on stderr a CU set that gives the XCDs unequal CUs, whose least-filled XCD sets the pace', () => {
    const gemm = (cus: string) => silica(['kernel', 'gemm', '--m', '4096', '--n', '6144', '--k', '4096', '--cus', cus, '--json']);
    const [r32, r38, r40] = ['32', '38', '40'].map(gemm);
    // 38 CUs are 5 on XCDs 0-5 and 4 on XCDs 6-7: workgroups dealt in turn make it run as 32 do.
    expect(r38.stderr).toMatch(/^silica kernel: note: --cus 38 enables 5\/5\/5\/5\/5\/5\/4\/4 CUs on XCDs 0-7; .* runs as on 32 CUs \(4 per XCD\)$/m);
    expect(JSON.parse(r38.stdout).time_us).toBe(JSON.parse(r32.stdout).time_us);
    expect(JSON.parse(r40.stdout).time_us).toBeLessThan(JSON.parse(r38.stdout).time_us);
    // Balanced sets, and parts that do not deal workgroups to groups, get no note.
    expect(r32.stderr + r40.stderr).toBe('');
    expect(silica(['kernel', 'stream', '--hw', 'h100-sxm', '--cus', '38', '--json']).stderr).toBe('');
  });

  it('hw list and hw show work, and --set overlays a field', () => {
    expect(silica(['hw', 'list']).stdout).toContain('mi300x');
    const shown = silicaJson<{ memory: { hbm: { efficiency: number } } }>(['hw', 'show', 'mi300x', '--set', 'memory.hbm.efficiency=0.5']);
    expect(shown.memory.hbm.efficiency).toBe(0.5);
  });

  it('accepts a YAML path for --hw', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-'));
    const shown = silica(['hw', 'show', 'configs/hw/a100-sxm.yaml', '--json']);
    expect(shown.code).toBe(0);
    writeFileSync(join(dir, 'x.yaml'), shown.stdout);
    expect(silicaJson(['kernel', 'stream', '--hw', join(dir, 'x.yaml')]).hw).toBe('a100-sxm');
  });

  describe('bad input gives one line and a non-zero exit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-bad-'));
    it('unknown preset', () => expectOneLineError(silica(['kernel', 'gemm', '--hw', 'mi999', '--m', '1', '--n', '1', '--k', '1']), /unknown preset "mi999"/));
    it('malformed YAML', () => {
      writeFileSync(join(dir, 'bad.yaml'), 'name: [unclosed\n  compute: {');
      expectOneLineError(silica(['hw', 'show', join(dir, 'bad.yaml')]), /malformed YAML/);
    });
    it('a field of the wrong type names file and field', () => {
      const text = silica(['hw', 'show', 'mi300x']).stdout.replace('cus: 304', 'cus: -3');
      writeFileSync(join(dir, 'neg.yaml'), text);
      expectOneLineError(silica(['hw', 'show', join(dir, 'neg.yaml')]), /neg\.yaml: compute\.cus: .*-3/);
    });
    it('negative size', () => expectOneLineError(silica(['kernel', 'gemm', '--m', '-5', '--n', '1', '--k', '1']), /^silica: -m: expected a positive whole number/));
    it('non-integer size', () => expectOneLineError(silica(['kernel', 'gemm', '--m', '12.5', '--n', '1', '--k', '1']), /^silica: -m: expected a positive whole number/));
    it('a size past 2^53, which a double would round', () => expectOneLineError(silica(['kernel', 'gemm', '--m', '9007199254740993', '--n', '1', '--k', '1']), /^silica: -m: expected a whole number up to 9007199254740991, got "9007199254740993"$/));
    it('unknown dtype', () => expectOneLineError(silica(['kernel', 'gemm', '--m', '8', '--n', '8', '--k', '8', '--dtype', 'fp4']), /--dtype: expected one of/));
    it('a dtype the part has no rate for', () =>
      expectOneLineError(silica(['kernel', 'gemm', '--hw', 'mi100', '--m', '8', '--n', '8', '--k', '8', '--dtype', 'fp8']), /^silica: --dtype: mi100 has no fp8 rate \(expected one of fp32, tf32, fp16, bf16\), got fp8$/));
    it('mask wider than the part', () => expectOneLineError(silica(['kernel', 'gemm', '--m', '8', '--n', '8', '--k', '8', '--cu-mask', '0x1' + '0'.repeat(80)]), /part has only 304 CUs/));
    it('hw list takes no preset name', () => expectOneLineError(silica(['hw', 'list', 'mi300x']), /hw list: expected no preset name \(it lists them all; hw show mi300x shows one\), got "mi300x"/));
    it('bad --set path', () => expectOneLineError(silica(['hw', 'show', 'mi300x', '--set', 'memory.hbm.nope=1']), /no such field/));
    it('bad --set value: the override is named, not just the preset file', () =>
      expectOneLineError(silica(['hw', 'show', 'mi300x', '--set', 'memory.hbm.efficiency=7']), /mi300x\.yaml: memory\.hbm\.efficiency \(set by the override memory\.hbm\.efficiency=7\): .*<= 1, got 7/));
    it('a check between two fields names the override that changed the other one', () => {
      expectOneLineError(
        silica(['hw', 'show', 'mi300x', '--set', 'compute.clock_peak_mhz=1000']),
        /mi300x\.yaml: compute\.clock_sustained_mhz: expected at most clock_peak_mhz \(1000\), got \d+; compute\.clock_peak_mhz is set by the override compute\.clock_peak_mhz=1000$/,
      );
      // The vector clock is the peak clock unless set: above the maximum boost it would beat the part's peak.
      expectOneLineError(
        silica(['hw', 'show', 'mi300x', '--set', 'compute.clock_vector_mhz=3000']),
        /mi300x\.yaml: compute\.clock_vector_mhz \(set by the override compute\.clock_vector_mhz=3000\): expected at most clock_peak_mhz \(2100\), got 3000$/,
      );
      expectOneLineError(silica(['hw', 'show', 'mi300x', '--set', 'compute.cu_groups=400']), /mi300x\.yaml: compute\.cu_groups \(set by the override compute\.cu_groups=400\): expected at most compute\.cus \(304\), got 400$/);
      // Every override among the fields compared is named, the bad field's own first.
      expectOneLineError(
        silica(['hw', 'show', 'mi300x', '--set', 'interconnect.topology=ring', '--set', 'interconnect.links_per_gpu=1']),
        /links_per_gpu \(set by the override interconnect\.links_per_gpu=1\): a ring needs at least 2 links per GPU, got 1; interconnect\.topology is set by the override interconnect\.topology=ring$/,
      );
      expectOneLineError(silica(['hw', 'show', 'mi300x/']), /^silica: --hw: no such file mi300x\/$/);
    });
    it('an override that adds an optional mapping the part lacks says so, not that the preset is partial', () =>
      // mi300x has no compute.power: one field of it leaves the rest missing, which is the override's doing.
      expectOneLineError(
        silica(['hw', 'show', 'mi300x', '--set', 'compute.power.cap_w=400']),
        /mi300x\.yaml: compute\.power\.\w+: expected a number \(missing\); configs\/hw\/mi300x\.yaml has no compute\.power: the override compute\.power\.cap_w=400 adds it, and it needs its other required fields too \(docs\/hardware\.md\)$/,
      ));
    it("yargs' choices and required flags read as silica's other errors: the flag, what was expected, what was got", () => {
      expectOneLineError(silica(['kernel', 'stream', '--op', 'foo']), /^silica: --op: expected one of copy, scale, add, triad, got "foo"$/);
      expectOneLineError(silica(['collective', 'foo', '--gpus', '8']), /^silica: kind: expected one of all-reduce, .*, got "foo"$/);
      expectOneLineError(silica(['kernel', 'gemm', '--n', '8']), /^silica: -m, -k: expected values \(required; see --help\)$/);
    });
    it('a whole number or a size in scientific notation is that number, as a YAML file reads it; a fraction is still refused', () => {
      expect(silicaJson<{ m: number }>(['kernel', 'gemm', '--m', '1e3', '--n', '8', '--k', '8', '--json']).m).toBe(1000);
      expect(silicaJson<{ array_bytes: number }>(['kernel', 'stream', '--bytes', '1e9', '--json']).array_bytes).toBe(1e9);
      expectOneLineError(silica(['kernel', 'gemm', '--m', '1.25e1', '--n', '8', '--k', '8']), /^silica: -m: expected a positive whole number, got "1\.25e1"$/);
      expectOneLineError(silica(['kernel', 'stream', '--bytes', '1e']), /^silica: --bytes: expected a size such as 4GiB, 512MB or 1048576, got "1e"$/);
    });
    it('bad byte size', () => expectOneLineError(silica(['kernel', 'stream', '--bytes', 'lots']), /--bytes: expected a size/));
    it('a value that starts with a dash is the flag\'s value, not a group of short flags', () => {
      expectOneLineError(silica(['kernel', 'gemm', '--m', '-5x', '--n', '1', '--k', '1']), /^silica: -m: expected a positive whole number, got "-5x"$/);
      expectOneLineError(silica(['sweep', 'configs/sweeps/gemm-hw.yaml', '--shard', '-1/2', '--dry-run']), /^silica: --shard: expected i\/N with 0 <= i < N .*got "-1\/2"$/);
      // yargs reads -1.5 as a value but not -1e2.
      expectOneLineError(silica(['collective', 'all-reduce', '--gpus', '-1e2']), /^silica: --gpus: expected a positive whole number, got "-1e2"$/);
      // One that belongs to no flag is refused as itself, not blamed on a negated switch before it.
      for (const stray of [['--no-json', '-1x'], ['-1x'], ['--k', '8', '-1x']]) {
        expectOneLineError(silica(['kernel', 'gemm', '--m', '8', '--n', '8', '--k', '8', ...stray]), /^silica: unexpected argument "-1x": not a flag, nor the value of one/);
      }
    });
    it('a flag given no value does not run on its default', () => {
      expectOneLineError(silica(['kernel', 'stream', '--bytes']), /^silica: --bytes: expected a value$/);
      expectOneLineError(silica(['kernel', 'stream', '--hw', '--op', 'copy']), /^silica: --hw: expected a value, got the flag --op$/);
      expectOneLineError(silica(['kernel', 'stream', '--json=maybe']), /^silica: --json: expected true or false, got "maybe"$/);
    });
    it('a flag of one value given twice is refused, naming it as written (no internal error, no label of both)', () => {
      expectOneLineError(silica(['kernel', 'gemm', '--hw', 'mi300x', '--hw', 'h100-sxm', '--m', '1', '--n', '1', '--k', '1']), /^silica: --hw: expected one value, got 2 \("mi300x", "h100-sxm"\); give the flag once$/);
      expectOneLineError(silica(['collective', 'all-reduce', '--algo', 'ring', '--algo', 'direct']), /^silica: --algo: expected one value, got 2 \("ring", "direct"\); give the flag once$/);
      expectOneLineError(silica(['serve', '--batch', '1', '--input-len', '3', '--input-len', '4', '--output-len', '2']), /^silica: --input-len: expected one value, got 2/);
      expectOneLineError(silica(['emit', '--model', 'bert-base', '--batch', '1', '--seq', '8', '-o', 'a', '-o', 'b']), /^silica: --out: expected one value, got 2/);
      // Flags declared as lists still take several.
      expect(silica(['hw', 'show', 'mi300x', '--set', 'compute.cus=300', '--set', 'memory.hbm.efficiency=0.8', '--json']).code).toBe(0);
    });
    it('a kernels experiment with a zero-byte STREAM array', () => {
      const config = { kind: 'kernels', hw: 'mi300x', hw_overrides: {}, figure: false, points: [{ op: 'stream', stream: 'copy', bytes: '0' }] } as unknown as KernelsConfig;
      expect(() => runKernels(config)).toThrow(/^points\.0\.bytes: expected a positive size, got "0"$/);
    });
    it('one-letter flags are named as --help lists them, with one dash', () => {
      expectOneLineError(silica(['kernel', 'gemm', '-m', '64', '-n', '0', '-k', '64']), /^silica: -n: expected a positive whole number, got "0"$/);
      expectOneLineError(silica(['collective', 'all-reduce', '-k', '64']), /^silica: -k: not read by all-reduce \(only by cu-overlap\)$/);
    });
    it('a kernels experiment with two points of one name (their rows would read as one point)', () => {
      const dir = mkdtempSync(join(tmpdir(), 'silica-kernels-'));
      const file = join(dir, 'twice.yaml');
      writeFileSync(file, 'kind: kernels\nfigure: false\npoints:\n  - { op: gemm, name: g, m: 64, n: 64, k: 64 }\n  - { op: stream, bytes: 1MiB }\n  - { op: gemm, name: g, m: 128, n: 64, k: 64 }\n');
      expectOneLineError(silica(['run', file, '--out', join(dir, 'out')]), /twice\.yaml: points\.2\.name: expected a unique name, "g" is also points\.0\.name/);
      rmSync(dir, { recursive: true, force: true });
    });
    it('arrays larger than the HBM', () =>
      expectOneLineError(silica(['kernel', 'stream', '--hw', 'mi300x', '--op', 'triad', '--bytes', '64GiB']), /--bytes: expected 3 arrays \(triad\) to fit in mi300x's 178\.81GiB of HBM, got 3 x 64GiB/));
    it('collective buffers larger than the HBM, for one size or the largest of a sweep', () => {
      expectOneLineError(silica(['collective', 'all-reduce', '--bytes', '100TiB']), /^silica: --bytes: expected all-reduce's send and receive buffers to fit in mi300x's 178\.81GiB of HBM, got 200TiB per GPU for 100TiB$/);
      expectOneLineError(silica(['collective', 'all-gather', '--sweep', '8:1TiB']), /^silica: --sweep: expected all-gather's send and receive buffers to fit in mi300x's 178\.81GiB of HBM, got 1\.13TiB per GPU for 1TiB$/);
    });
    it('sizes between two elements are refused, not rounded', () => {
      expectOneLineError(silica(['kernel', 'stream', '--bytes', '3']), /^silica: --bytes: expected a whole number of 8-byte \(fp64\) elements, got "3" \(3 bytes\)$/);
      expectOneLineError(silica(['collective', 'all-reduce', '--bytes', '3', '--dtype', 'fp32']), /^silica: --bytes: expected a whole number of fp32 elements \(4 bytes each\), got 3 bytes$/);
    });
    it('messages name the flag and what it was given', () => {
      expectOneLineError(silica(['kernel', 'gemm', '--cus', '7', '--m', '1024', '--n', '1024', '--k', '1024']), /^silica: --cus 7: CU mask leaves XCD 7 without CUs, /);
      expectOneLineError(silica(['bert', '--optimizer', 'sgd']), /^silica: --optimizer: expected one of adam, lamb, got "sgd"$/);
      expectOneLineError(silica(['t3', '--model', 't-nlg-17b', '--tp', '8', '--sublayer', 'fc2', '--pass', 'sideways']), /^silica: --pass: expected fwd or bwd, got "sideways"$/);
    });
    it('unknown flag, and the command does not run', () => {
      const r = silica(['kernel', 'gemm', '--m', '8', '--n', '8', '--k', '8', '--bogus', '1']);
      expectOneLineError(r, /Unknown argument: bogus/);
      expect(r.stdout).toBe('');
    });
  });
});
