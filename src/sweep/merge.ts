import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SilicaError } from '../core/errors.js';
import { makeDirectory, samePath, writeFileAtomicFrom } from '../core/io.js';
import { countOf } from '../core/units.js';
import { parseYamlText } from '../core/yaml-config.js';
import { canonicalJson } from './canonical.js';
import { locateResolvedItems, resolvedPointYaml, resolvedSweepPieces } from './resolved-yaml.js';
import { SWEEP_FILES, bytesAt, readCompleted, readPointRows, type CompletedPoint } from './completed.js';
import { SweepWriter, requireSweepDir, writeSweepSummary, type SweepSummary } from './store.js';

/**
 * `silica merge DIR... --out DIR`: shard folders (Slurm array tasks, Kubernetes indexed pods, or
 * any split of a sweep) into one folder laid out exactly as an unsharded run writes it. Points are
 * matched by id; a point present in several inputs must have identical rows there.
 */
type SweepHeader = Record<string, unknown> & { name: string; source: string; points_total: number };

/** A shard's config.resolved.yaml: its `sweep:` section, and each point's item of `points:`. */
interface ResolvedShard {
  sweep: SweepHeader;
  items: ResolvedItem[];
}

/** An item as resolvedPointYaml writes it: its text, or where the text lies in the shard's file. */
type ResolvedItem = { point: number; point_id: string } & ({ text: string } | { file: string; start: number; end: number });

export interface MergeReport {
  dir: string;
  inputs: number;
  points: number;
  missing: number;
  summary: SweepSummary;
}

export function mergeSweepDirs(dirs: readonly string[], out: string): MergeReport {
  if (dirs.length === 0) throw new SilicaError('merge: expected at least one sweep output folder');
  // Merged into one of its inputs, a shard's folder would hold other shards' points: its task,
  // requeued with --resume, would then be refused as if the sweep had changed.
  const input = dirs.find((dir) => samePath(dir, out));
  if (input !== undefined) throw new SilicaError(`merge: --out ${out}: one of the folders to merge (${input}); expected a folder of its own, e.g. OUT/merged`);
  const byId = new Map<string, { point: CompletedPoint; dir: string }>();
  const configById = new Map<string, ResolvedItem>();
  let header: SweepHeader | undefined;
  for (const [i, dir] of dirs.entries()) {
    const twice = dirs.findIndex((other, j) => j < i && samePath(other, dir));
    if (twice >= 0) throw new SilicaError(`merge: ${dir}: the same folder as ${dirs[twice]}; expected each shard folder once`);
    requireSweepDir(dir);
    const doc = readResolved(dir);
    const { shard: _shard, ...sweep } = doc.sweep;
    if (header) checkSameSweep(dir, sweep as SweepHeader, header, dirs[0]!);
    header ??= sweep as SweepHeader;
    const own = new Map<string, number>();
    for (const item of doc.items) {
      configById.set(item.point_id, item);
      own.set(item.point_id, item.point);
    }
    const completed = readCompleted(dir);
    checkShardIntact(dir, completed);
    for (const point of completed.points) {
      // A ledger line must name a point as its folder's resolved config lists it (index and id together).
      if (own.get(point.entry.point_id) !== point.entry.point) {
        throw new SilicaError(
          `${join(dir, SWEEP_FILES.ledger)}: point ${point.entry.point} (id ${point.entry.point_id}) is not a point of ${join(dir, SWEEP_FILES.config)}; expected the folder as silica sweep wrote it`,
        );
      }
      const prior = byId.get(point.entry.point_id);
      if (prior && canonicalJson(readPointRows(prior.point)) !== canonicalJson(readPointRows(point))) {
        throw new SilicaError(`${dir}: point ${point.entry.point} (id ${point.entry.point_id}) has rows that differ from ${prior.dir}; the inputs come from different silica versions`);
      }
      if (!prior) byId.set(point.entry.point_id, { point, dir });
    }
  }
  const points = [...byId.values()].map((v) => v.point).sort((a, b) => a.entry.point - b.entry.point);
  const items = [...configById.values()].sort((a, b) => a.point - b.point);
  // One index under two ids: the base experiment changed between the shards' runs (ids hash the configs).
  const twice = items.findIndex((item, i) => i > 0 && items[i - 1]!.point === item.point);
  if (twice > 0) {
    throw new SilicaError(`merge: point ${items[twice]!.point} has two ids across the inputs (${items[twice - 1]!.point_id}, ${items[twice]!.point_id}): the shards ran different versions of the sweep, or of a file its points read; rerun them from one`);
  }
  makeDirectory(out, `--out ${out}`);
  const written = new SweepWriter(out, points).points();
  const fds = new Map<string, number>();
  try {
    for (const item of items) if ('file' in item && !fds.has(item.file)) fds.set(item.file, openSync(item.file, 'r'));
    const texts = function* () {
      for (const item of items) yield 'text' in item ? item.text : bytesAt(fds.get(item.file)!, item.start, item.end);
    };
    writeFileAtomicFrom(join(out, SWEEP_FILES.config), (write) => {
      for (const piece of resolvedSweepPieces(header!, texts())) write(piece);
    });
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
  const summary = writeSweepSummary(out, { sweep: header!.name, source: header!.source, points_total: header!.points_total }, written);
  return { dir: out, inputs: dirs.length, points: points.length, missing: header!.points_total - points.length, summary };
}

/**
 * A shard folder must be as silica sweep left it: every point its ledger records has all its rows
 * (a point's rows are appended before its ledger line), and every whole line of the ledger is an
 * entry. Only a last line cut short by a kill may be dropped; merging around anything else would
 * lose points with no more than a note that some are missing.
 */
function checkShardIntact(dir: string, { points, ledger, unreadableLines }: ReturnType<typeof readCompleted>): void {
  if (unreadableLines > 0) {
    const ledgerPath = join(dir, SWEEP_FILES.ledger);
    throw new SilicaError(`${ledgerPath}: ${countOf(unreadableLines, 'line')} that ${unreadableLines === 1 ? 'is not a ledger entry' : 'are not ledger entries'}; expected the file as silica sweep wrote it (rerun the shard into a new folder)`);
  }
  const found = new Set(points.map((p) => p.entry.point_id));
  const lost = ledger.find((e) => !found.has(e.point_id));
  if (lost) {
    throw new SilicaError(
      `${join(dir, SWEEP_FILES.results)}: point ${lost.point} (id ${lost.point_id}) is recorded in ${SWEEP_FILES.ledger}, but its rows are missing or damaged (expected ${lost.rows}); expected the folder as silica sweep wrote it (silica sweep --resume into it runs the point again)`,
    );
  }
}

/** Header keys that say where the sweep file and its base were: paths as typed, relative to each task's working directory. */
const WHERE_KEYS = new Set(['source', 'base']);

/**
 * Shards merge only when they expanded the same sweep: the same name, point count, base (by its
 * hash), axes, variants and filters (a sweep file edited between two shards' runs differs here),
 * and read the same files (a hardware YAML edited between their runs differs in `files`); not
 * where the files were (WHERE_KEYS).
 */
function checkSameSweep(dir: string, sweep: SweepHeader, expected: SweepHeader, first: string): void {
  if (expected.name !== sweep.name || expected.points_total !== sweep.points_total) {
    throw new SilicaError(`${dir}: holds sweep ${sweep.name} (${sweep.points_total} points, from ${sweep.source}), expected ${expected.name} (${expected.points_total} points, from ${expected.source}) like ${first}`);
  }
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(sweep)])].filter((k) => !WHERE_KEYS.has(k));
  const differs = keys.find((k) => canonicalJson(sweep[k]) !== canonicalJson(expected[k]));
  if (differs === 'files' && (sweep.files === undefined || expected.files === undefined)) {
    const older = sweep.files === undefined ? dir : first;
    throw new SilicaError(`${older}: written by a silica that did not record the files its sweep reads (no files: in its ${SWEEP_FILES.config}), so it cannot be checked against the other shards; rerun it`);
  }
  if (differs === 'files') {
    const files = (sweep.files ?? {}) as Record<string, string>;
    const theirs = (expected.files ?? {}) as Record<string, string>;
    const file = Object.keys({ ...files, ...theirs }).find((f) => files[f] !== theirs[f]);
    throw new SilicaError(`${dir}: read ${file} with digest ${files[file!] ?? '(none)'}, ${first} with ${theirs[file!] ?? '(none)'} (${SWEEP_FILES.config}): the file changed between the shards' runs; rerun them from one version`);
  }
  if (differs !== undefined) {
    throw new SilicaError(`${dir}: its sweep's ${differs} ${differs.endsWith('s') ? 'differ' : 'differs'} from ${first}'s (${SWEEP_FILES.config}): the sweep file changed between the shards' runs; rerun them from one version`);
  }
}

