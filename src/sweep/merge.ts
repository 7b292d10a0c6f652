import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SilicaError } from '../core/errors.js';
import { writeFileAtomic } from '../core/io.js';
import { readYamlFile } from '../core/yaml-config.js';
import { canonicalJson, readableYaml } from './canonical.js';
import { SWEEP_FILES, SweepWriter, readCompleted, readPointRows, requireSweepDir, writeSweepSummary, type CompletedPoint, type SweepSummary } from './store.js';

/**
 * `silica merge DIR... --out DIR`: shard folders (Slurm array tasks, Kubernetes indexed pods, or
 * any split of a sweep) into one folder laid out exactly as an unsharded run writes it. Points are
 * matched by id; a point present in several inputs must have identical rows there.
 */
interface ResolvedDoc {
  sweep: Record<string, unknown> & { name: string; source: string; points_total: number };
  points: Array<{ point: number; point_id: string }>;
}

export interface MergeReport {
  dir: string;
  inputs: number;
  points: number;
  missing: number;
  summary: SweepSummary;
}

export function mergeSweepDirs(dirs: readonly string[], out: string): MergeReport {
  if (dirs.length === 0) throw new SilicaError('merge: expected at least one sweep output folder');
  const byId = new Map<string, { point: CompletedPoint; dir: string }>();
  const configById = new Map<string, unknown>();
  let header: ResolvedDoc['sweep'] | undefined;
  for (const dir of dirs) {
    requireSweepDir(dir);
    const doc = readResolved(dir);
    const { shard: _shard, ...sweep } = doc.sweep;
    if (header && (header.name !== sweep.name || header.points_total !== sweep.points_total || header.source !== sweep.source)) {
      throw new SilicaError(`${dir}: holds sweep ${sweep.name} (${sweep.points_total} points, from ${sweep.source}), expected ${header.name} (${header.points_total} points, from ${header.source}) like ${dirs[0]}`);
    }
    header ??= sweep as ResolvedDoc['sweep'];
    for (const p of doc.points) configById.set(p.point_id, p);
    for (const point of readCompleted(dir).points) {
      const prior = byId.get(point.entry.point_id);
      if (prior && canonicalJson(readPointRows(prior.point)) !== canonicalJson(readPointRows(point))) {
        throw new SilicaError(`${dir}: point ${point.entry.point} (id ${point.entry.point_id}) has rows that differ from ${prior.dir}; the inputs come from different silica versions`);
      }
      if (!prior) byId.set(point.entry.point_id, { point, dir });
    }
  }
  const points = [...byId.values()].map((v) => v.point).sort((a, b) => a.entry.point - b.entry.point);
  mkdirSync(out, { recursive: true });
  const written = new SweepWriter(out, points).points();
  const resolvedPoints = [...configById.values()].sort((a, b) => (a as { point: number }).point - (b as { point: number }).point);
  writeFileAtomic(join(out, SWEEP_FILES.config), `# Resolved sweep: every point's full experiment config (rerun one with silica run).\n${readableYaml({ sweep: header, points: resolvedPoints })}`);
  const summary = writeSweepSummary(out, { sweep: header!.name, source: header!.source, points_total: header!.points_total }, written);
  return { dir: out, inputs: dirs.length, points: points.length, missing: header!.points_total - points.length, summary };
}

function readResolved(dir: string): ResolvedDoc {
  const path = join(dir, SWEEP_FILES.config);
  if (!existsSync(path)) throw new SilicaError(`${dir}: not a sweep output folder (no ${SWEEP_FILES.config})`);
  const doc = readYamlFile(path) as ResolvedDoc;
  if (!doc || typeof doc.sweep?.name !== 'string' || !Array.isArray(doc.points)) throw new SilicaError(`${path}: expected a resolved sweep (sweep, points), written by silica sweep`);
  return doc;
}
