import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { costKernel } from '../../src/kernels/desc.js';
import { buildTrainingTrace, getModel } from '../../src/sw/index.js';
import { chakraToTrace, readChakraTrace } from '../../src/trace/chakra/convert.js';
import { decodeChakraEt } from '../../src/trace/chakra/et.js';
import { readCommGroups } from '../../src/trace/chakra/files.js';
import { writeTrace } from '../../src/trace/load.js';
import { replayTrace } from '../../src/trace/replay.js';
import { inspectTrace } from '../../src/trace/summary.js';
import { programOf, type Trace, type TraceNode } from '../../src/trace/types.js';
import { silicaJson } from '../helpers/cli.js';

/** silica -> Chakra ET -> silica keeps the graph; what a non-silica reader sees is the same graph. */
const hw = loadHardware('mi300x');
const trace = buildTrainingTrace(getModel('bert-base'), { batch: 2, seq: 128, precision: 'mixed', tp: 2, dp: 2 });

const graphOf = (nodes: TraceNode[]) => nodes.map((n) => ({ id: n.id, kind: n.kind, deps: [...n.deps].sort((a, b) => a - b), collective: n.collective, peer: n.peer, bytes: n.bytes }));

function exportTo(t: Trace): string {
  const prefix = join(mkdtempSync(join(tmpdir(), 'silica-chakra-')), 'bert');
  writeTrace(t, prefix, 'chakra', { hw });
  return prefix;
}

