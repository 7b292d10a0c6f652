import { statSync } from 'node:fs';
import { boundedMemo } from '../core/bounded-memo.js';
import { readableYaml } from './canonical.js';
import { scanLines } from './results.js';
import { resolvedConfigOf, type SweepPoint, type SweepSpec } from './spec.js';

/**
 * The resolved sweep, `config.resolved.yaml`: how it expands and every selected point's full
 * config, as pieces of text: the header, then one piece per point. A big sweep's file takes a
 * second or so to render, on the thread that also writes the workers' finished points, so it
 * renders piece by piece and lets those in between (writeResolvedSweep, run-sweep.ts): they reach the
 * tables and the ledger (what --resume keeps) and move the progress bar meanwhile.
 */
export function resolvedSweepYaml(spec: SweepSpec, points: readonly SweepPoint[], shard?: { index: number; count: number }): Generator<string> {
  // Each item rendered only when its piece is asked for.
  const items = function* () {
    for (const p of points) yield resolvedPointYaml({ point: p.index, point_id: p.id, tags: p.tags, config: resolvedConfigOf(spec, p) });
  };
  return resolvedSweepPieces(resolvedSweepHeader(spec, shard), items());
}

const RESOLVED_SWEEP_COMMENT = `# Resolved sweep: every point's full experiment config (rerun one with silica run).\n`;

/**
 * Whether `path` already holds what resolvedSweepYaml writes for these points: the same header,
 * then these points' items in order, by index and id. An id is the hash of the point's resolved
 * config and tags, which are the rest of its item, so --resume keeps the file instead of rendering
 * every point again (a minute for 700,000 points).
 */
export function resolvedSweepWritten(path: string, spec: SweepSpec, points: readonly SweepPoint[], shard?: { index: number; count: number }): boolean {
  if (points.length === 0) return false;
  const found = locateResolvedItems(path);
  if (!found || found.items.length !== points.length) return false;
  if (found.head !== `${RESOLVED_SWEEP_COMMENT}${readableYaml({ sweep: resolvedSweepHeader(spec, shard) })}points:\n`) return false;
  return found.items.every((item, i) => item.point === points[i]!.index && item.point_id === points[i]!.id);
}

/** A config.resolved.yaml as silica sweep lays it out: the text before its items, and where each item lies. */
export interface LocatedItems {
  /** Everything up to and including the `points:` line. */
  head: string;
  items: Array<{ point: number; point_id: string; start: number; end: number }>;
}

/** The first lines of an item as resolvedPointYaml writes it: its point and point_id (quoted where it looks like a number). */
const ITEM_POINT = /^ {2}- point: (\d+)\n$/;
const ITEM_ID = /^ {4}point_id: (?:"([0-9a-f]+)"|([0-9a-f]+))\n$/;

/**
 * The items of a config.resolved.yaml found at their `  - point:` lines, a chunk of lines at a
 * time, without parsing the YAML (a large sweep's file is hundreds of MB): `silica merge` copies
 * each item's bytes, and --resume checks the file lists the right points. A line starting with two
 * spaces and a dash can only be an item of the top-level list: everything inside an item is
 * indented further. Undefined for any other layout (a file saved again by another tool).
 */
