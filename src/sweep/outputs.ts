import { closeSync, openSync, readFileSync, readSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { roundTree, writeFileAtomic } from '../core/io.js';
import { toYaml } from '../core/yaml-config.js';
import { plainTree } from './canonical.js';
import { columnsOf, jsonlLines, tableCsv, type Row } from './results.js';

/**
 * The output folder of one experiment (`silica run`): results.csv, results.jsonl, summary.json
 * and config.resolved.yaml, each written atomically and only after the run succeeded, plus the
 * files the experiment wrote itself (figures). No timestamps: same inputs, same bytes.
 */
export interface ExperimentOutputs {
  dir: string;
  tables: string[];
  summary: string;
  config: string;
  files: string[];
}

export const RESULT_FILES = ['results.csv', 'results.jsonl', 'summary.json', 'config.resolved.yaml'] as const;

export function writeExperimentOutputs(
  dir: string,
  o: { source: string; kind: string; config: unknown; rows: Row[]; summary?: Record<string, unknown>; files?: string[]; baseDir?: string },
): ExperimentOutputs {
  const files = [...(o.files ?? [])].sort();
  writeFileAtomic(join(dir, 'results.csv'), tableCsv(o.rows));
  writeFileAtomic(join(dir, 'results.jsonl'), jsonlLines(o.rows));
  const summary = { source: o.source, kind: o.kind, rows: o.rows.length, columns: columnsOf(o.rows), summary: o.summary ?? {}, files };
  writeFileAtomic(join(dir, 'summary.json'), JSON.stringify(roundTree(summary), null, 2) + '\n');
  // Relative paths in the config resolve against the original file's folder: base_dir names it
  // from here (experiment.ts), so the file reruns from the output folder as the original ran.
  const fromHere = o.baseDir === undefined ? '' : relative(resolve(dir), resolve(o.baseDir));
  const baseDirLine = fromHere === '' ? '' : `base_dir: ${toYaml(fromHere).trimEnd()}\n`;
  writeFileAtomic(join(dir, 'config.resolved.yaml'), `${RUN_CONFIG_HEAD}${o.source}; rerun with: silica run <this file> --out DIR\n${baseDirLine}${toYaml(plainTree(o.config))}`);
  return {
    dir,
    tables: [join(dir, 'results.csv'), join(dir, 'results.jsonl')],
    summary: join(dir, 'summary.json'),
    config: join(dir, 'config.resolved.yaml'),
    files: files.map((f) => join(dir, f)),
  };
}

/**
 * Removes the files an earlier run wrote into `dir` beside its tables (figures, a study's own
 * tables), as its summary.json listed them, where this run did not write them again: a folder
 * never mixes two runs' outputs (a figure turned off would otherwise stay beside the new tables).
 * Only names listed there and inside the folder count; anything else in it is the user's.
 * `earlier` is read before the run (readEarlierFiles), `now` is what it wrote.
 */
export function removeEarlierFiles(dir: string, earlier: readonly string[], now: readonly string[]): void {
  const kept = new Set(now);
  const gone = earlier.filter((name) => !kept.has(name));
  for (const name of gone) rmSync(join(dir, name), { force: true });
  // A sub-experiment's folder that held only those files goes too (a suite that dropped one).
  const folders = new Set(gone.map((name) => dirname(name)).filter((d) => d !== '.'));
  for (const folder of [...folders].sort().reverse()) {
    try {
      rmdirSync(join(dir, folder));
    } catch {
      // Not empty: it holds this run's files, or the user's.
    }
  }
}

/** The files listed by a run's summary.json in `dir` (none where there is no readable one). */
export function readEarlierFiles(dir: string): string[] {
  let files: unknown;
  try {
    files = (JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { files?: unknown }).files;
  } catch {
    return [];
  }
  if (!Array.isArray(files)) return [];
  const inside = resolve(dir) + sep;
  return files.filter((f): f is string => typeof f === 'string' && !(RESULT_FILES as readonly string[]).includes(f) && resolve(dir, f).startsWith(inside));
}

/** How a run's config.resolved.yaml begins (a sweep's says `# Resolved sweep`). */
const RUN_CONFIG_HEAD = '# Resolved from ';

/**
 * True where `dir` holds a `silica run`'s outputs: a sweep or a merge written there would leave
 * the run's figures and its own tables beside the sweep's, one folder describing two things (as
 * `silica run` refuses a sweep's folder).
 */
export function isRunDir(dir: string): boolean {
  let fd: number;
  try {
    fd = openSync(join(dir, 'config.resolved.yaml'), 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(RUN_CONFIG_HEAD.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.toString('utf8') === RUN_CONFIG_HEAD;
  } finally {
    closeSync(fd);
  }
}
