import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { join } from 'node:path';
import { flagAsField, SilicaError } from '../core/errors.js';
import { batchedWrites, makeDirectory, writeFileAtomicFromAsync } from '../core/io.js';
import { withPinnedFiles } from '../core/pinned-files.js';
import { rethrowTaskFailure } from './pool.js';
import type { SweepPointTask } from './point-task.js';
import { makeProgress } from './progress.js';
import { startSweepPool, type SweepPool } from './sweep-lanes.js';
import { resolvedSweepWritten, resolvedSweepYaml } from './resolved-yaml.js';
import { shardPoints } from './shard.js';
import { pointLabel, type SweepPoint, type SweepSpec } from './spec.js';
import { SWEEP_FILES, readCompleted, type CompletedPoint, type LedgerEntry } from './completed.js';
import { EarlierRun, SweepWriter, checkSweepFolderEntries, lockSweepFolder, removeLeftoverTemporaries, writeSweepSummary, type SweepSummary } from './store.js';

/**
 * Runs a sweep (or one shard of it) into an output folder: every point independent and
 * deterministic, any number in parallel, each finished point appended whole (see store.ts). At
 * the end the tables are rewritten sorted by point index, so the files do not depend on --jobs or
 * on the order workers finished in, and shards merge into exactly the unsharded result.
 */
export interface SweepRunOptions {
  out: string;
  jobs: number;
  resume: boolean;
  shard?: { index: number; count: number };
  /** No progress output. */
  quiet?: boolean;
  /** Workers started early (before the sweep was loaded); closed by runSweep. Default: started here. */
  pool?: SweepPool;
}

export interface SweepRunReport {
  dir: string;
  selected: number;
  skipped: number;
  ran: number;
  seconds: number;
  summary: SweepSummary;
}

export function sweepHeader(spec: SweepSpec, shard?: { index: number; count: number }) {
  return { sweep: spec.name, source: spec.file, points_total: spec.total, ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}) };
}

/**
 * Writes config.resolved.yaml (atomically) as it renders, yielding to the event loop every few
 * milliseconds, in writes of about a MiB: the text is never held whole (a sweep of a few hundred
 * thousand points would outgrow the longest string V8 makes, 512 MiB, and hold hundreds of MB besides).
 */
async function writeResolvedSweep(path: string, pieces: Iterable<string>): Promise<void> {
  await writeFileAtomicFromAsync(path, async (write) => {
    const out = batchedWrites(write);
    let since = performance.now();
    for (const piece of pieces) {
      out.add(piece);
      if (performance.now() - since > YIELD_EVERY_MS) {
        await yieldToEvents();
        since = performance.now();
      }
    }
    out.end();
  });
}

const YIELD_EVERY_MS = 5;

export async function runSweep(spec: SweepSpec, o: SweepRunOptions): Promise<SweepRunReport> {
  const pool = o.pool ?? startSweepPool(o.jobs);
  try {
    return await runWithPool(spec, o, pool);
  } finally {
    await pool.close();
  }
}

async function runWithPool(spec: SweepSpec, o: SweepRunOptions, pool: SweepPool): Promise<SweepRunReport> {
  const t0 = performance.now();
  const selected = shardPoints(spec.points, o.shard);
  const byId = new Map(selected.map((p) => [p.id, p]));
  makeDirectory(o.out, `--out ${o.out}`);
  checkSweepFolderEntries(o.out);
  const unlock = lockSweepFolder(o.out);
  try {
    return await runLocked(spec, o, pool, selected, byId, t0);
  } finally {
    unlock();
  }
}

