import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildDecodeTrace, buildPrefillTrace, buildTrainingTrace, getModel } from '../../src/sw/index.js';
import { decodeSilicaTrace, encodeSilicaTrace } from '../../src/trace/silica-format.js';
import type { Trace } from '../../src/trace/types.js';
import { ROOT, silica, silicaJson } from '../helpers/cli.js';

/** Round trips of the silica format, and the format's own documentation contract. */
const bert = getModel('bert-base');
const traces: Array<[string, () => Trace]> = [
  ['bert-base train tp2 dp2, fp32 lamb', () => buildTrainingTrace(bert, { batch: 2, seq: 128, precision: 'fp32', optimizer: 'lamb', tp: 2, dp: 2 })],
  ['bert-base train dp4 ZeRO-2, 1 MiB buckets, selective recomputation', () => buildTrainingTrace(bert, { batch: 2, seq: 128, precision: 'mixed', optimizer: 'adam', dp: 4, zeroStage: 2, bucketBytes: 2 ** 20, recompute: 'selective' })],
  ['bert-base train mixed flash, recompute', () => buildTrainingTrace(bert, { batch: 2, seq: 128, precision: 'mixed', recompute: true, flashAttention: true })],
  ['bert-base train mixed, unfused element-wise ops, for-loop AdamW', () => buildTrainingTrace(bert, { batch: 2, seq: 128, precision: 'mixed', fuseBiasAct: false, optimizerImpl: 'per-tensor' })],
  ['llama2-7b prefill tp2', () => buildPrefillTrace(getModel('llama2-7b'), { batch: 1, seq: 256, tp: 2 })],
  ['mixtral-8x7b decode, mixed contexts', () => buildDecodeTrace(getModel('mixtral-8x7b'), { batch: 3, context: [128, 512, 2048], kvDtype: 'fp8' })],
];

describe('silica trace format', () => {
  for (const [name, build] of traces) {
    it(`${name}: encode -> decode gives the same trace, and re-encoding is byte-identical`, () => {
      const trace = build();
      const bytes = encodeSilicaTrace(trace);
      const back = decodeSilicaTrace(bytes, name);
      expect(back).toEqual(JSON.parse(JSON.stringify(trace)));
      expect(Buffer.from(encodeSilicaTrace(back)).equals(Buffer.from(bytes))).toBe(true);
      const gz = encodeSilicaTrace(trace, { gzip: true });
      expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
      expect(Buffer.from(encodeSilicaTrace(decodeSilicaTrace(gz, name), { gzip: true })).equals(Buffer.from(gz))).toBe(true);
    });
  }

  it('the sample traces in traces/ read and write back byte-identically', () => {
    const files = readdirSync(join(ROOT, 'traces')).filter((f) => /\.silica(\.gz)?$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const raw = readFileSync(join(ROOT, 'traces', f));
      const plain = f.endsWith('.gz') ? gunzipSync(raw) : raw;
      expect(Buffer.from(encodeSilicaTrace(decodeSilicaTrace(raw, f))).equals(plain), f).toBe(true);
    }
  });

  it('the writer refuses a kernel field the schema has no slot for, rather than dropping it', () => {
    const trace: Trace = {
      meta: {},
      worldSize: 1,
      programs: [[{ id: 0, name: 'g', kind: 'kernel', category: 'gemm', pass: 'fwd', deps: [], stream: 'compute', kernel: { op: 'gemm', m: 8, n: 8, k: 8, dtype: 'bf16', swizzle: 2 } as never }]],
    };
    expect(() => encodeSilicaTrace(trace)).toThrow(/Gemm has no field "swizzle"/);
  });

  it('silica.proto documents every field and carries its version', () => {
    const lines = readFileSync(join(ROOT, 'src', 'trace', 'silica.proto'), 'utf8').split('\n');
    const undocumented = lines.filter((l, i) => /^\s*(optional |repeated )?[\w.]+ \w+ = \d+;/.test(l) && !l.includes('//') && !lines[i - 1]!.includes('//'));
    expect(undocumented).toEqual([]);
    expect(lines.join('\n')).toMatch(/silica kernel trace format, version 1/);
  });

  it('CLI: emit writes a trace that inspect reads (gzip detected by content)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-trace-'));
    const out = join(dir, 'decode.bin');
    const r = silica(['emit', '--model', 'llama2-7b', '--phase', 'decode', '--batch', '2', '--context', '512', '--gzip', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect([...readFileSync(out).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    const s = silicaJson<{ format: string; world_size: number; nodes: number; kernels: number; flops: number; hbm_bytes: number }>(['inspect', out]);
    expect(s.format).toBe('silica');
    expect(s.world_size).toBe(1);
    expect(s.kernels).toBeGreaterThan(32 * 5);
    // A decode step reads every weight at least once: 2 bytes x ~6.7e9 parameters.
    expect(s.hbm_bytes).toBeGreaterThan(13e9);
  });

  it("CLI: inspect of a data-parallel step says its counts are all ranks', and a rank's are silica bert's", () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-trace-'));
    const out = join(dir, 'dp2.pb');
    const step = ['--model', 'bert-base', '--batch', '2', '--seq', '128', '--optimizer', 'adam', '--dp', '2'];
    expect(silica(['emit', ...step, '-o', out]).code).toBe(0);
    const s = silicaJson<{ world_size: number; flops: number }>(['inspect', out]);
    const bert = silicaJson<{ flops: number }>(['bert', ...step]);
    expect(s.world_size).toBe(2);
    expect(s.flops).toBe(2 * bert.flops);
    const text = silica(['inspect', out]).stdout;
    expect(text).toMatch(new RegExp(`^flops +${s.flops} \\(2 ranks; ${bert.flops} a rank\\)$`, 'm'));
  });
});
