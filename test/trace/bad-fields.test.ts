import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { simulateCollective } from '../../src/hw/collectives/index.js';
import { loadHardware } from '../../src/hw/config/load.js';
import type { KernelDesc } from '../../src/kernels/desc.js';
import { OP_CATEGORIES, PASSES } from '../../src/kernels/types.js';
import { chakraToTrace, readChakraTrace } from '../../src/trace/chakra/convert.js';
import { decodeChakraEt } from '../../src/trace/chakra/et.js';
import { readCommGroups } from '../../src/trace/chakra/files.js';
import { encodeChakraTrace } from '../../src/trace/chakra/writer.js';
import { loadTrace } from '../../src/trace/load.js';
import { replayTrace } from '../../src/trace/replay.js';
import { decodeSilicaTrace, encodeSilicaTrace } from '../../src/trace/silica-format.js';
import { inspectTrace } from '../../src/trace/summary.js';
import type { Trace, TraceNode } from '../../src/trace/types.js';
import { ROOT, expectOneLineError, silica } from '../helpers/cli.js';
import { silicaErrorOf } from '../helpers/errors.js';

/**
 * Traces whose fields are well-formed protobuf but bad values: kernel sizes that are negative,
 * NaN or fractional, kernels the part cannot cost, a Chakra rank file read without its siblings,
 * and a GPU count the part does not have. Each gives one line naming the file, the node and the
 * field (one CLI run per kind; variants in-process).
 */
const dir = mkdtempSync(join(tmpdir(), 'silica-bad-fields-'));
const mi300x = loadHardware('mi300x');
const BERT = join(ROOT, 'traces', 'bert-base-train-b2-s128.silica.gz');
const CHAKRA = join(ROOT, 'traces', 'chakra', 'bert-base-prefill-tp2');

function kernelNode(id: number, kernel: KernelDesc, deps: number[] = []): TraceNode {
  return { id, name: `k${id}`, kind: 'kernel', category: 'elementwise', pass: 'fwd', deps, stream: 'compute', kernel };
}
const one = (nodes: TraceNode[], worldSize = 1): Trace => ({ meta: { test: 'bad-fields' }, worldSize, programs: [nodes] });
const elementwise = (fields: Partial<Extract<KernelDesc, { op: 'elementwise' }>> = {}): KernelDesc => ({
  op: 'elementwise',
  name: 'add',
  elements: 1 << 20,
  inputs: 2,
  outputs: 1,
  flopsPerElement: 1,
  dtype: 'bf16',
  ...fields,
});
const gemm = (fields: Partial<Extract<KernelDesc, { op: 'gemm' }>> = {}): KernelDesc => ({ op: 'gemm', m: 256, n: 256, k: 256, dtype: 'bf16', ...fields });

/** A silica trace of a few good kernels and `bad` as node 1, written to `name`. */
function withKernel(name: string, bad: KernelDesc): string {
  const path = join(dir, name);
  writeFileSync(path, encodeSilicaTrace(one([kernelNode(0, elementwise()), kernelNode(1, bad, [0]), kernelNode(2, elementwise(), [1])])));
  return path;
}