function readResolved(dir: string): ResolvedShard {
  const path = join(dir, SWEEP_FILES.config);
  if (!existsSync(path)) throw new SilicaError(`${dir}: not a sweep output folder (no ${SWEEP_FILES.config})`);
  return locateItems(path) ?? parseItems(readFileSync(path, 'utf8'), path);
}

/**
 * The shard's items located in its file (locateResolvedItems), with only the `sweep:` section
 * parsed: the merge copies each item's bytes. Parsing every point's config and rendering it again
 * took longer than merging the tables (1.7 s of YAML for the four shards of the 1024-point bench
 * sweep), and holding the files' text took most of a large merge's memory.
 */
function locateItems(path: string): ResolvedShard | undefined {
  const found = locateResolvedItems(path);
  const sweep = found && (parseYamlText(found.head, path) as { sweep?: unknown } | null)?.sweep;
  return found && isSweepHeader(sweep) ? { sweep, items: found.items.map((item) => ({ ...item, file: path })) } : undefined;
}

/** The shard's items from the whole file parsed: the layout was not the one silica sweep writes. */
function parseItems(text: string, path: string): ResolvedShard {
  const doc = parseYamlText(text, path) as { sweep?: unknown; points?: unknown } | null;
  const points = doc?.points;
  const valid = (p: unknown): p is { point: number; point_id: string; tags: Record<string, unknown>; config: unknown } =>
    !!p && typeof p === 'object' && Number.isInteger((p as { point?: unknown }).point) && typeof (p as { point_id?: unknown }).point_id === 'string';
  if (!isSweepHeader(doc?.sweep) || !Array.isArray(points) || !points.every(valid)) {
    throw new SilicaError(`${path}: expected a resolved sweep (sweep, points), written by silica sweep`);
  }
  return { sweep: doc.sweep, items: points.map((p) => ({ point: p.point, point_id: p.point_id, text: resolvedPointYaml(p) })) };
}

function isSweepHeader(v: unknown): v is SweepHeader {
  return !!v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string';
}