export function locateResolvedItems(path: string): LocatedItems | undefined {
  let head = '';
  let itemsStart = -1; // where the items begin, once the `points:` line is read
  let ok = true;
  const items: LocatedItems['items'] = [];
  let opened: { point: number; start: number } | undefined; // an item whose point_id line comes next
  const { cut } = scanLines(path, (buf, start, end, at) => {
    if (!ok) return;
    const itemLine = buf[start] === 0x20 && buf[start + 1] === 0x20 && buf[start + 2] === 0x2d; // `  -`
    if (itemsStart !== -1 && !opened && !itemLine) {
      // A line inside the last item: not decoded (most lines of the file).
      ok = items.length > 0;
      return;
    }
    const line = buf.toString('utf8', start, end);
    if (itemsStart === -1) {
      head += line;
      if (line === 'points:\n') itemsStart = at + end - start;
    } else if (opened) {
      const m = ITEM_ID.exec(line);
      if (m) items.push({ point: opened.point, point_id: (m[1] ?? m[2])!, start: opened.start, end: -1 });
      ok = !!m;
      opened = undefined;
    } else {
      const m = ITEM_POINT.exec(line);
      if (items.length) items[items.length - 1]!.end = at;
      opened = m ? { point: Number(m[1]), start: at } : undefined;
      ok = !!m && (items.length > 0 || at === itemsStart);
    }
  });
  if (!ok || cut || opened || items.length === 0) return undefined;
  items[items.length - 1]!.end = statSync(path).size;
  return { head, items };
}

/** config.resolved.yaml from its `sweep:` section and its points' items (resolvedPointYaml), in order. */
export function* resolvedSweepPieces<Item extends string | Uint8Array>(sweep: Record<string, unknown>, items: Iterable<Item>): Generator<string | Item> {
  yield RESOLVED_SWEEP_COMMENT;
  const it = items[Symbol.iterator]();
  let item = it.next();
  if (item.done) {
    yield readableYaml({ sweep, points: [] });
    return;
  }
  yield readableYaml({ sweep }) + 'points:\n';
  for (; !item.done; item = it.next()) yield item.value;
}

/**
 * One point's item of the `points:` list. Block style with no line folding (readableYaml) renders
 * a list item the same whatever its neighbours, so the items join into exactly the text of the
 * whole document rendered at once, and `silica merge` can copy them from shard to merged file.
 */
export function resolvedPointYaml(item: { point: number; point_id: string; tags: Record<string, unknown>; config: unknown }): string {
  if (!Number.isInteger(item.point)) return wholeItemYaml(item);
  return `  - point: ${item.point}\n` + pointIdYaml(item.point_id) + mapYaml('tags', item.tags, ITEM_INDENT) + mapYaml('config', item.config, ITEM_INDENT);
}

/**
 * `point_id: ...`, the one entry no two points share. A hex id with a letter other than e reads as
 * nothing but a string, so the YAML library writes it plain: written here without asking it (a
 * fifth of the time an item took). Ids of digits and e's (a number to YAML, quoted) go through it.
 */
function pointIdYaml(id: string): string {
  if (/^[0-9a-f]+$/.test(id) && /[a-df]/.test(id)) return `${ITEM_INDENT}point_id: ${id}\n`;
  return entryYaml('point_id', id, ITEM_INDENT, false);
}

function wholeItemYaml(item: unknown): string {
  const text = readableYaml({ points: [item] });
  return text.slice(text.indexOf('\n') + 1);
}

/*
 * An item is rendered entry by entry, the entries of its tags and config each on its own: an entry
 * renders the same wherever it sits, shifted by its depth (block style, no folding), and the points
 * of a sweep repeat most of their entries (the hardware, the CU list, every axis value), so each
 * distinct entry is rendered by the YAML library once and then reused; lists of mappings are taken
 * apart the same way (listOfMappingsYaml), and point ids written without it (pointIdYaml). An item
 * takes 17-19 µs instead of 64-73 µs rendered whole; the text is the same
 * (test/sweep/serialise.test.ts).
 */
const ITEM_INDENT = '    ';
const renderedEntries = new Map<string, string>();
/** Characters of keys and texts kept (an entry can hold a long list): past it, start over. */
const RENDERED_CHARS_KEPT = 16 << 20;
let renderedChars = 0;

