import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SilicaError } from '../../core/errors.js';
import { firstRepeat } from '../../core/repeats.js';

/**
 * Finding the files of a Chakra trace: one per rank, `<prefix>.<rank>.et` (optionally `.gz`),
 * given either the prefix or any one rank's file; and the communicator groups sidecar that
 * resolves `pg_name` (ASTRA-sim's comm_group.json: {"<group id>": [ranks...]}).
 */
const RANK_FILE = /^(.*)\.(\d+)\.et(\.gz)?$/;

export function isChakraPath(path: string): boolean {
  if (RANK_FILE.test(path) || /\.et(\.gz)?$/.test(path)) return true;
  return chakraRankFiles(path, false) !== undefined;
}

/** The rank files of the trace named by `path`, index = rank. */
export function chakraRankFiles(path: string, required = true): { prefix: string; files: string[] } | undefined {
  const m = RANK_FILE.exec(path);
  const prefix = m ? m[1]! : path.replace(/\.et(\.gz)?$/, '');
  const dir = dirname(prefix);
  const base = basename(prefix);
  let entries: string[] = [];
  try {
    entries = readdirSync(dir || '.');
  } catch {
    if (!required) return undefined;
    throw new SilicaError(`${path}: cannot read directory ${dir || '.'}`, { file: path });
  }
  const byRank = new Map<number, string>();
  for (const e of entries) {
    if (!e.startsWith(base + '.')) continue;
    const r = RANK_FILE.exec(e);
    if (!r || r[1] !== base) continue;
    const rank = Number(r[2]);
    if (byRank.has(rank)) throw new SilicaError(`${join(dir, e)}: rank ${rank} has two files (${byRank.get(rank)} and ${e}); keep one`, { file: path });
    byRank.set(rank, e);
  }
  if (byRank.size === 0) {
    // A lone .et without a rank number is a one-rank trace.
    if (!m && /\.et(\.gz)?$/.test(path) && existsSync(path)) return { prefix, files: [path] };
    if (!required) return undefined;
    throw new SilicaError(`${path}: no Chakra ET found (expected files ${prefix}.<rank>.et)`, { file: path });
  }
  const files: string[] = [];
  for (let r = 0; r < byRank.size; r++) {
    const f = byRank.get(r);
    if (!f) throw new SilicaError(`${prefix}: Chakra ET of rank ${r} is missing (found ${byRank.size} rank files; expected ${base}.0.et to ${base}.${byRank.size - 1}.et)`, { file: path });
    files.push(join(dir, f));
  }
  // A rank file named on the command line is one of them: any rank file stands for its trace, but
  // a rank the trace does not have is a typo, not a request for the others.
  if (m && !existsSync(path)) throw new SilicaError(`${path}: no such file (the trace ${prefix} has ranks 0 to ${files.length - 1})`, { file: path });
  return { prefix, files };
}

export type CommGroups = Map<number, number[]>;

/** Sidecar locations tried in order when no explicit file is given. */
export function findCommGroupsFile(prefix: string): string | undefined {
  const dir = dirname(prefix);
  const candidates = [`${prefix}.comm_group.json`, join(dir, 'comm_group.json'), join(dir, '..', 'inputs', 'comm_group.json')];
  return candidates.find((c) => existsSync(c));
}

export function readCommGroups(file: string): CommGroups {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SilicaError(`${file}: expected JSON {"<group id>": [ranks]}, cannot parse (${err instanceof Error ? err.message : String(err)})`, { file });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new SilicaError(`${file}: expected a JSON object {"<group id>": [ranks]}`, { file });
  const groups: CommGroups = new Map();
  for (const [key, ranks] of Object.entries(raw as Record<string, unknown>)) {
    const id = Number(key);
    if (!Number.isInteger(id)) throw new SilicaError(`${file}: group "${key}": expected a whole-number group id`, { file, field: key });
    if (!Array.isArray(ranks) || ranks.length === 0 || !ranks.every((r) => Number.isInteger(r) && r >= 0)) {
      throw new SilicaError(`${file}: group "${key}": expected a non-empty list of ranks`, { file, field: key });
    }
    const sorted = [...(ranks as number[])].sort((a, b) => a - b);
    const twice = firstRepeat(sorted);
    if (twice) throw new SilicaError(`${file}: group "${key}": expected distinct ranks, got rank ${sorted[twice.again]} twice`, { file, field: key });
    groups.set(id, sorted);
  }
  return groups;
}

/**
 * pg_name as ASTRA-sim reads it: std::stoi, i.e. the leading integer ("1.0" -> 1, "5" -> 5).
 * Returns undefined when the name does not start with an integer.
 */
export function pgNameToGroupId(pgName: string): number | undefined {
  const m = /^\s*([+-]?\d+)/.exec(pgName);
  return m ? Number(m[1]) : undefined;
}