describe('Chakra export', () => {
  const prefix = exportTo(trace);

  it('writes one ET per rank plus the comm_group.json of the TP and DP groups', () => {
    const groups = readCommGroups(`${prefix}.comm_group.json`);
    expect([...groups.values()].map((g) => g.join(','))).toEqual(expect.arrayContaining(['0,1', '2,3', '0,2', '1,3']));
    const back = readChakraTrace(`${prefix}.3.et`);
    expect(back.files.length).toBe(4);
  });

  it('reads back with the same graph and nodes on every rank', () => {
    const back = readChakraTrace(prefix).trace;
    expect(back.worldSize).toBe(trace.worldSize);
    for (let r = 0; r < trace.worldSize; r++) {
      const a = programOf(trace, r);
      const b = programOf(back, r);
      expect(b.length).toBe(a.length);
      expect(JSON.parse(JSON.stringify(b))).toEqual(JSON.parse(JSON.stringify(a)));
    }
    expect(back.meta.model).toBe('bert-base');
  });

  it('a reader that ignores the silica_* attributes sees the same graph, num_ops = kernel FLOPs', () => {
    const files = [0, 1, 2, 3].map((r) => {
      const f = decodeChakraEt(readFileSync(`${prefix}.${r}.et`), `${prefix}.${r}.et`, r);
      for (const n of f.nodes) for (const k of [...n.attrs.keys()]) if (k.startsWith('silica_')) n.attrs.delete(k);
      return f;
    });
    const foreign = chakraToTrace(files, prefix, readCommGroups(`${prefix}.comm_group.json`));
    for (let r = 0; r < 4; r++) {
      const a = programOf(trace, r);
      const b = foreign.programs[r]!;
      expect(graphOf(b)).toEqual(graphOf(a));
      a.forEach((n, i) => {
        if (n.kind === 'kernel') expect(b[i]!.kernel).toMatchObject({ op: 'generic', flops: Math.round(costKernel(hw, n.kernel!).flops) });
      });
    }
  });

  it('uses the value types of the reference generators (comm_type int64, comm_src int32, is_cpu_op bool)', () => {
    const raw = readFileSync(`${prefix}.0.et`);
    const f = decodeChakraEt(raw, 'x', 0);
    const coll = f.nodes.find((n) => n.type === 7)!;
    expect(typeof coll.attrs.get('comm_type')).toBe('number');
    expect(coll.attrs.get('is_cpu_op')).toBe(false);
    expect(f.version).toBe('0.0.4');
    expect(f.metadata.get('schema')).toBe('1.0.2-chakra.0.0.4');
  });

  it('replays exactly like the silica trace it came from', () => {
    const a = replayTrace(trace, hw, { recordTimeline: false });
    const b = replayTrace(readChakraTrace(prefix).trace, hw, { recordTimeline: false });
    expect(b.totalNs).toBe(a.totalNs);
    expect(b.breakdown.byCategory).toEqual(a.breakdown.byCategory);
  });

  it('send/recv and delays survive the round trip (ring of 2)', () => {
    const p2p: Trace = {
      meta: { what: 'p2p' },
      worldSize: 2,
      programs: [0, 1].map((r) => [
        { id: 0, name: 'send', kind: 'send', category: 'communication', pass: 'fwd', deps: [], stream: 'send', peer: 1 - r, bytes: 1 << 20, tag: 7 },
        { id: 1, name: 'recv', kind: 'recv', category: 'communication', pass: 'fwd', deps: [], stream: 'recv', peer: 1 - r, bytes: 1 << 20, tag: 7 },
        { id: 2, name: 'host', kind: 'delay', category: 'elementwise', pass: 'fwd', deps: [0, 1], stream: 'cpu', durationNs: 1500, device: 'host' },
      ]) as TraceNode[][],
    };
    const back = readChakraTrace(exportTo(p2p)).trace;
    expect(JSON.parse(JSON.stringify(back.programs))).toEqual(JSON.parse(JSON.stringify(p2p.programs)));
  });

  it('a kernel node on the host is what replay runs: its stream held for its duration, not a GPU kernel (inspect counts it so)', () => {
    const kernel = { op: 'gemm', m: 1024, n: 1024, k: 1024, dtype: 'bf16' } as const;
    const trace: Trace = {
      meta: {},
      worldSize: 1,
      programs: [[{ id: 0, name: 'cpu-gemm', kind: 'kernel', category: 'gemm', pass: 'fwd', deps: [], stream: 'compute', kernel, durationNs: 2500, device: 'host' }] as TraceNode[]],
    };
    const hw = loadHardware('mi300x');
    expect(replayTrace(trace, hw).totalNs).toBe(2500);
    const s = inspectTrace(trace, hw);
    expect(s).toMatchObject({ nodes: 1, kernels: 0, host_nodes: 1, flops: 0, hbm_bytes: 0 });
  });

  it('CLI: emit --format chakra, then inspect counts the files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-chakra-cli-'));
    const out = join(dir, 'tiny');
    const w = silicaJson<{ files: string[] }>(['emit', '--model', 'bert-base', '--phase', 'prefill', '--batch', '1', '--seq', '64', '--tp', '2', '--format', 'chakra', '-o', out]);
    expect(w.files).toEqual([`${out}.0.et`, `${out}.1.et`]);
    writeFileSync(join(dir, 'unrelated.txt'), 'x');
    const s = silicaJson<{ world_size: number; nodes: number; collectives: { count: number; nodes: number }; chakra: { ranks: Array<{ nodes: number; node_types: Record<string, number> }> } }>(['inspect', `${out}.1.et`]);
    expect(s.world_size).toBe(2);
    expect(s.chakra.ranks.map((r) => r.nodes).reduce((a, b) => a + b, 0)).toBe(s.nodes);
    expect(s.chakra.ranks[0]!.node_types.COMM_COLL_NODE).toBe(s.collectives.nodes / 2);
    expect(s.collectives.count).toBe(s.chakra.ranks[0]!.node_types.COMM_COLL_NODE);
  });

  it('CLI: inspect counts collectives as replay runs them, sub-groups included (TP 2 x DP 2)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'silica-inspect-groups-')), 'tpdp.silica');
    silicaJson(['emit', '--model', 'bert-base', '--phase', 'train', '--batch', '2', '--seq', '64', '--tp', '2', '--dp', '2', '-o', file]);
    const s = silicaJson<{ collectives: { count: number; nodes: number; by_kind: Array<{ group: string; count: number; nodes: number }> } }>(['inspect', file]);
    const replayed = silicaJson<{ collectives: { count: number } }>(['replay', file]);
    expect(s.collectives.count).toBe(replayed.collectives.count);
    expect(s.collectives.nodes).toBe(2 * s.collectives.count);
    for (const k of s.collectives.by_kind) expect(k.count * k.group.split(',').length).toBe(k.nodes);
  });
});
