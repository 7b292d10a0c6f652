import type { CommandModule } from 'yargs';
import { SilicaError, withErrorContext } from '../../core/errors.js';
import { checkOutputPath } from '../../core/io.js';
import { AGGREGATES, chartSpec, firstNonNumericRow, isDrawn, isNumericColumn, MARKS, type Aggregate, type Mark } from '../../plot/charts.js';
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
      .option('aggregate', { type: 'string', describe: `one mark per x, colour and panel from all their rows: ${AGGREGATES.join('|')} of y (default: a mark per row)` })
      .option('filter', { type: 'string', array: true, describe: 'COL=VALUE: plot only the rows where COL is VALUE (repeat to narrow further)' })
      .option('log-y', { type: 'boolean', default: false, describe: 'logarithmic y axis' })
      .option('y-zero', { type: 'boolean', default: true, describe: 'a linear y axis starts at zero; --no-y-zero fits it to the data (not for bars)' })
      .option('title', { type: 'string', describe: 'figure title' })
      .option('out', { type: 'string', demandOption: true, describe: 'output SVG path' })
      .option('json', { type: 'boolean', default: false, describe: 'print what was written as JSON' }),
  handler: async (argv) => {
    const args = argv as unknown as { csv: string; x: string; y: string; color?: string; facet?: string; mark: string; aggregate?: string; filter?: string[]; logY: boolean; yZero: boolean; title?: string; out: string; json: boolean };
    if (!(MARKS as readonly string[]).includes(args.mark)) throw new SilicaError(`--mark: expected one of ${MARKS.join(', ')}, got "${args.mark}"`);
    // A bar's length is its value: cut from an axis that starts above zero it would mislead.
    if (!args.yZero && args.mark === 'bar') throw new SilicaError('--no-y-zero: not with --mark bar (a bar\'s length is its value); use --mark point or line');
    if (args.aggregate !== undefined && !(AGGREGATES as readonly string[]).includes(args.aggregate)) {
      throw new SilicaError(`--aggregate: expected one of ${AGGREGATES.join(', ')}, got "${args.aggregate}"`);
    }
    const filters = (args.filter ?? []).map(parseFilter);
    checkOutputPath(args.out, '--out');
    if (!args.out.endsWith('.svg')) throw new SilicaError(`--out: expected a path ending in .svg, got "${args.out}"`);
    const table = readCsvFile(args.csv, [args.x, args.y, args.color, args.facet, ...filters.map((f) => f.column)].filter((c): c is string => c !== undefined));
    const named: Array<readonly [string, string | undefined]> = [['--x', args.x], ['--y', args.y], ['--color', args.color], ['--facet', args.facet], ...filters.map((f) => [`--filter ${f.text}`, f.column] as const)];
    for (const [flag, col] of named) {
      if (col !== undefined && !table.columns.includes(col)) {
        throw new SilicaError(`${args.csv}: ${flag}: expected one of the columns (${table.columns.join(', ')}), got "${col}"`);
      }
    }
    if (table.rows.length === 0) throw new SilicaError(`${args.csv}: expected at least one row to plot, got only a header`);
    const rows = table.rows.filter((row) => filters.every((f) => cellIs(row[f.column], f.value)));
    if (rows.length === 0) throw noRowLeft(args.csv, table.rows, filters);
    const notNumber = firstNonNumericRow(rows, args.y);
    if (notNumber >= 0 || !isNumericColumn(rows, args.y)) {
      const what = notNumber >= 0 ? `, got ${JSON.stringify(rows[notNumber]![args.y])} (row ${table.rows.indexOf(rows[notNumber]!) + 1})` : ', got only empty cells';
      throw new SilicaError(`${args.csv}: --y: expected a numeric column, "${args.y}"${what}`);
    }
    const aggregate = args.aggregate as Aggregate | undefined;
    // The chart's own checks (--log-y with no positive value) are about this file's column; they run
    // before the notes below, so that a refused figure is one line.
    const spec = await withErrorContext(args.csv, async () => chartSpec({ rows, x: args.x, y: args.y, color: args.color, facet: args.facet, mark: args.mark as Mark, aggregate, logY: args.logY, yZero: args.yZero, title: args.title }));
    if (!aggregate && rows.length > MANY_MARKS) {
      process.stderr.write(`silica plot: note: one mark per row draws ${rows.length} marks; --aggregate (e.g. mean) draws one per x and colour, --filter COL=VALUE plots fewer rows\n`);
    }
    // Rows the figure has no place for are left out: say how many rather than draw fewer marks unannounced.
    const noY = rows.filter((r) => typeof r[args.y] !== 'number').length;
    if (noY > 0) process.stderr.write(`silica plot: note: ${noY} of ${rows.length} rows have no ${args.y} (an empty cell: the column does not apply to them) and are left out\n`);
    const noX = rows.filter((r) => typeof r[args.y] === 'number' && (r[args.x] === '' || r[args.x] === undefined)).length;
    if (noX > 0) process.stderr.write(`silica plot: note: ${noX} of ${rows.length} rows have no ${args.x} (an empty cell) and are left out\n`);
    if (args.logY) {
      const notPositive = rows.filter((r) => typeof r[args.y] === 'number' && (r[args.y] as number) <= 0).length;
      if (notPositive > 0) process.stderr.write(`silica plot: note: --log-y leaves out ${notPositive} of ${rows.length} rows, whose ${args.y} is zero or negative\n`);
    }
    const drawn = rows.filter((r) => isDrawn(r, args.x, args.y, args.logY)).length;
    await writeSvg(args.out, spec);
    if (args.json) {
      printJson({ out: args.out, rows: drawn, x: args.x, y: args.y, mark: args.mark, aggregate: aggregate ?? null, filter: filters.map((f) => f.text), color: args.color ?? null, facet: args.facet ?? null, log_y: args.logY });
    } else {
      process.stdout.write(`silica plot: ${args.out} (${args.mark} of ${aggregate ? `${aggregate} ` : ''}${args.y} vs ${args.x}, ${drawn} rows)\n`);
    }
  },
};

