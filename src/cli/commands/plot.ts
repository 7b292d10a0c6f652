import type { CommandModule } from 'yargs';
import { SilicaError } from '../../core/errors.js';
import { checkOutputPath } from '../../core/io.js';
import { chartSpec, MARKS, type Mark } from '../../plot/charts.js';
import { readCsvFile } from '../../plot/csv.js';
import { writeSvg } from '../../plot/render.js';
import { printJson } from '../common.js';

/** `silica plot DIR/results.csv --x COL --y COL ... --out FIG.svg`: Vega-Lite rendered headless to SVG. */
export const plotCommand: CommandModule = {
  command: 'plot <csv>',
  describe: 'plot columns of a results CSV to an SVG figure (Vega-Lite, rendered headless)',
  builder: (y) =>
    y
      .positional('csv', { type: 'string', describe: 'a tidy CSV, e.g. DIR/results.csv' })
      .option('x', { type: 'string', demandOption: true, describe: 'column on the x axis' })
      .option('y', { type: 'string', demandOption: true, describe: 'numeric column on the y axis' })
      .option('color', { type: 'string', describe: 'column whose values become coloured series' })
      .option('facet', { type: 'string', describe: 'column whose values become separate panels' })
      .option('mark', { type: 'string', default: 'point', describe: MARKS.join('|') })
      .option('log-y', { type: 'boolean', default: false, describe: 'logarithmic y axis' })
      .option('title', { type: 'string', describe: 'figure title' })
      .option('out', { type: 'string', demandOption: true, describe: 'output SVG path' })
      .option('json', { type: 'boolean', default: false, describe: 'print what was written as JSON' }),
  handler: async (argv) => {
    const args = argv as unknown as { csv: string; x: string; y: string; color?: string; facet?: string; mark: string; logY: boolean; title?: string; out: string; json: boolean };
    if (!(MARKS as readonly string[]).includes(args.mark)) throw new SilicaError(`--mark: expected one of ${MARKS.join(', ')}, got "${args.mark}"`);
    checkOutputPath(args.out, '--out');
    if (!args.out.endsWith('.svg')) throw new SilicaError(`--out: expected a path ending in .svg, got "${args.out}"`);
    const table = readCsvFile(args.csv);
    for (const [flag, col] of [['--x', args.x], ['--y', args.y], ['--color', args.color], ['--facet', args.facet]] as const) {
      if (col !== undefined && !table.columns.includes(col)) {
        throw new SilicaError(`${args.csv}: ${flag}: expected one of the columns (${table.columns.join(', ')}), got "${col}"`);
      }
    }
    if (table.rows.length === 0) throw new SilicaError(`${args.csv}: expected at least one row to plot, got only a header`);
    const spec = chartSpec({ rows: table.rows, x: args.x, y: args.y, color: args.color, facet: args.facet, mark: args.mark as Mark, logY: args.logY, title: args.title });
    await writeSvg(args.out, spec);
    if (args.json) printJson({ out: args.out, rows: table.rows.length, x: args.x, y: args.y, mark: args.mark, color: args.color ?? null, facet: args.facet ?? null, log_y: args.logY });
    else process.stdout.write(`silica plot: ${args.out} (${args.mark} of ${args.y} vs ${args.x}, ${table.rows.length} rows)\n`);
  },
};