describe('bad kernel fields are refused when a trace is read', () => {
  it('a NaN element count: replay names the file, node and field instead of stalling', () => {
    expectOneLineError(silica(['replay', withKernel('nan.silica', elementwise({ elements: NaN }))]), /nan\.silica: node 1 "k1": kernel\.elements: expected a whole number >= 1, got NaN$/);
  });

  it('negative, zero, fractional and infinite sizes and counts, per field', () => {
    const cases: Array<[KernelDesc, RegExp]> = [
      [elementwise({ elements: -5 }), /kernel\.elements: expected a whole number >= 1, got -5$/],
      [elementwise({ elements: 2.5 }), /kernel\.elements: expected a whole number >= 1, got 2\.5$/],
      [elementwise({ inputs: 0, extraReadBytes: -1 }), /kernel\.extra_read_bytes: expected a finite number >= 0, got -1$/],
      [elementwise({ flopsPerElement: Infinity }), /kernel\.flops_per_element: expected a finite number >= 0, got Infinity$/],
      [elementwise({ bytesPerElement: -2 }), /kernel\.bytes_per_element: expected a finite number > 0, got -2$/],
      [{ op: 'memcpy', bytes: -5 }, /kernel\.bytes: expected a finite number >= 0, got -5$/],
      [gemm({ m: 0 }), /kernel\.m: expected a whole number >= 1, got 0$/],
      [gemm({ dtype: 'int4' as never }), /kernel\.dtype: expected one of fp32, tf32, fp16, bf16, fp8, got "int4"$/],
      [{ op: 'reduction', name: 'ln', kind: 'layernorm', rows: 1.5, cols: 768, dtype: 'bf16' }, /kernel\.rows: expected a whole number >= 1, got 1\.5$/],
      [{ op: 'reduction', name: 'ln', kind: 'batchnorm' as never, rows: 8, cols: 768, dtype: 'bf16' }, /kernel\.kind: expected one of softmax, layernorm, rmsnorm, got "batchnorm"$/],
      [{ op: 'attention', batch: 1, heads: 8, kvHeads: 0, qLen: 128, kvLen: 128, headDim: 64, causal: true, dtype: 'bf16' }, /kernel\.kv_heads: expected a whole number >= 1, got 0$/],
      [{ op: 'attention', batch: 1, heads: 8, kvHeads: 16, qLen: 128, kvLen: 128, headDim: 64, causal: true, dtype: 'bf16' }, /kernel\.kv_heads: expected a divisor of kernel\.heads \(8\): .*, got 16$/],
      [{ op: 'attention', batch: 1, heads: 12, kvHeads: 8, qLen: 128, kvLen: 128, headDim: 64, causal: true, dtype: 'bf16' }, /kernel\.kv_heads: expected a divisor of kernel\.heads \(12\): .*, got 8$/],
      [{ op: 'attention', batch: 1, heads: 8, kvHeads: 8, qLen: 256, kvLen: 128, headDim: 64, causal: true, dtype: 'bf16' }, /kernel\.q_len: expected at most kernel\.kv_len \(128\) in causal attention .*, got 256$/],
      [{ op: 'generic', name: 'g', flops: NaN, bytesRead: 0, bytesWritten: 0, dtype: 'fp32' }, /kernel\.flops: expected a finite number >= 0, got NaN$/],
    ];
    // Not causal, more queries than keys is a sound cross-attention shape; GQA and MQA groupings pass.
    for (const good of [
      { op: 'attention', batch: 1, heads: 8, kvHeads: 8, qLen: 256, kvLen: 128, headDim: 64, causal: false, dtype: 'bf16' },
      { op: 'attention', batch: 1, heads: 64, kvHeads: 8, qLen: 1, kvLen: 4096, headDim: 128, causal: true, dtype: 'bf16' },
      { op: 'attention', batch: 1, heads: 16, kvHeads: 1, qLen: 128, kvLen: 128, headDim: 64, causal: true, dtype: 'bf16' },
    ] as KernelDesc[]) {
      expect(() => loadTrace(withKernel('good-attention.silica', good))).not.toThrow();
    }
    cases.forEach(([bad, pattern], i) => {
      const path = withKernel(`case${i}.silica`, bad);
      const message = silicaErrorOf(() => loadTrace(path));
      expect(message.startsWith(`${path}: node 1 "k1": `)).toBe(true);
      expect(message).toMatch(pattern);
    });
  });

  it('non-finite node sizes and durations', () => {
    const delay: TraceNode = { id: 0, name: 'wait', kind: 'delay', category: 'elementwise', pass: 'fwd', deps: [], stream: 's', durationNs: Infinity };
    const path = join(dir, 'inf-delay.silica');
    writeFileSync(path, encodeSilicaTrace(one([delay])));
    expect(silicaErrorOf(() => loadTrace(path))).toMatch(/inf-delay\.silica: message 2 \(node 0\): duration_ns: expected a duration >= 0/);
    const coll: TraceNode = { id: 0, name: 'ar', kind: 'collective', category: 'communication', pass: 'fwd', deps: [], stream: 's', collective: { kind: 'all-reduce', bytes: NaN, group: [] } };
    writeFileSync(path, encodeSilicaTrace(one([coll], 2)));
    expect(silicaErrorOf(() => loadTrace(path))).toMatch(/collective\.bytes: expected a size >= 0/);
  });

  it('the sample traces pass', () => {
    for (const f of ['bert-base-train-b2-s128.silica.gz', 'llama2-7b-decode-b4-c1024.silica.gz']) expect(loadTrace(join(ROOT, 'traces', f)).trace.programs[0]!.length).toBeGreaterThan(300);
  });
});