/** More marks than a figure can show apart (and a slow, large SVG). */
const MANY_MARKS = 20_000;

interface RowFilter {
  text: string;
  column: string;
  value: string;
}

function parseFilter(text: string): RowFilter {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new SilicaError(`--filter: expected COL=VALUE (e.g. variant=nominal), got "${text}"`);
  return { text, column: text.slice(0, eq), value: text.slice(eq + 1) };
}

/** The first filter that leaves no row, with what its column holds there: a misspelt value shows. */
function noRowLeft(csv: string, all: ReadonlyArray<Record<string, string | number | undefined>>, filters: readonly RowFilter[]): SilicaError {
  let left = all;
  for (const [i, f] of filters.entries()) {
    const next = left.filter((row) => cellIs(row[f.column], f.value));
    if (next.length > 0) {
      left = next;
      continue;
    }
    const values = [...new Set(left.map((row) => String(row[f.column] ?? '')))];
    const shown = values.length > 8 ? `${values.slice(0, 8).join(', ')}, ... (${values.length} values)` : values.join(', ');
    return new SilicaError(`${csv}: --filter: no row has ${f.text}${i > 0 ? ` among those the filters before it keep` : ''}; ${f.column} holds ${shown}`);
  }
  return new SilicaError(`${csv}: --filter: no row has ${filters.map((f) => f.text).join(' and ')}`);
}

/** A cell equals a filter's value as written, or as a number (`--filter m=1e3` matches 1000). */
function cellIs(cell: string | number | undefined, value: string): boolean {
  if (cell === undefined) return false;
  if (String(cell) === value) return true;
  return typeof cell === 'number' && value.trim() !== '' && Number(value) === cell;
}