async function runLocked(spec: SweepSpec, o: SweepRunOptions, pool: SweepPool, selected: SweepPoint[], byId: Map<string, SweepPoint>, t0: number): Promise<SweepRunReport> {
  removeLeftoverTemporaries(o.out);

  let done: CompletedPoint[] = [];
  if (o.resume) {
    done = readCompleted(o.out).points;
    const foreign = done.find((p) => !byId.has(p.entry.point_id));
    if (foreign) {
      throw new SilicaError(
        `${o.out}: --resume: the folder holds point ${foreign.entry.point} (id ${foreign.entry.point_id}) that is not in ${spec.file}${o.shard ? ` shard ${o.shard.index}/${o.shard.count}` : ''}; the sweep, or a file its points read, changed${spec.files ? ' (a folder written before silica recorded file digests counts as changed)' : ''}: use a new --out`,
      );
    }
    // The same point under another number: values were inserted into (or removed from) an axis,
    // and the folder's points would keep their old numbers beside new points given the same ones.
    const moved = done.find((p) => byId.get(p.entry.point_id)!.index !== p.entry.point);
    if (moved) {
      throw new SilicaError(
        `${o.out}: --resume: the folder holds point ${moved.entry.point} (id ${moved.entry.point_id}) that ${spec.file} now numbers ${byId.get(moved.entry.point_id)!.index}; the sweep's axes, variants or filters changed: use a new --out`,
      );
    }
  }
  // A resume that finds no complete point is a fresh run too: a failure leaves the folder as it was.
  const earlier = o.resume && done.length > 0 ? undefined : EarlierRun.setAside(o.out);
  try {
    return await runPending(spec, o, pool, selected, done, earlier, t0);
  } catch (err) {
    // Where no point of this run finished, the folder goes back to what it held before.
    earlier?.restore();
    throw err;
  }
}

/**
 * Runs the selected points not yet done and writes them (`done`: those --resume found complete).
 * A fresh run's `earlier` files are dropped as soon as it has a finished point of its own.
 */
async function runPending(spec: SweepSpec, o: SweepRunOptions, pool: SweepPool, selected: SweepPoint[], done: CompletedPoint[], earlier: EarlierRun | undefined, t0: number): Promise<SweepRunReport> {
  // Compaction drops rows of half-finished points and a truncated last line before anything is appended.
  const writer = new SweepWriter(o.out, done);

  const doneIds = new Set(done.map((p) => p.entry.point_id));
  const pending = selected.filter((p) => !doneIds.has(p.id));
  const progress = makeProgress({ total: selected.length, start: done.length, unit: 'points', quiet: o.quiet });
  let finished = done.length;

  const configPath = join(o.out, SWEEP_FILES.config);
  // A resumed folder usually holds the file already (written before its first point ran).
  const writeConfig = () => (o.resume && resolvedSweepWritten(configPath, spec, selected, o.shard) ? undefined : writeResolvedSweep(configPath, resolvedSweepYaml(spec, selected, o.shard)));
  const items = pending.map((p, order) => ({
    point: p,
    order,
    task: { raw: p.raw, file: spec.file, baseDir: spec.baseDir, point: p.index, point_id: p.id, tags: p.tags } satisfies SweepPointTask,
  }));
  // Points are appended in sweep order, whatever order the lanes finish them in: the files stay
  // sorted as they grow, and a point finished early waits here (a few at most) for its elders.
  const finishedEarly = new Map<number, () => void>();
  let nextToWrite = 0;
  try {
    // Every lane reads the files as the sweep digested them (this thread's pins go to the workers);
    // this thread runs points too, and reads the disk again afterwards.
    await withPinnedFiles(spec.pins, () => pool.run(items, (item, outcome) => {
      const p = item.point;
      if (!outcome.ok) {
        const where = `${spec.file}: ${labelOf(p)}: `;
        // As `silica run` does: a study's message naming a flag (--prefill-gpus) names the file's field.
        rethrowTaskFailure({ ...outcome, message: outcome.message.startsWith(spec.file) ? outcome.message : where + flagAsField(outcome.message) });
      }
      const entry: LedgerEntry = { point: p.index, point_id: p.id, rows: outcome.table.rows, tags: p.tags, ...(outcome.summary ? { summary: outcome.summary } : {}) };
      finishedEarly.set(item.order, () => {
        writer.append(entry, outcome.table);
        earlier?.drop();
      });
      for (let write = finishedEarly.get(nextToWrite); write; write = finishedEarly.get(nextToWrite)) {
        write();
        finishedEarly.delete(nextToWrite++);
      }
      progress.update(++finished, labelOf(p));
    }, writeConfig));
  } finally {
    progress.stop();
    writer.close();
  }

  writer.flush();
  earlier?.drop();
  const complete = writer.points();
  const summary = writeSweepSummary(o.out, sweepHeader(spec, o.shard), complete);
  return { dir: o.out, selected: selected.length, skipped: done.length, ran: pending.length, seconds: (performance.now() - t0) / 1000, summary };
}

const labelOf = (p: SweepPoint): string => pointLabel(p.index, p.tags);
