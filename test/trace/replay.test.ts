import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import type { KernelDesc } from '../../src/kernels/desc.js';
import { chromeTrace } from '../../src/trace/chrome.js';
import { replayTrace } from '../../src/trace/replay.js';
import { buildTrainingTrace, getModel } from '../../src/sw/index.js';
import type { Trace, TraceNode } from '../../src/trace/types.js';
import { CLI, ROOT, expectOneLineError, silica } from '../helpers/cli.js';

/** Replay semantics on small hand-written traces, then the CLI end to end. */
const hw = loadHardware('mi300x');
const gemm = (name: string): KernelDesc => ({ op: 'gemm', name, m: 4096, n: 4096, k: 4096, dtype: 'bf16' });
const copy = (name: string): KernelDesc => ({ op: 'memcpy', name, bytes: 1 << 30 });

let nextId = 0;
function node(p: Partial<TraceNode> & Pick<TraceNode, 'kind'>): TraceNode {
  return { id: nextId++, name: p.kind, category: p.kind === 'kernel' ? 'gemm' : 'communication', pass: 'fwd', deps: [], stream: 'compute', ...p };
}
const one = (nodes: TraceNode[], worldSize = 1): Trace => ({ meta: {}, worldSize, programs: [nodes] });
const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);

describe('replay semantics', () => {
  it('a stream runs its nodes in order; two streams take turns on CUs a kernel fills and co-run on CUs left free', () => {
    nextId = 0;
    const alone = replayTrace(one([node({ kind: 'kernel', kernel: gemm('a') })]), hw).totalNs;
    const serial = replayTrace(one([node({ kind: 'kernel', kernel: gemm('a') }), node({ kind: 'kernel', kernel: copy('b') })]), hw);
    const parallel = replayTrace(one([node({ kind: 'kernel', kernel: gemm('a') }), node({ kind: 'kernel', kernel: copy('b'), stream: 'side' })]), hw);
    const copyAlone = replayTrace(one([node({ kind: 'kernel', kernel: copy('b') })]), hw).totalNs;
    expect(serial.totalNs).toBeCloseTo(alone + copyAlone, 0);
    // Both grids fill the chip, so the copy waits for the GEMM's last wave (src/hw/gpu/cu-gate.ts;
    // on an H200 such pairs run 1.01-1.05x faster than in turn, validation/shared-sms.yaml).
    expect(parallel.totalNs).toBeLessThanOrEqual(serial.totalNs);
    expect(parallel.totalNs).toBeGreaterThan(serial.totalNs * 0.9);
    expect(parallel.totalNs).toBeGreaterThanOrEqual(Math.max(alone, copyAlone));
    // The copy's record starts when it could run (the GEMM's last wave), not at its issue at 0.
    const side = parallel.records.find((r) => r.stream === 'side')!;
    expect(side.startNs).toBeGreaterThan(alone * 0.5);
    expect(side.endNs - side.startNs).toBeLessThan(copyAlone * 1.2);
    // Co-running kernels do not double count: the buckets still sum to the total.
    expect(sum(parallel.breakdown.byCategory)).toBeCloseTo(parallel.totalNs, 3);
    // Two small GEMMs of a few workgroups each leave most CUs free and do overlap.
    const small = (name: string): KernelDesc => ({ op: 'gemm', name, m: 256, n: 256, k: 8192, dtype: 'bf16' });
    const smallSerial = replayTrace(one([node({ kind: 'kernel', kernel: small('c') }), node({ kind: 'kernel', kernel: small('d') })]), hw).totalNs;
    const smallParallel = replayTrace(one([node({ kind: 'kernel', kernel: small('c') }), node({ kind: 'kernel', kernel: small('d'), stream: 'side' })]), hw).totalNs;
    expect(smallParallel).toBeLessThan(smallSerial * 0.95);
  });

  it('a forward dependency is honoured (the stream issues in dependency order)', () => {
    const t = one([
      { id: 5, name: 'second', kind: 'delay', category: 'elementwise', pass: 'fwd', deps: [9], stream: 's', durationNs: 10 },
      { id: 9, name: 'first', kind: 'delay', category: 'elementwise', pass: 'fwd', deps: [], stream: 's', durationNs: 30 },
    ]);
    const r = replayTrace(t, hw);
    expect(r.records.map((x) => x.name)).toEqual(['first', 'second']);
    expect(r.totalNs).toBe(40);
  });

  it('a collective starts when the last rank of its group reaches it; waiting counts as communication', () => {
    const programs = [0, 1].map((r) => [
      { id: 0, name: 'work', kind: 'delay', category: 'gemm', pass: 'fwd', deps: [], stream: 'compute', durationNs: r === 1 ? 100_000 : 10_000 },
      { id: 1, name: 'ar', kind: 'collective', category: 'communication', pass: 'bwd', deps: [0], stream: 'compute', collective: { kind: 'all-reduce', bytes: 1 << 20, group: [] } },
    ]) as TraceNode[][];
    const r = replayTrace({ meta: {}, worldSize: 2, programs }, hw);
    expect(r.collectives).toHaveLength(1);
    expect(r.collectives[0]!.startNs).toBeGreaterThanOrEqual(100_000);
    expect(r.collectives[0]!.firstArrivalNs).toBe(10_000);
    expect(r.breakdown.byCategory.communication).toBeGreaterThan(90_000);
    expect(r.breakdown.byPass.bwd).toBe(r.breakdown.byCategory.communication);
    expect(sum(r.breakdown.byCategory)).toBeCloseTo(r.totalNs, 3);
  });

  it('send/recv match by (source, destination, tag) in program order; recv ends when the data is there', () => {
    const programs = [0, 1].map((r) =>
      r === 0
        ? [
            { id: 0, name: 's1', kind: 'send', category: 'communication', pass: 'fwd', deps: [], stream: 'send', peer: 1, bytes: 4 << 20, tag: 1 },
            { id: 1, name: 's2', kind: 'send', category: 'communication', pass: 'fwd', deps: [0], stream: 'send', peer: 1, bytes: 1 << 10, tag: 2 },
          ]
        : [
            { id: 0, name: 'r2', kind: 'recv', category: 'communication', pass: 'fwd', deps: [], stream: 'recv', peer: 0, bytes: 1 << 10, tag: 2 },
            { id: 1, name: 'r1', kind: 'recv', category: 'communication', pass: 'fwd', deps: [], stream: 'recv2', peer: 0, bytes: 4 << 20, tag: 1 },
          ],
    ) as TraceNode[][];
    const r = replayTrace({ meta: {}, worldSize: 2, programs }, hw);
    const end = (name: string) => r.records.find((x) => x.name === name)!.endNs;
    expect(end('r1')).toBe(end('s1'));
    expect(end('r2')).toBe(end('s2'));
    expect(end('s2')).toBeGreaterThan(end('s1'));
    const unmatched = { meta: {}, worldSize: 2, programs: [programs[0]!, programs[1]!.slice(1)] };
    expect(() => replayTrace(unmatched, hw)).toThrow(/tag 2: a send has no matching recv/);
  });

  it('collectives reached in incompatible orders are a deadlock, reported as one line', () => {
    const coll = (id: number, group: number[]): TraceNode => ({ id, name: `c${group.join('')}`, kind: 'collective', category: 'communication', pass: 'fwd', deps: id ? [id - 1] : [], stream: 'compute', collective: { kind: 'all-reduce', bytes: 1024, group } });
    const programs = [
      [coll(0, [0, 1]), coll(1, [0, 2])],
      [coll(0, [1, 2]), coll(1, [0, 1])],
      [coll(0, [0, 2]), coll(1, [1, 2])],
    ];
    expect(() => replayTrace({ meta: {}, worldSize: 3, programs }, hw)).toThrow(/^replay deadlocked at [\d.]+ us: rank 0 waits in collective 0 "c01" \(ranks 1 never reach it\)/);
    const missing = [[coll(0, [0, 1])], []];
    expect(() => replayTrace({ meta: {}, worldSize: 2, programs: missing }, hw)).toThrow(/group \[0,1\]: rank 0 runs 1 collectives on it but rank 1 runs 0/);
  });

  it('recorded durations replace the model with chakraTiming duration (default), not with model', () => {
    const n = node({ kind: 'kernel', kernel: gemm('g'), durationNs: 1234 });
    expect(replayTrace(one([n]), hw).totalNs).toBe(1234);
    expect(replayTrace(one([n]), hw, { chakraTiming: 'model' }).totalNs).toBe(replayTrace(one([{ ...n, durationNs: undefined }]), hw).totalNs);
  });

  it('kernel costs are memoised by shape: identical layers hit the cache', () => {
    const nodes = Array.from({ length: 12 }, (_, i) => node({ kind: 'kernel', kernel: gemm(`layer${i}.qkv`), deps: i ? [nextId - 1] : [] }));
    const r = replayTrace(one(nodes), hw);
    expect(r.stats.kernelCostLookups).toBe(12);
    expect(r.stats.kernelCostHitRate).toBeCloseTo(11 / 12, 6);
  });

  it('an SPMD trace with all-rank collectives replays on any GPU count; one with sub-groups does not', () => {
    const t = one([node({ kind: 'kernel', kernel: gemm('g') }), node({ kind: 'collective', collective: { kind: 'all-reduce', bytes: 64 << 20, group: [] }, deps: [nextId - 1] })]);
    const r2 = replayTrace(t, hw, { gpus: 2 });
    const r8 = replayTrace(t, hw, { gpus: 8 });
    expect(r2.stats.gpus).toBe(2);
    expect(r8.collectives[0]!.ranks).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const sub = one([node({ kind: 'collective', collective: { kind: 'all-reduce', bytes: 1, group: [0, 1] } })], 2);
    expect(() => replayTrace(sub, hw, { gpus: 4 })).toThrow(/--gpus: the trace is for 2 ranks/);
  });

  it('a ZeRO trace keeps its data-parallel count: each rank updates a 1/dp shard of the weights', () => {
    const t = buildTrainingTrace(getModel('bert-base'), { batch: 1, seq: 128, precision: 'mixed', optimizer: 'adam', dp: 4, zeroStage: 1 });
    expect(t.worldSize).toBe(4);
    expect(replayTrace(t, hw, { gpus: 4 }).stats.gpus).toBe(4);
    for (const gpus of [2, 8]) expect(() => replayTrace(t, hw, { gpus })).toThrow(/--gpus: the trace was lowered for ZeRO stage 1 over 4 data-parallel ranks \(meta.zero_stage\).*emit it with --dp/);
    // Plain data parallelism replicates the whole step on every rank: any count replays.
    const ddp = buildTrainingTrace(getModel('bert-base'), { batch: 1, seq: 128, precision: 'mixed', optimizer: 'adam', dp: 4 });
    expect(replayTrace(ddp, hw, { gpus: 2 }).stats.gpus).toBe(2);
  });

  it('is deterministic and its Chrome trace has µs times, pid = GPU and tid = stream', () => {
    const programs = [0, 1].map(() => [
      node({ kind: 'kernel', kernel: gemm('g'), id: 0 }),
      node({ kind: 'kernel', kernel: copy('c'), stream: 'copy', id: 1 }),
      node({ kind: 'collective', id: 2, deps: [0, 1], stream: 'comm', collective: { kind: 'all-gather', bytes: 8 << 20, group: [0, 1] } }),
    ]);
    const t: Trace = { meta: {}, worldSize: 2, programs };
    const a = replayTrace(t, hw);
    expect(JSON.stringify(replayTrace(t, hw))).toBe(JSON.stringify(a));
    const ct = JSON.parse(JSON.stringify(chromeTrace(a.records))) as { traceEvents: Array<Record<string, unknown>> };
    const names = ct.traceEvents.filter((e) => e.name === 'thread_name').map((e) => `${e.pid}/${e.tid}=${(e.args as { name: string }).name}`);
    expect(names).toEqual(['0/1=compute', '0/2=copy', '0/3=comm', '1/1=compute', '1/2=copy', '1/3=comm']);
    const x = ct.traceEvents.filter((e) => e.ph === 'X');
    expect(x).toHaveLength(6);
    const g = a.records.find((r) => r.name === 'kernel' && r.gpu === 1 && r.stream === 'compute')!;
    const ev = x.find((e) => e.pid === 1 && e.tid === 1)!;
    expect(ev.ts).toBeCloseTo(g.startNs / 1000, 3);
    expect(ev.dur).toBeCloseTo((g.endNs - g.startNs) / 1000, 3);
  });
});