describe('op categories and passes outside the taxonomy are refused', () => {
  // Breakdowns sum time by category and pass: an unknown name would be a bucket no figure reads.
  const delay = (category: string, pass: string): TraceNode => ({ id: 0, name: 'wait', kind: 'delay', category: category as never, pass: pass as never, deps: [], stream: 's', durationNs: 5 });

  it('a silica trace: the node\'s category (CLI) and pass', () => {
    const path = join(dir, 'category.silica');
    writeFileSync(path, encodeSilicaTrace(one([delay('GEMM', 'fwd')])));
    expectOneLineError(silica(['replay', path]), /category\.silica: message 2 \(node 0\): category: expected one of gemm, attention, softmax, layernorm, elementwise, optimizer, communication, memcpy, got "GEMM"$/);
    writeFileSync(path, encodeSilicaTrace(one([delay('gemm', 'backward')])));
    expect(silicaErrorOf(() => loadTrace(path))).toMatch(/category\.silica: message 2 \(node 0\): pass: expected one of fwd, bwd, opt, got "backward"$/);
  });

  it('a kernel\'s own category', () => {
    const path = withKernel('kernel-category.silica', gemm({ category: 'matmul' as never }));
    expect(silicaErrorOf(() => loadTrace(path))).toMatch(/node 1 "k1": kernel\.category: expected one of gemm, attention, .*, got "matmul"$/);
  });

  it('a Chakra trace: the silica_category and silica_pass attributes', () => {
    for (const [node, field, got] of [
      [delay('banana', 'fwd'), 'silica_category', 'banana'],
      [delay('gemm', 'forward'), 'silica_pass', 'forward'],
    ] as const) {
      const prefix = join(mkdtempSync(join(dir, 'chakra-taxonomy-')), 'bad');
      encodeChakraTrace(one([node]), mi300x).files.forEach((bytes, r) => writeFileSync(`${prefix}.${r}.et`, bytes));
      expect(silicaErrorOf(() => readChakraTrace(prefix))).toMatch(new RegExp(`bad\\.0\\.et: node \\d+ "wait": attr ${field}: expected one of .*, got "${got}"$`));
    }
  });

  it('every category and pass the taxonomy names passes', () => {
    const path = join(dir, 'taxonomy.silica');
    const nodes = OP_CATEGORIES.flatMap((c, i) => PASSES.map((p, j) => ({ ...delay(c, p), id: i * PASSES.length + j })));
    writeFileSync(path, encodeSilicaTrace(one(nodes)));
    expect(loadTrace(path).trace.programs[0]!.length).toBe(OP_CATEGORIES.length * PASSES.length);
  });
});

describe('errors raised while costing a node name the trace and the node', () => {
  it('a dtype the part has no rate for (CLI: replay --hw mi100)', () => {
    const path = withKernel('fp8.silica', gemm({ dtype: 'fp8' }));
    expectOneLineError(silica(['replay', path, '--hw', 'mi100']), /fp8\.silica: node 1 "k1": kernel\.dtype: mi100 has no fp8 rate \(expected one of fp32, tf32, fp16, bf16\), got fp8$/);
  });

  it('a trace built in memory: replay and inspect, with the flag name turned into the field', () => {
    const t = one([kernelNode(0, elementwise()), kernelNode(7, gemm({ m: 0 }), [0])]);
    expect(silicaErrorOf(() => replayTrace(t, mi300x))).toBe('trace: node 7 "k7": kernel.m: expected a positive whole number, got 0');
    expect(silicaErrorOf(() => inspectTrace(t, mi300x))).toBe('trace: node 7 "k7": kernel.m: expected a positive whole number, got 0');
    const ranks: Trace = { meta: {}, worldSize: 2, programs: [[kernelNode(0, elementwise())], [kernelNode(0, gemm({ k: 0 }))]] };
    expect(silicaErrorOf(() => replayTrace(ranks, mi300x))).toBe('trace: rank 1: node 0 "k0": kernel.k: expected a positive whole number, got 0');
  });

  it('a trace read from a file names the file (in-process, replay and inspect)', () => {
    const path = withKernel('fp8-inproc.silica', gemm({ dtype: 'fp8' }));
    const { trace } = loadTrace(path);
    const mi100 = loadHardware('mi100');
    const expected = /^\S*fp8-inproc\.silica: node 1 "k1": kernel\.dtype: mi100 has no fp8 rate /;
    expect(silicaErrorOf(() => replayTrace(trace, mi100))).toMatch(expected);
    expect(silicaErrorOf(() => inspectTrace(trace, mi100))).toMatch(expected);
  });
});

