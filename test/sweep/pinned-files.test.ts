import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/study/index.js';
import { pinFiles } from '../../src/core/pinned-files.js';
import { loadHardware } from '../../src/hw/config/load.js';
import { checkedHardware } from '../../src/hw/config/overrides.js';
import { loadRequestFile } from '../../src/sw/serving/requests.js';
import { inputPins } from '../../src/sweep/inputs.js';
import { runSweepPointTask } from '../../src/sweep/point-task.js';
import { laneWorker } from '../../src/sweep/pool.js';
import { decodeLines } from '../../src/sweep/results.js';
import { loadSweep } from '../../src/sweep/spec.js';

/**
 * A sweep's point ids digest the files its points read (hardware YAML, request traces), as they
 * were when the sweep was loaded; the points read them as they were then too (pinFiles), so a
 * file edited while a long sweep runs cannot give later points results their ids do not name.
 * Outside a sweep, a file edited between two loads in one process is read again.
 */
const dir = mkdtempSync(join(tmpdir(), 'silica-pinned-'));
afterAll(() => {
  pinFiles(undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('files a sweep pins', () => {
  it('outside a sweep, an edit between two loads in one process is read again (the memo keys by file version)', () => {
    const part = join(dir, 'edited.yaml');
    writeFileSync(part, 'base: mi300x\ncompute: {cus: 256}\n');
    expect(checkedHardware('edited.yaml', {}, dir).compute.cus).toBe(256);
    // Another size, so the version (modification time and size) changes even within one clock tick.
    writeFileSync(part, 'base: mi300x\ncompute: {cus: 128}  # fewer\n');
    expect(checkedHardware('edited.yaml', {}, dir).compute.cus).toBe(128);
  });

  it('pinned text is read instead of the disk, chain included, until unpinned', () => {
    const base = join(dir, 'lab-base.yaml');
    const top = join(dir, 'lab-top.yaml');
    writeFileSync(base, 'base: mi300x\ncompute: {cus: 200}\n');
    writeFileSync(top, 'base: lab-base.yaml\nmemory: {hbm: {efficiency: 0.8}}\n');
    pinFiles({ [base]: { text: 'base: mi300x\ncompute: {cus: 100}\n', digest: 'pinned-base' }, [top]: { text: 'base: lab-base.yaml\nmemory: {hbm: {efficiency: 0.5}}\n', digest: 'pinned-top' } });
    const pinned = loadHardware(top);
    expect(pinned.compute.cus).toBe(100);
    expect(pinned.memory.hbm.efficiency).toBe(0.5);
    pinFiles(undefined);
    const disk = loadHardware(top);
    expect(disk.compute.cus).toBe(200);
    expect(disk.memory.hbm.efficiency).toBe(0.8);
  });

  it('a sweep pins what it digested, and its points run on that even after the file changed on disk', async () => {
    const part = join(dir, 'part.yaml');
    writeFileSync(part, 'base: mi300x\ncompute: {cus: 304}\n');
    const file = join(dir, 'sweep.yaml');
    writeFileSync(file, 'name: s\nbase:\n  kind: kernels\n  hw: part.yaml\n  figure: false\n  points:\n    - { op: gemm, m: 4096, n: 4096, k: 4096, dtype: bf16 }\naxes:\n  points.0.m: [4096, 8192]\n');
    const spec = loadSweep(file);
    expect(Object.keys(spec.pins ?? {})).toEqual([part]);
    expect(spec.pins![part]!.text).toBe('base: mi300x\ncompute: {cus: 304}\n');
    expect(spec.pins![part]!.digest).toBe(spec.files!['part.yaml']);
    const p = spec.points[0]!;
    // As a sweep's lane runs it: under the sweep's pins (run-sweep.ts pins this thread, and the pool
    // hands them to its workers), or under none.
    const run = async (pins: typeof spec.pins) => {
      pinFiles(pins);
      const outcome = await runSweepPointTask({ raw: p.raw, file: spec.file, baseDir: spec.baseDir, point: p.index, point_id: p.id, tags: p.tags });
      pinFiles(undefined);
      if (!outcome.ok) throw new Error(outcome.message);
      return decodeLines(outcome.table.csv);
    };
    const before = await run(spec.pins);
    // Half the CUs on disk: a point that read the disk would be slower.
    writeFileSync(part, 'base: mi300x\ncompute: {cus: 152}  # edited mid-sweep\n');
    expect(await run(spec.pins)).toBe(before);
    // Without pins (a point of another run), the edit shows.
    expect(await run(undefined)).not.toBe(before);
  });

  it('request traces are pinned too: a serve sweep keeps the trace it digested, and the loader reads the pinned text', () => {
    const trace = join(dir, 'requests.csv');
    const rows = 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n';
    writeFileSync(trace, rows);
    const file = join(dir, 'serve-sweep.yaml');
    writeFileSync(file, 'name: s\nbase:\n  kind: serve\n  models: [llama2-7b]\n  gpus: 1\n  tp: 1\n  workloads: [lmsys]\n  policies: [{ name: c, policy: continuous }]\n  compare: c\n  baselines: []\n  figures: false\n  seed: 1\n  serve: { trace: requests.csv }\naxes:\n  seed: [1, 2]\n');
    const spec = loadSweep(file);
    expect(spec.pins![trace]!.text).toBe(rows);
    expect(spec.pins![trace]!.digest).toBe(spec.files!['requests.csv']);
    // The disk changes; the pinned trace is what a point's loader reads.
    writeFileSync(trace, 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,9,9\n');
    pinFiles(spec.pins);
    expect(Array.from(loadRequestFile(trace).promptTokens)).toEqual([374, 396]);
    pinFiles(undefined);
    expect(Array.from(loadRequestFile(trace).promptTokens)).toEqual([9]);
  });

  it("a worker's lane reads the files its pool's starting thread had pinned; silica run pins an experiment's inputs", async () => {
    const part = join(dir, 'lane-part.yaml');
    writeFileSync(part, 'base: mi300x\ncompute: {cus: 304}\n');
    const pins = inputPins({ kind: 'kernels', hw: 'lane-part.yaml', points: [] }, dir);
    expect(Object.keys(pins ?? {})).toEqual([part]);
    writeFileSync(part, 'base: mi300x\ncompute: {cus: 96}\n');
    // The lane a worker runs (pool.ts's laneWorker), in this thread: what it sees while it runs.
    const seen: number[] = [];
    const lane = laneWorker(async (hw: string) => {
      seen.push(loadHardware(hw).compute.cus);
      return 0;
    });
    const { port1, port2 } = new MessageChannel();
    await lane({ tasks: [part], claim: new Int32Array(new SharedArrayBuffer(4)), port: port2, pins });
    await lane({ tasks: [part], claim: new Int32Array(new SharedArrayBuffer(4)), port: port2 });
    port1.close();
    expect(seen).toEqual([304, 96]);
  });
});