describe('replay CLI', () => {
  it('silica emit ... -o - | silica replay - : bert-large training on mi300x, categories sum to the total', () => {
    const cmd = `"${process.execPath}" "${CLI}" emit --model bert-large --phase train --batch 32 --seq 512 --precision mixed -o - | "${process.execPath}" "${CLI}" replay - --hw mi300x --json`;
    const r = spawnSync('sh', ['-c', cmd], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { total_us: number; breakdown: { by_category_us: Record<string, number>; by_pass_us: Record<string, number>; rule: string } };
    expect(out.total_us).toBeGreaterThan(10_000);
    expect(sum(out.breakdown.by_category_us)).toBeCloseTo(out.total_us, -1);
    expect(Math.abs(sum(out.breakdown.by_category_us) - out.total_us) / out.total_us).toBeLessThan(1e-5);
    expect(Math.abs(sum(out.breakdown.by_pass_us) - out.total_us) / out.total_us).toBeLessThan(1e-5);
    expect(out.breakdown.by_category_us.gemm).toBeGreaterThan(0.3 * out.total_us);
    expect(Object.keys(out.breakdown.by_pass_us)).toEqual(['fwd', 'bwd', 'opt', 'idle']);
  });

  it("emit takes silica bert's precisions and --no-overlap, so any step silica bert times can be emitted and replayed", () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-emit-bert-'));
    const step = ['--model', 'bert-base', '--batch', '2', '--seq', '128', '--optimizer', 'adam'];
    const both = (flags: string[]) => {
      const out = join(dir, `${flags.join('')}.pb`);
      const emitted = silica(['emit', ...step, ...flags, '-o', out]);
      expect(emitted.code, emitted.stderr).toBe(0);
      const bert = JSON.parse(silica(['bert', ...step, ...flags, '--json']).stdout) as { iteration_us: number; comm_busy_us: number };
      const replay = JSON.parse(silica(['replay', out, '--json']).stdout) as { total_us: number; breakdown: { by_category_pass_us: Record<string, Record<string, number>> } };
      return { bert, replay, meta: JSON.parse(silica(['inspect', out, '--json']).stdout).meta as Record<string, unknown> };
    };
    // One GPU: the same kernels back to back, so the same time; bf16 mixed precision casts the
    // gradients where fp16 unscales them (same bytes, fewer FLOPs), and its GEMMs run as bf16.
    for (const flags of [['--precision', 'mixed-bf16'], ['--precision', 'mixed', '--mixed-dtype', 'bf16']]) {
      const r = both(flags);
      expect(r.meta.dtype).toBe('bf16');
      expect(r.replay.total_us).toBeCloseTo(r.bert.iteration_us, 1);
    }
    // Reductions after backward: nothing overlaps them, so replay's interference model has nothing
    // to slow and the two agree to the collectives' own model (within 0.5%).
    const after = both(['--dp', '2', '--no-overlap']);
    expect(after.meta.overlap_grad_allreduce).toBe(false);
    const overlapped = both(['--dp', '2']);
    expect(overlapped.meta.overlap_grad_allreduce).toBe(true);
    expect(after.bert.iteration_us).toBeGreaterThan(overlapped.bert.iteration_us);
    expect(Math.abs(after.replay.total_us / after.bert.iteration_us - 1)).toBeLessThan(0.005);
    expectOneLineError(silica(['emit', ...step, '--precision', 'fp32', '--mixed-dtype', 'bf16', '-o', join(dir, 'x.pb')]), /^silica: --mixed-dtype: applies to --precision mixed only, got --precision fp32$/);
    expectOneLineError(silica(['emit', '--model', 'bert-base', '--phase', 'prefill', '--batch', '1', '--seq', '128', '--no-overlap', '-o', join(dir, 'x.pb')]), /^silica: --no-overlap: only with --phase train, not prefill$/);
    expect(existsSync(join(dir, 'x.pb'))).toBe(false);
  });

  it('--chrome-trace and --kernels write a Perfetto JSON and a per-node CSV', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-replay-'));
    const ct = join(dir, 't.json');
    const csv = join(dir, 'k.csv');
    const r = silica(['replay', join(ROOT, 'traces', 'llama2-7b-decode-b4-c1024.silica.gz'), '--chrome-trace', ct, '--kernels', csv]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/total_us/);
    const trace = JSON.parse(readFileSync(ct, 'utf8')) as { traceEvents: Array<Record<string, unknown>> };
    const x = trace.traceEvents.filter((e) => e.ph === 'X');
    expect(x.length).toBeGreaterThan(100);
    expect(x.every((e) => e.pid === 0 && typeof e.tid === 'number' && typeof e.ts === 'number' && typeof e.dur === 'number')).toBe(true);
    expect(trace.traceEvents.some((e) => e.name === 'process_name' && (e.args as { name: string }).name === 'GPU 0')).toBe(true);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('rank,stream,node_id,name,kind,device,category,pass,start_us,end_us,duration_us,flops,hbm_read_bytes,hbm_write_bytes,cus');
    expect(lines.length - 1).toBe(x.length);
  });
});