describe('a Chakra trace missing rank files', () => {
  it('one rank file of a 2-rank set copied alone (CLI)', () => {
    const alone = mkdtempSync(join(dir, 'alone-'));
    copyFileSync(`${CHAKRA}.0.et`, join(alone, 'bert-base-prefill-tp2.0.et'));
    expectOneLineError(silica(['replay', join(alone, 'bert-base-prefill-tp2.0.et')]), /bert-base-prefill-tp2: expected rank files 0\.\.1 \(the metadata says 2 ranks: silica\.tp 2 x silica\.dp 1\), found 0 only$/);
  });

  it('what names the missing ranks: the exporter\'s world size, collective groups, send/recv peers', () => {
    const full = readChakraTrace(CHAKRA);
    expect(full.trace.worldSize).toBe(2);
    // Re-exported ETs record their world size.
    const exported = encodeChakraTrace(full.trace, mi300x);
    const rank0 = decodeChakraEt(exported.files[0]!, 'x.0.et', 0);
    expect(silicaErrorOf(() => chakraToTrace([rank0], 'x'))).toBe('x: expected rank files 0..1 (the metadata says 2 ranks (silica_world_size)), found 0 only');
    // A foreign trace (no silica metadata): a collective group naming rank 3 of 4, 2 files present.
    const node = (id: number, group: number[]): TraceNode => ({ id, name: `ar${id}`, kind: 'collective', category: 'communication', pass: 'fwd', deps: [], stream: 'comm', collective: { kind: 'all-reduce', bytes: 1024, group } });
    const four: Trace = { meta: {}, worldSize: 4, programs: [0, 1, 2, 3].map((r) => [node(0, r < 2 ? [0, 1] : [2, 3]), node(1, [r % 2, (r % 2) + 2])]) };
    const ex4 = encodeChakraTrace(four, mi300x);
    const groupsFile = join(dir, 'groups.json');
    writeFileSync(groupsFile, JSON.stringify(ex4.commGroups));
    const foreign = (bytes: Uint8Array, r: number) => {
      const f = decodeChakraEt(bytes, `y.${r}.et`, r);
      f.metadata.clear();
      return f;
    };
    expect(silicaErrorOf(() => chakraToTrace([0, 1].map((r) => foreign(ex4.files[r]!, r)), 'y', readCommGroups(groupsFile)))).toBe('y: expected rank files 0..3 (the collectives name 4 ranks), found 0..1');
    // Send/recv between ranks 0 and 1, rank 0 alone.
    const p2p: Trace = {
      meta: {},
      worldSize: 2,
      programs: [0, 1].map((r) => [
        { id: 0, name: 'send', kind: 'send', category: 'communication', pass: 'fwd', deps: [], stream: 'send', peer: 1 - r, bytes: 64 },
        { id: 1, name: 'recv', kind: 'recv', category: 'communication', pass: 'fwd', deps: [], stream: 'recv', peer: 1 - r, bytes: 64 },
      ]),
    };
    expect(silicaErrorOf(() => chakraToTrace([foreign(encodeChakraTrace(p2p, mi300x).files[0]!, 0)], 'z'))).toBe('z: expected rank files 0..1 (the sends and receives name 2 ranks), found 0 only');
  });

  it('rank files left by an earlier, wider export to the same prefix are named, not loaded as more ranks (CLI)', () => {
    const out = mkdtempSync(join(dir, 'stale-'));
    const prefix = join(out, 'step');
    const emit = (...flags: string[]) => expect(silica(['emit', '--model', 'bert-base', '--phase', 'prefill', '--batch', '1', '--seq', '32', '--format', 'chakra', '-o', prefix, ...flags]).code).toBe(0);
    emit('--tp', '4');
    emit('--tp', '2');
    expect(existsSync(`${prefix}.3.et`)).toBe(true);
    for (const cmd of ['replay', 'inspect']) {
      expectOneLineError(silica([cmd, prefix]), /step\.0\.et: the metadata says 2 ranks \(silica_world_size\), but 4 rank files were found: step\.2\.et to step\.3\.et are not part of it \(left by an earlier export to the same prefix\?\); remove them or export to a new prefix$/);
    }
    emit();
    expectOneLineError(silica(['replay', `${prefix}.0.et`]), /the metadata says 1 rank \(silica_world_size\), but 4 rank files were found: step\.1\.et to step\.3\.et are not part of it/);
  });

  it('a foreign rank-0 trace whose collectives span "all ranks" still loads (rank 0 only, as the PyTorch converter writes)', () => {
    const f = decodeChakraEt(readFileSync(`${CHAKRA}.0.et`), 'w.0.et', 0);
    f.metadata.clear();
    const t = chakraToTrace([f], 'w');
    expect(t.worldSize).toBe(1);
    expect(replayTrace(t, mi300x, { recordTimeline: false }).stats.singleRankCollectives).toBe(26);
  });
});

