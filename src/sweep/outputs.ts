import { join, relative, resolve } from 'node:path';
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
  writeFileAtomic(join(dir, 'config.resolved.yaml'), `# Resolved from ${o.source}; rerun with: silica run <this file> --out DIR\n${baseDirLine}${toYaml(plainTree(o.config))}`);
  return {
    dir,
    tables: [join(dir, 'results.csv'), join(dir, 'results.jsonl')],
    summary: join(dir, 'summary.json'),
    config: join(dir, 'config.resolved.yaml'),
    files: files.map((f) => join(dir, f)),
  };
}
