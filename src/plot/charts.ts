import { SilicaError } from '../core/errors.js';
import type { VegaLiteSpec } from './render.js';
import { minOf } from '../core/extent.js';

/**
 * Chart specs from tidy rows: one mark (bar, line or point), x and y columns, optional colour
 * series and facet panels, optional log y. Studies build their figures with `chartSpec` and render
 * them with `renderVegaLiteSvg`; `silica plot` does the same from a CSV file.
 */
export type Mark = 'bar' | 'line' | 'point';
export const MARKS: readonly Mark[] = ['bar', 'line', 'point'];

/** How rows sharing x, colour and panel become one mark (Vega-Lite aggregates them). */
export type Aggregate = 'mean' | 'median' | 'min' | 'max' | 'sum';
export const AGGREGATES: readonly Aggregate[] = ['mean', 'median', 'min', 'max', 'sum'];

export interface ChartOptions {
  rows: ReadonlyArray<Record<string, unknown>>;
  x: string;
  y: string;
  color?: string;
  facet?: string;
  mark?: Mark;
  /** One mark per x (and colour, panel) from all its rows' y; default: one mark per row. */
  aggregate?: Aggregate;
  logY?: boolean;
  /**
   * A linear y axis from zero (default), or fitted to the data (false): speedups of 1.2-1.4 read as
   * flat from zero. Not for bars, whose length is their value.
   */
  yZero?: boolean;
  title?: string;
  /** Axis titles (default: the column names, which carry their units). */
  xTitle?: string;
  yTitle?: string;
  width?: number;
  height?: number;
  /** Facet panels per row before wrapping. */
  columns?: number;
}

/** Vega-Lite reads '.', '[' and ']' in field names as nested access; escape them. */
export function fieldRef(column: string): string {
  return column.replace(/([.[\]\\])/g, '\\$1');
}

const isEmptyCell = (v: unknown): boolean => v === '' || v === undefined || v === null;

/** The index of the first row whose cell in `column` is neither empty nor a finite number, or -1. */
export function firstNonNumericRow(rows: ReadonlyArray<Record<string, unknown>>, column: string): number {
  return rows.findIndex((r) => !isEmptyCell(r[column]) && !(typeof r[column] === 'number' && Number.isFinite(r[column])));
}

/** A column is quantitative when every non-empty cell is a finite number (and one at least is there). */
export function isNumericColumn(rows: ReadonlyArray<Record<string, unknown>>, column: string): boolean {
  return firstNonNumericRow(rows, column) < 0 && rows.some((r) => !isEmptyCell(r[column]));
}

/**
 * A row becomes a mark when it has a y (a log axis: a positive one) and an x. An empty cell means
 * the column does not apply to the row (a part without a power model has no board_power_w): drawn,
 * Vega would put an empty x at 0 on a numeric axis, a value the row never had.
 */
export function isDrawn(r: Record<string, unknown>, x: string, y: string, logY = false): boolean {
  return typeof r[y] === 'number' && (!logY || (r[y] as number) > 0) && !isEmptyCell(r[x]);
}

export function chartSpec(o: ChartOptions): VegaLiteSpec {
  const mark = o.mark ?? 'point';
  const xNumeric = isNumericColumn(o.rows, o.x);
  if (!isNumericColumn(o.rows, o.y)) throw new SilicaError(`--y: expected a numeric column, "${o.y}" has non-numeric values`);
  // Bars along a numeric x read better as categories (one bar per value), as sweeps' axes are.
  const xType = xNumeric && mark !== 'bar' ? 'quantitative' : mark === 'line' ? 'ordinal' : 'nominal';
  // Only the plotted columns go to Vega: a sweep's table has dozens, and Vega copies every datum.
  const fields = [...new Set([o.x, o.y, o.color, o.facet].filter((f): f is string => f !== undefined))];
  const values = o.rows.filter((r) => isDrawn(r, o.x, o.y, o.logY)).map((r) => Object.fromEntries(fields.map((f) => [f, r[f]])));
  if (o.logY && !o.rows.some((r) => typeof r[o.y] === 'number' && (r[o.y] as number) > 0)) throw new SilicaError(`--log-y: column "${o.y}" has no positive values to plot`);
  if (values.length === 0) throw new SilicaError(`--x: expected a value in some row that has ${o.y}, got only empty cells of "${o.x}" there`);
  const encoding: Record<string, unknown> = {
    x: { field: fieldRef(o.x), type: xType, title: o.xTitle ?? o.x, ...(xType === 'nominal' ? { sort: null } : {}), ...(xNumeric && xType === 'quantitative' ? { scale: { zero: false } } : {}) },
    y: {
      field: fieldRef(o.y),
      type: 'quantitative',
      title: o.yTitle ?? (o.aggregate ? `${o.y} (${o.aggregate})` : o.y),
      ...(o.aggregate ? { aggregate: o.aggregate } : {}),
      ...(o.logY ? { scale: logScale(values, o.y, mark) } : o.yZero === false ? { scale: { zero: false } } : {}),
    },
  };
  // Bars sit side by side (xOffset by colour), never stacked: a stacked total is not a sweep result.
  if (mark === 'bar') (encoding.y as Record<string, unknown>).stack = null;
  if (o.color) encoding.color = { field: fieldRef(o.color), type: 'nominal', title: o.color, sort: null };
  if (o.color && mark === 'bar' && sharesX(values, o.x, o.color)) encoding.xOffset = { field: fieldRef(o.color), type: 'nominal', sort: null };
  const markDef = mark === 'line' ? { type: 'line', point: true } : mark === 'point' ? { type: 'point', filled: true } : { type: 'bar' };
  const inner = { mark: markDef, encoding, width: o.width ?? 360, height: o.height ?? 240 };
  const common = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(o.title ? { title: o.title } : {}),
    data: { values },
    config: { font: 'sans-serif', axis: { labelLimit: 180 } },
  };
  if (o.facet) {
    return {
      ...common,
      facet: { field: fieldRef(o.facet), type: 'nominal', title: o.facet, sort: [...new Set(values.map((r) => r[o.facet!] as string | number))] },
      columns: o.columns ?? 3,
      spec: inner,
      resolve: { scale: { y: 'independent' } },
    } as unknown as VegaLiteSpec;
  }
  return { ...common, ...inner } as unknown as VegaLiteSpec;
}

/** Log y: bars need a baseline below the smallest value (a power of ten), or the smallest bar vanishes. */
function logScale(values: ReadonlyArray<Record<string, unknown>>, y: string, mark: Mark): Record<string, unknown> {
  if (mark !== 'bar') return { type: 'log' };
  const min = minOf(values.map((r) => r[y] as number));
  return { type: 'log', domainMin: 10 ** Math.floor(Math.log10(min) - 1e-9) };
}

/** True when some x value carries several colours, so bars must be offset rather than overlap. */
function sharesX(values: ReadonlyArray<Record<string, unknown>>, x: string, color: string): boolean {
  const seen = new Map<string, string>();
  for (const r of values) {
    const key = String(r[x]);
    const c = String(r[color]);
    if (seen.has(key) && seen.get(key) !== c) return true;
    seen.set(key, c);
  }
  return false;
}