/** `key: value` at `indent`, in the YAML of readableYaml; `reuse`: keep it for the next point (not for one point's own id). */
function entryYaml(key: string, value: unknown, indent: string, reuse = true): string {
  if (reuse && isListOfMappings(value)) {
    const line = keyLine(key);
    if (line !== undefined) return listOfMappingsYaml(line, value, indent);
  }
  const id = reuse ? `${indent.length}\0${JSON.stringify([key, value])}` : undefined;
  let text = id === undefined ? undefined : renderedEntries.get(id);
  if (text === undefined) {
    // Every line that has text moves right: block scalars keep their own indentation relative to it.
    text = readableYaml({ [key]: value }).replace(/^(?=.)/gm, indent);
    if (id !== undefined) {
      renderedChars += id.length + text.length;
      if (renderedChars > RENDERED_CHARS_KEPT) {
        renderedEntries.clear();
        renderedChars = id.length + text.length;
      }
      renderedEntries.set(id, text);
    }
  }
  return text;
}

/**
 * A list of mappings (a kernels experiment's `points`), rendered entry by entry too: such a list
 * differs from point to point as a whole (every axis value lands in it), but its entries repeat.
 * Block style writes each mapping as `- ` and its first entry, its other entries below at the
 * column of the first: the entries rendered two columns past the list's dash, the first one's
 * leading spaces then taking the dash.
 */
function listOfMappingsYaml(keyLine: string, list: ReadonlyArray<Record<string, unknown>>, indent: string): string {
  const entryIndent = `${indent}    `;
  const dash = `${indent}  - `;
  let text = indent + keyLine;
  for (const mapping of list) {
    let first = true;
    for (const [k, v] of Object.entries(mapping)) {
      if (v === undefined) continue;
      const entry = entryYaml(k, v, entryIndent);
      text += first ? dash + entry.slice(entryIndent.length) : entry;
      first = false;
    }
  }
  return text;
}

/** `key:` and a newline as the YAML library writes the key (quoted where it must be); undefined for a key it writes otherwise. */
const keyLine = boundedMemo((key: string): string | undefined => {
  const text = readableYaml({ [key]: null });
  return /^[^\n]*: null\n$/.test(text) ? `${text.slice(0, -' null\n'.length)}\n` : undefined;
});

/** A non-empty list whose every element is a mapping with an entry (an empty one renders as `{}`). */
function isListOfMappings(value: unknown): value is Array<Record<string, unknown>> {
  if (!Array.isArray(value) || value.length === 0) return false;
  for (const element of value) {
    if (!element || typeof element !== 'object' || Array.isArray(element)) return false;
    if (!Object.values(element).some((v) => v !== undefined)) return false;
  }
  return true;
}

/** A mapping entry whose value's own entries are rendered one by one (an empty or non-mapping value is one entry). */
function mapYaml(key: string, value: unknown, indent: string): string {
  const entries = value && typeof value === 'object' && !Array.isArray(value) ? Object.entries(value).filter(([, v]) => v !== undefined) : [];
  if (entries.length === 0) return entryYaml(key, value, indent);
  let text = `${indent}${key}:\n`;
  for (const [k, v] of entries) text += entryYaml(k, v, `${indent}  `);
  return text;
}

/** The `sweep:` section of config.resolved.yaml: how the sweep expands. */
export function resolvedSweepHeader(spec: SweepSpec, shard?: { index: number; count: number }): Record<string, unknown> {
  return {
    name: spec.name,
    ...(spec.description ? { description: spec.description } : {}),
    source: spec.file,
    base: spec.baseSource,
    base_id: spec.baseId,
    ...(spec.files ? { files: spec.files } : {}),
    expand: spec.expand,
    axes: spec.axes.map((a) => ({ path: a.path, column: a.column, values: a.values })),
    ...(spec.variants.length > 1 || spec.variants[0]!.name ? { variants: spec.variants } : {}),
    ...(spec.filters.length ? { filters: spec.filters } : {}),
    ...(spec.sample ? { sample: { ...spec.sample, from: spec.sampledFrom } } : {}),
    points_total: spec.total,
    ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}),
  };
}
