import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { loadPointFile, shippedPoints } from '../../validate/points.js';
import { runValidation, type PointResult } from '../../validate/run.js';
import '../../validate/index.js';
import { makeProgress } from '../../sweep/progress.js';
import { printJson } from '../common.js';

export const validateCommand: CommandModule = {
  command: 'validate',
  describe: 'compare silica against measured hardware and published results (exit 1 if any point is out of tolerance)',
  builder: (y) =>
    y
      .option('only', { type: 'string', describe: 'run only points whose group or name matches this regular expression' })
      .option('points', { type: 'string', describe: 'a YAML file of your own points instead of the shipped set' })
      .option('hw', { type: 'string', describe: 'hardware (preset or YAML path) for every point of --points, e.g. a new part to calibrate' })
      .option('set', { type: 'string', array: true, describe: 'override a hardware field for every point (e.g. memory.hbm.efficiency=0.5)' })
      .option('json', { type: 'boolean', default: false, describe: 'print machine-readable JSON' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress output (a bar on a terminal, periodic lines otherwise)' }),
  handler: async (argv) => {
    const args = argv as unknown as { only?: string; points?: string; hw?: string; set?: string[]; json: boolean; quiet: boolean };
    // The shipped points are measurements of the parts they name: another part's simulation set
    // against them would be a comparison of two different chips (and the T3 study needs 32 GPUs).
    if (args.hw !== undefined && args.hw.trim() === '') throw new SilicaError('--hw: expected a preset name or a YAML path, got nothing');
    if (args.hw !== undefined && args.points === undefined) {
      throw new SilicaError(`--hw ${args.hw}: expected --points FILE.yaml too (your measurements of that part); the shipped points measure the parts they name (--set changes those)`);
    }
    let points = args.points ? loadPointFile(args.points) : shippedPoints();
    if (args.only) {
      let re: RegExp;
      try {
        re = new RegExp(args.only, 'i');
      } catch {
        throw new SilicaError(`--only: expected a regular expression, got "${args.only}"`);
      }
      points = points.filter((p) => re.test(p.group) || re.test(p.name));
      if (points.length === 0) throw new SilicaError(`--only: no validation point matches "${args.only}"`);
    }
    // The study-level points (the serving and T3 headlines) take most of the time: on a terminal the
    // bar's label names the point running.
    const progress = makeProgress({ total: points.length, unit: 'points', quiet: args.quiet });
    let report;
    try {
      report = await runValidation(points, {
        hwOverride: args.hw,
        overlays: args.set,
        onStart: (p, i) => progress.update(i, p.name),
        onPoint: (r, i) => progress.update(i + 1, r.name),
      });
    } finally {
      progress.stop();
    }
    if (args.json) printJson(report);
    else printReport(report.points, report.mapeByGroup);
    if (report.failed > 0) {
      process.stderr.write(`silica: validate: ${report.failed} of ${report.points.length} points outside tolerance\n`);
      process.exitCode = 1;
    }
  },
};

function printReport(points: PointResult[], mape: Record<string, number>): void {
  const rows = points.map((p) => [
    p.group,
    p.name,
    `${fmt(p.measured)} ${p.unit}`.trim(),
    fmt(p.simulated),
    `${p.error_pct >= 0 ? '+' : ''}${p.error_pct.toFixed(1)}%`,
    p.tolerance,
    p.informational ? 'info' : !p.within ? 'FAIL' : p.fitted ? 'fit' : 'ok',
  ]);
  const header = ['group', 'point', 'measured', 'simulated', 'error', 'tolerance', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(line(header) + '\n');
  for (const r of rows) process.stdout.write(line(r) + '\n');
  // Fitted points ('fit') reproduce the figure a constant was read off: counting them would make a
  // group look more predictive than it is, so the mean leaves them out and says so.
  process.stdout.write('\nmean absolute error per group (predictions: informational and fitted points left out):\n');
  for (const g of [...new Set(points.map((p) => p.group))]) {
    const fitted = points.filter((p) => p.group === g && p.fitted && !p.informational).length;
    const note = fitted ? `  (${fitted} fitted point${fitted > 1 ? 's' : ''} left out)` : '';
    const v = mape[g];
    if (v !== undefined) process.stdout.write(`  ${g.padEnd(widths[0]!)}  ${v.toFixed(1)}%${note}\n`);
    else if (fitted) process.stdout.write(`  ${g.padEnd(widths[0]!)}  -     (all ${fitted} points fitted: no prediction to score)\n`);
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3);
}
