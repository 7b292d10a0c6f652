import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ROOT } from '../helpers/cli.js';

export const FIXTURES = join(ROOT, 'test', 'sweep', 'fixtures');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `silica-${prefix}-`));
}

export function read(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Non-empty lines of results.jsonl, parsed. */
export function jsonlRows(dir: string): Array<Record<string, unknown>> {
  return read(join(dir, 'results.jsonl'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Sorted CSV lines (header first), for comparisons "identical after sorting". */
export function sortedCsv(path: string): string[] {
  const [header, ...rows] = read(path).trimEnd().split('\n');
  return [header!, ...rows.sort()];
}

/**
 * Parses an SVG written by silica and counts what a reader sees: the root must be <svg>, axes are
 * groups with role-axis, marks are the graphics symbols (bars, points, lines) inside role-mark groups.
 */
export function svgInfo(svg: string): { valid: boolean; root: string | undefined; axes: number; marks: number; markKinds: Set<string> } {
  const valid = XMLValidator.validate(svg) === true;
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', preserveOrder: true }).parse(svg) as unknown[];
  let axes = 0;
  let marks = 0;
  const markKinds = new Set<string>();
  let root: string | undefined;
  const walk = (nodes: unknown[], inMarks: boolean) => {
    for (const node of nodes) {
      const n = node as Record<string, unknown>;
      const tag = Object.keys(n).find((k) => k !== ':@');
      if (!tag) continue;
      root ??= tag;
      const attrs = (n[':@'] ?? {}) as Record<string, string>;
      const classes = (attrs['@class'] ?? '').split(/\s+/);
      if (tag === 'g' && classes.includes('role-axis')) axes++;
      if (inMarks && attrs['@role'] === 'graphics-symbol') {
        marks++;
        markKinds.add(attrs['@aria-roledescription'] ?? tag);
      }
      if (Array.isArray(n[tag])) walk(n[tag] as unknown[], inMarks || (tag === 'g' && classes.includes('role-mark')));
    }
  };
  walk(doc, false);
  return { valid, root, axes, marks, markKinds };
}
