import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readChakraTrace } from '../../src/trace/chakra/convert.js';
import { inspectChakraFile, type ChakraFileSummary } from '../../src/trace/summary.js';
import { replayTrace } from '../../src/trace/replay.js';
import { loadHardware } from '../../src/hw/config/load.js';
import { SHARED, silicaJson } from '../helpers/cli.js';

/**
 * Every real Chakra ET under ../shared/data/chakra: inspect's per-file counts equal the figures in
 * SOURCES.md (parsed from its tables, so the test follows the file), and every trace replays.
 */
const DIR = join(SHARED, 'data', 'chakra');
const SOURCES = join(DIR, 'SOURCES.md');
const haveShared = existsSync(SOURCES);

interface Row {
  file: string;
  nodes: number;
  types: Record<string, number>;
  comm: string[];
  ids: [number, number];
  notes: string;
}

const TYPE_NAMES: Record<string, string> = { COLL: 'COMM_COLL_NODE', COMP: 'COMP_NODE', SEND: 'COMM_SEND_NODE', RECV: 'COMM_RECV_NODE' };

function parseRows(): Row[] {
  const rows: Row[] = [];
  for (const line of readFileSync(SOURCES, 'utf8').split('\n')) {
    const m = /^\| `([^`]+\.et)` \|/.exec(line);
    if (!m) continue;
    const cells = line.split('|').map((c) => c.trim());
    // cells: '', file, bytes, sha, nodes, types, collectives, ids, notes, ''
    const types: Record<string, number> = {};
    for (const part of cells[5]!.split(',')) {
      const [k, v] = part.trim().split(/\s+/);
      types[TYPE_NAMES[k!]!] = Number(v);
    }
    const ids = cells[7]!.split('–').map(Number) as [number, number];
    rows.push({ file: m[1]!, nodes: Number(cells[4]), types, comm: cells[6]!.split(';').map((s) => s.trim()).filter(Boolean).sort(), ids, notes: cells[8]! });
  }
  return rows;
}

/** inspect's file summary in SOURCES.md's notation. */
function commOf(s: ChakraFileSummary): string[] {
  const out = s.collectives.map((c) => `${c.type} ${c.bytes}B×${c.count}`);
  if (s.collectives_without_comm_type) out.push(`no comm_type attr×${s.collectives_without_comm_type}`);
  for (const p of s.p2p) out.push(`${p.type}${p.type === 'send' ? '→' : '←'}${p.peer} ${p.bytes}B×${p.count}`);
  return out.sort();
}

/** The rank files of one trace, grouped by prefix. */
function traceSets(rows: Row[]): Map<string, Row[]> {
  const sets = new Map<string, Row[]>();
  for (const r of rows) {
    const prefix = r.file.replace(/\.\d+\.et$/, '');
    sets.set(prefix, [...(sets.get(prefix) ?? []), r]);
  }
  return sets;
}

describe.skipIf(!haveShared)('real Chakra ETs (../shared/data/chakra)', () => {
  const rows = haveShared ? parseRows() : [];
  const sets = traceSets(rows);
  const hw = loadHardware('mi300x');
  // Each trace is read and replayed once (the PyTorch trace is the slow one).
  const imports = new Map<string, ReturnType<typeof readChakraTrace>>();
  const replays = new Map<string, ReturnType<typeof replayTrace>>();
  const read = (path: string) => imports.get(path) ?? imports.set(path, readChakraTrace(path)).get(path)!;
  const replay = (path: string) => replays.get(path) ?? replays.set(path, replayTrace(read(path).trace, hw, { recordTimeline: false })).get(path)!;

  it('SOURCES.md lists 89 ET files in 8 traces', () => {
    expect(rows.length).toBe(89);
    expect(sets.size).toBe(8);
  });

  for (const [prefix, files] of sets) {
    it(`${prefix}: counts match SOURCES.md and the trace replays`, () => {
      const imp = read(join(DIR, files[0]!.file));
      expect(imp.files.length).toBe(files.length);
      for (const row of files) {
        const f = imp.files.find((x) => x.path === join(DIR, row.file))!;
        const s = inspectChakraFile(f);
        expect(s.nodes, row.file).toBe(row.nodes);
        expect(s.node_types, row.file).toEqual(row.types);
        expect(commOf(s), row.file).toEqual(row.comm);
        expect([s.ids.min, s.ids.max], row.file).toEqual(row.ids);
        const dur = /Σ COMP duration_micros=(\d+)/.exec(row.notes);
        if (dur) expect(s.comp_duration_micros, row.file).toBe(Number(dur[1]));
        const missing = /(\d+) deps to ids not in file/.exec(row.notes);
        if (missing) expect(s.missing_deps).toBe(Number(missing[1]));
        const forward = /(\d+) deps to nodes later in file/.exec(row.notes);
        if (forward) expect(s.forward_deps).toBe(Number(forward[1]));
      }
      const r = replay(join(DIR, files[0]!.file));
      expect(r.totalNs).toBeGreaterThan(0);
      const sum = Object.values(r.breakdown.byCategory).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(r.totalNs, 3);
    });
  }

  it('the PyTorch trace: 3664 nodes, 21 collective nodes, its quirks reported, GPU time as recorded', () => {
    const imp = read(join(DIR, 'mlcommons-chakra/tests/data/chakra.0.et'));
    const s = inspectChakraFile(imp.files[0]!);
    expect(s.cpu_ops).toBe(2448);
    expect(s.gpu_ops).toBe(1216);
    expect(s.ctrl_deps + s.data_deps).toBe(3664 + 181878);
    expect(s.gpu_comp_duration_micros).toBe(292828);
    expect(imp.trace.meta.chakra_missing_deps).toBe(1277);
    const r = replay(join(DIR, 'mlcommons-chakra/tests/data/chakra.0.et'));
    // Every GPU COMP node replays its recorded duration; the rank-0-only NCCL kernels too.
    expect(r.stats.singleRankCollectives).toBe(7);
    expect(r.totalNs / 1000).toBeGreaterThanOrEqual(292828 - 36715);
  });

  it('T2D: pg_name "1.0" resolves to group 1 through inputs/comm_group.json (std::stoi)', () => {
    const imp = readChakraTrace(join(DIR, 'astra-sim-artifacts/examples/T2D-analytical/trace/trace.5.et'));
    const rank5 = imp.trace.programs[5]!.filter((n) => n.kind === 'collective').map((n) => n.collective!.group);
    expect(rank5).toEqual([
      [4, 5, 6, 7],
      [1, 5, 9, 13],
    ]);
  });

  it('CLI: inspect --json on the PyTorch trace and replay --json on the 16-rank T2D', () => {
    const ins = silicaJson<{ nodes: number; chakra: { ranks: ChakraFileSummary[] } }>(['inspect', join(DIR, 'mlcommons-chakra/tests/data/chakra.0.et')]);
    expect(ins.nodes).toBe(3664);
    expect(ins.chakra.ranks[0]!.node_types).toEqual({ COMP_NODE: 3643, COMM_COLL_NODE: 21 });
    expect(ins.chakra.ranks[0]!.collectives.reduce((s, c) => s + c.count, 0) + ins.chakra.ranks[0]!.collectives_without_comm_type).toBe(21);
    const rep = silicaJson<{ gpus: number; total_us: number; stats: { collectives: number }; breakdown: { by_category_us: Record<string, number> } }>([
      'replay',
      join(DIR, 'astra-sim-artifacts/examples/T2D-analytical/trace/trace.7.et'),
      '--hw',
      'mi300x',
    ]);
    expect(rep.gpus).toBe(16);
    // 8 row groups + 8 column groups, one all-reduce each.
    expect(rep.stats.collectives).toBe(8);
    expect(rep.total_us).toBeGreaterThan(100);
    expect(rep.breakdown.by_category_us.elementwise).toBeCloseTo(100, 3);
  });
});
