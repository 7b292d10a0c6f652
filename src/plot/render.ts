import type { View } from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { SilicaError } from '../core/errors.js';
import { writeFileAtomic } from '../core/io.js';

/**
 * Headless Vega-Lite → SVG. Vega's SVG renderer needs no browser and no canvas: without
 * node-canvas it estimates text widths, which keeps the output identical on every machine.
 * Every silica figure (`silica plot`, the studies' own figures) goes through `renderVegaLiteSvg`.
 * vega and vega-lite are imported on first use: they take most of a second to load, and every CLI
 * command and sweep worker imports this module through the studies, most without drawing.
 */
export type VegaLiteSpec = TopLevelSpec;

export async function renderVegaLiteSvg(spec: VegaLiteSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  let view: View;
  try {
    const compiled = vegaLite.compile(spec).spec;
    view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  } catch (err) {
    throw new SilicaError(`figure: cannot compile the Vega-Lite spec (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    const svg = await view.toSVG();
    return normaliseIds(svg) + (svg.endsWith('\n') ? '' : '\n');
  } finally {
    view.finalize();
  }
}

/**
 * Vega numbers clip paths and gradients from a process-wide counter, so the same figure would
 * differ by which figures the process drew before it. Renumber per document for stable bytes.
 */
function normaliseIds(svg: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/id="([^"]+)"/g)) if (!ids.has(m[1]!)) ids.set(m[1]!, `silica-id${ids.size + 1}`);
  if (ids.size === 0) return svg;
  return svg.replace(/(id="|url\(#|href="#)([^")]+)/g, (whole, prefix: string, id: string) => (ids.has(id) ? prefix + ids.get(id)! : whole));
}

export async function writeSvg(path: string, spec: VegaLiteSpec): Promise<void> {
  writeFileAtomic(path, await renderVegaLiteSvg(spec));
}