describe('replay --gpus must fit the part, as for collective', () => {
  const tiny = one([kernelNode(0, { op: 'memcpy', bytes: 1 << 20 })]);

  it('--gpus 9 on an 8-GPU mi300x node (CLI)', () => {
    expectOneLineError(silica(['replay', BERT, '--gpus', '9']), /^silica: --gpus: mi300x has 8 GPUs per node x 1 node\(s\) = 8, got 9 \(set interconnect\.nodes for a multi-node system\)$/);
  });

  it('the same message as collective; 8 fits; a trace of more ranks than a node still spans nodes', () => {
    const collective = silicaErrorOf(() => simulateCollective(mi300x, 9, { kind: 'all-reduce', bytes: 1 << 20 }));
    expect(silicaErrorOf(() => replayTrace(tiny, mi300x, { gpus: 9 }))).toBe(collective);
    expect(replayTrace(tiny, mi300x, { gpus: 8 }).stats.gpus).toBe(8);
    const wide = one([kernelNode(0, { op: 'memcpy', bytes: 1 << 20 })], 16);
    expect(replayTrace(wide, mi300x).stats.systemNodes).toBe(2);
    expect(replayTrace(wide, mi300x, { gpus: 16 }).stats.systemNodes).toBe(2);
  });
});

describe('a world size replay cannot simulate is refused, not left to run for hours', () => {
  // Every rank is simulated: 256 takes ~15 s, 1000 did not finish in 300 s.
  const memcpy = kernelNode(0, { op: 'memcpy', bytes: 1 << 20 });

  it('a silica trace names the file and header.world_size; --gpus names the flag (CLI)', () => {
    const path = join(dir, 'world512.silica');
    writeFileSync(path, encodeSilicaTrace(one([memcpy], 512)));
    expectOneLineError(silica(['replay', path]), /world512\.silica: header\.world_size: expected at most 256 GPUs \(every one is simulated\), got 512$/);
    expectOneLineError(silica(['replay', BERT, '--gpus', '512', '--set', 'interconnect.nodes=64']), /^silica: --gpus: expected at most 256 GPUs \(every one is simulated\), got 512$/);
  });

  it('a Chakra trace names its rank count (CLI)', () => {
    const prefix = join(mkdtempSync(join(dir, 'chakra257-')), 'wide');
    encodeChakraTrace(one([memcpy], 257), mi300x).files.forEach((bytes, r) => writeFileSync(`${prefix}.${r}.et`, bytes));
    expectOneLineError(silica(['replay', prefix]), /wide: rank count: expected at most 256 GPUs \(every one is simulated\), got 257$/);
  });

  it('in-process replay of a trace built in memory; 256 is still allowed', () => {
    expect(silicaErrorOf(() => replayTrace(one([memcpy], 300), mi300x))).toBe('trace: world_size: expected at most 256 GPUs (every one is simulated), got 300');
    expect(silicaErrorOf(() => replayTrace(one([memcpy], 16), { ...mi300x, interconnect: { ...mi300x.interconnect, nodes: 64 } }, { gpus: 300 }))).toMatch(/^--gpus: expected at most 256 GPUs/);
    expect(replayTrace(one([memcpy], 256), mi300x, { recordTimeline: false }).stats.gpus).toBe(256);
  });

  it('emit refuses to write a trace of more ranks, naming the flags that make it', () => {
    const out = join(dir, 'dp512.pb');
    const emit = ['emit', '--model', 'bert-base', '--batch', '1', '--seq', '128', '-o', out];
    expectOneLineError(silica([...emit, '--dp', '512']), /^silica: --dp: expected at most 256 GPUs \(every one is simulated\), got 512$/);
    expectOneLineError(silica([...emit, '--tp', '2', '--dp', '256']), /^silica: --tp 2 x --dp 256: expected at most 256 GPUs \(every one is simulated\), got 512$/);
    expect(existsSync(out)).toBe(false);
  });

  it('emit refuses flags of another phase instead of ignoring them', () => {
    const out = join(dir, 'phase.pb');
    const prefill = ['emit', '--model', 'bert-base', '--phase', 'prefill', '--batch', '1', '--seq', '128', '-o', out];
    expectOneLineError(silica([...prefill, '--context', '5']), /^silica: --context: only with --phase decode, not prefill$/);
    expectOneLineError(silica([...prefill, '--dp', '2']), /^silica: --dp: only with --phase train, not prefill$/);
    expectOneLineError(silica([...prefill, '--no-fuse-bias-act']), /^silica: --no-fuse-bias-act: only with --phase train, not prefill$/);
    expectOneLineError(silica([...prefill, '--optimizer-impl', 'per-tensor']), /^silica: --optimizer-impl: only with --phase train, not prefill$/);
    expectOneLineError(silica([...prefill, '--bucket-mb', '5']), /^silica: --bucket-mb: only with --phase train, not prefill$/);
    expectOneLineError(silica([...prefill, '--zero-stage', '1']), /^silica: --zero-stage: only with --phase train, not prefill$/);
    expectOneLineError(silica([...prefill, '--selective-recompute']), /^silica: --selective-recompute: only with --phase train, not prefill$/);
    expectOneLineError(silica(['emit', '--model', 'llama2-7b', '--phase', 'decode', '--batch', '1', '--context', '64', '--seq', '128', '-o', out]), /^silica: --seq: only with --phase train or prefill, not decode$/);
    expectOneLineError(silica(['emit', '--model', 'bert-base', '--batch', '1', '--seq', '128', '--dtype', 'fp8', '-o', out]), /^silica: --dtype: only with --phase prefill or decode, not train$/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('send/recv errors name the trace file', () => {
  const send = (peer: number): TraceNode => ({ id: 0, name: 'send', kind: 'send', category: 'communication', pass: 'fwd', deps: [], stream: 'send', peer, bytes: 64 });

  it('a send with no matching recv, one program per rank (CLI)', () => {
    const path = join(dir, 'orphan-send.silica');
    writeFileSync(path, encodeSilicaTrace({ meta: {}, worldSize: 2, programs: [[send(1)], [kernelNode(0, elementwise())]] }));
    expectOneLineError(silica(['replay', path]), /^silica: \S*orphan-send\.silica: rank 0: rank 0 -> rank 1 tag 0: a send has no matching recv /);
  });

  it('an SPMD send that reaches its own rank, in-process: the file and the rank', () => {
    const path = join(dir, 'self-send.silica');
    writeFileSync(path, encodeSilicaTrace(one([send(1)], 2)));
    expect(silicaErrorOf(() => replayTrace(loadTrace(path).trace, mi300x))).toBe(`${path}: rank 1 node 0 "send": peer: expected another rank, got its own (1)`);
  });

  it('a Chakra trace names the rank file', () => {
    const prefix = join(mkdtempSync(join(dir, 'chakra-orphan-')), 'p2p');
    const trace: Trace = { meta: {}, worldSize: 2, programs: [[send(1)], [kernelNode(0, elementwise())]] };
    encodeChakraTrace(trace, mi300x).files.forEach((bytes, r) => writeFileSync(`${prefix}.${r}.et`, bytes));
    expect(silicaErrorOf(() => replayTrace(readChakraTrace(prefix).trace, mi300x))).toMatch(new RegExp(`^${prefix}\\.0\\.et: rank 0 -> rank 1 tag 0: a send has no matching recv`));
  });
});

describe('ranks named twice or not at all', () => {
  it('a collective group that lists a rank twice (it would wait for itself)', () => {
    const path = join(dir, 'group-twice.silica');
    const all: TraceNode = { id: 0, name: 'c', kind: 'collective', category: 'communication', pass: 'fwd', deps: [], stream: 'comm', collective: { kind: 'all-reduce', bytes: 1 << 20, group: [0, 0, 1] } };
    writeFileSync(path, encodeSilicaTrace(one([all], 2)));
    expect(silicaErrorOf(() => loadTrace(path))).toBe(`${path}: node 0 "c": collective.group: expected distinct ranks, got rank 0 twice (0,0,1)`);
  });

  it('a comm_group.json that lists a rank twice', () => {
    const groups = join(dir, 'groups-twice.json');
    writeFileSync(groups, JSON.stringify({ 0: [0, 1], 1: [2, 2, 3] }));
    expect(silicaErrorOf(() => readCommGroups(groups))).toBe(`${groups}: group "1": expected distinct ranks, got rank 2 twice`);
  });

  it('a tensor-parallel trace on another GPU count (its kernels are one shard of its split)', () => {
    const tp2: Trace = { meta: { tp: 2 }, worldSize: 2, programs: [[kernelNode(0, elementwise())]] };
    expect(silicaErrorOf(() => replayTrace(tp2, mi300x, { gpus: 8 }))).toBe('--gpus: the trace was lowered for tensor parallelism 2 (meta.tp), its kernels one shard of that split, got 8; emit it with --tp 8, or replay it on 2 GPUs');
    // Data-parallel replicas (tp 1) may change in number: each runs the whole step.
    expect(replayTrace({ ...tp2, meta: { tp: 1 } }, mi300x, { gpus: 8 }).stats.gpus).toBe(8);
  });

  it('Chakra-only flags on a silica trace (CLI)', () => {
    expectOneLineError(silica(['replay', BERT, '--comm-groups', 'groups.json']), /^silica: --comm-groups: only with a Chakra ET, and \S*bert-base-train-b2-s128\.silica\.gz is a silica trace$/);
  });

  it('a rank file the trace does not have (CLI)', () => {
    expectOneLineError(silica(['replay', `${CHAKRA}.5.et`]), /bert-base-prefill-tp2\.5\.et: no such file \(the trace \S*bert-base-prefill-tp2 has ranks 0 to 1\)$/);
  });
});

describe('emit takes a part only where the trace is costed', () => {
  it('--set compute.cus=abc on a Chakra export fails as on kernel gemm, writing nothing', () => {
    const out = join(dir, 'set-abc');
    const r = silica(['emit', '--model', 'bert-base', '--batch', '1', '--seq', '128', '--format', 'chakra', '--set', 'compute.cus=abc', '-o', out]);
    expectOneLineError(r, /compute\.cus \(set by the override compute\.cus=abc\): expected a number, got "abc"$/);
    expect(existsSync(`${out}.0.et`)).toBe(false);
  });

  it('refuses --hw and --set for a silica trace, which holds no costs, writing nothing', () => {
    const out = join(dir, 'hw-silica.pb');
    expectOneLineError(silica(['emit', '--model', 'bert-base', '--batch', '1', '--seq', '128', '--hw', 'h100-sxm', '-o', out]), /^silica: --hw: only with --format chakra, not silica$/);
    expectOneLineError(silica(['emit', '--model', 'bert-base', '--batch', '1', '--seq', '128', '--format', 'silica', '--set', 'compute.cus=8', '-o', out]), /^silica: --set: only with --format chakra, not silica$/);
    expect(existsSync(out)).toBe(false);
  });
});
