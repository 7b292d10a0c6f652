import { readFileSync } from 'node:fs';
import { fromJS, List, Map as ImmutableMap } from 'immutable';
import { parseDocument, stringify as stringifyYaml, type ScalarTag, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { SilicaError, describe } from './errors.js';
import { knownFields } from './known-fields.js';

/**
 * Shared machinery for every YAML-configured object (hardware presets, experiments, sweeps):
 * read, overlay `--set a.b.c=value` edits on an immutable tree, validate with a zod schema, and
 * turn the first problem into a one-line "file: field: expected ..." error.
 */

export function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new SilicaError(`${path}: cannot read file`, { file: path });
  }
  return parseYamlText(text, path);
}

/**
 * `!!float 64`: YAML 1.2's core schema resolves an explicit float tag only on text that already
 * looks like a float, and would leave "64" a string; the tag asks for a number, so it gets one.
 */
const explicitFloat: ScalarTag = {
  tag: 'tag:yaml.org,2002:float',
  resolve: (text, onError) => {
    const n = floatOf(text);
    if (n === undefined) onError(`!!float: expected a number, got ${JSON.stringify(text)}`);
    return n ?? text;
  },
};

/** A YAML 1.2 float's text as a number (decimal, exponent, .inf, .nan), else undefined: not '', not 0x200. */
function floatOf(text: string): number | undefined {
  const t = text.trim();
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(t)) return Number(t);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(t)) return NaN;
  return undefined;
}

/**
 * Parses one YAML document. Problems the parser only warns about (an unknown tag such as `!foo`,
 * whose value it would keep as a string) are errors too: a config read differently from how it was
 * written is worse than one refused, and warnings would go to stderr as Node process warnings.
 */
export function parseYamlText(text: string, file: string): unknown {
  let doc;
  try {
    doc = parseDocument(text, { prettyErrors: true, customTags: [explicitFloat] });
  } catch (err) {
    throw new SilicaError(`${file}: malformed YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { file });
  }
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new SilicaError(`${file}: malformed YAML${yamlProblem(problem)}`, { file });
  let tree: unknown;
  try {
    tree = doc.toJS();
  } catch (err) {
    // The parser's guard against alias bombs (a few lines expanding to millions of nodes).
    throw new SilicaError(`${file}: malformed YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { file });
  }
  refuseProtoKeys(tree, file, '', new Set());
  return tree;
}

/**
 * A mapping key `__proto__` is an own field of the parsed tree, but anything that copies it by
 * assignment (a schema's record, a spread) sets the copy's prototype instead: the field vanishes
 * without a word (`hw_overrides: {__proto__: ...}` was silently ignored). No silica field has the
 * name, so it is refused where it is written.
 */
function refuseProtoKeys(node: unknown, file: string, at: string, enclosing: Set<object>): void {
  if (!node || typeof node !== 'object') return;
  // An alias inside the node it names (`a: &a {b: *a}`) makes an endless tree, which every later
  // walk (validation, overlays, hashing) would follow until the stack ran out.
  if (enclosing.has(node)) throw new SilicaError(`${file}: ${at}: expected a value, got an alias to a node that contains it (a recursive alias)`, { file, field: at });
  enclosing.add(node);
  if (Array.isArray(node)) {
    node.forEach((v, i) => refuseProtoKeys(v, file, at ? `${at}.${i}` : String(i), enclosing));
  } else {
    for (const key of Object.keys(node)) {
      const path = at ? `${at}.${key}` : key;
      if (key === '__proto__') throw new SilicaError(`${file}: ${path}: expected a field name, got __proto__ (no silica field has it)`, { file, field: path });
      refuseProtoKeys((node as Record<string, unknown>)[key], file, path, enclosing);
    }
  }
  enclosing.delete(node);
}

/** ` at line L, column C: what`, in words of our own where the parser's name an API call. */
function yamlProblem(problem: YAMLError): string {
  const at = problem.linePos ? ` at line ${problem.linePos[0].line}, column ${problem.linePos[0].col}` : '';
  if (problem.code === 'MULTIPLE_DOCS') return `${at}: expected one document, found a second (---)`;
  // The message's first line, less the position prettyErrors appends to it.
  const what = problem.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (problem.code === 'TAG_RESOLVE_FAILED' && what.startsWith('Unresolved tag')) return `${at}: ${what.replace('Unresolved tag', 'unknown tag')} (expected plain YAML, no custom tags)`;
  return `${at}: ${what}`;
}

/** Parses "a.b.c=value" into a path and a YAML-typed scalar value. */
export function parseOverlay(assignment: string): { path: string[]; value: unknown } {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new SilicaError(`--set: expected path=value (e.g. memory.hbm.efficiency=0.8), got "${assignment}"`);
  const path = assignment.slice(0, eq).trim().split('.');
  if (path.some((p) => p.length === 0)) throw new SilicaError(`--set: malformed path "${assignment.slice(0, eq)}"`);
  const raw = assignment.slice(eq + 1);
  return { path, value: parseYamlText(raw, '--set') };
}

/**
 * Which fields an overlay may add where the tree has none: any (`true`), none (`false`), or those
 * the predicate allows (a schema's optional fields: see `schemaFields`).
 */
export type NewFields = boolean | ((parent: readonly string[], key: string) => boolean);

/**
 * Applies overlays to a raw tree. Each path must already exist (a typo should not silently add a
 * field the schema would then reject with a less helpful message), unless `allowNew` allows it.
 */
export function applyOverlays(raw: unknown, overlays: readonly string[], file: string, allowNew: NewFields = false): unknown {
  if (overlays.length === 0) return raw;
  let tree = fromJS(raw) as ImmutableMap<string, unknown>;
  for (const o of overlays) {
    const { path, value } = parseOverlay(o);
    tree = tree.setIn(overlayKeys(tree, path, file, allowNew), fromJS(value));
  }
  return tree.toJS();
}

/**
 * New fields allowed where `schema` has them (read through `raw` for the union branch a value
 * takes): a file may leave out an optional field, and an overlay may still set it.
 */
export function schemaFields(schema: z.ZodType, raw: unknown): (parent: readonly string[], key: string) => boolean {
  return (parent, key) => knownFields(schema, raw, parent)?.includes(key) ?? false;
}

/** Keys no config has, which would reach an object's prototype instead of a field. */
const NOT_FIELDS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The keys an overlay's path sets, checked along the tree: a mapping's field (one it lacks only
 * with `allowNew`), or a list's existing entry by its index written plainly (not -1, 00 or 0x0: a
 * new entry would leave holes); never a step into a plain value.
 */
function overlayKeys(tree: ImmutableMap<string, unknown>, path: readonly string[], file: string, allowNew: NewFields): Array<string | number> {
  const name = path.join('.');
  const keys: Array<string | number> = [];
  let node: unknown = tree;
  for (const [i, key] of path.entries()) {
    const at = path.slice(0, i).join('.');
    if (NOT_FIELDS.has(key)) throw new SilicaError(`--set ${name}: ${key} is not a field of ${file}`);
    if (List.isList(node)) {
      if (!/^(0|[1-9]\d*)$/.test(key) || Number(key) >= node.size) throw new SilicaError(`--set ${name}: no entry ${key} in ${at} of ${file} (it has ${node.size})`);
      keys.push(Number(key));
      node = node.get(Number(key));
    } else if (ImmutableMap.isMap(node)) {
      // The fields the mapping has, as a file's unknown field lists the known ones: a typo shows.
      if (!node.has(key) && !mayAdd(allowNew, path.slice(0, i), key)) throw new SilicaError(`--set ${name}: no such field in ${file} (${at || 'its top level'} has ${[...node.keys()].sort().join(', ')})`);
      keys.push(key);
      node = node.get(key);
    } else if (node === undefined && mayAdd(allowNew, path.slice(0, i), key)) {
      // A mapping the file leaves out, made along the way.
      keys.push(key);
    } else if (node === undefined) {
      throw new SilicaError(`--set ${name}: no such field in ${file}`);
    } else {
      throw new SilicaError(`--set ${name}: ${at} is a value (${describe(node)}) in ${file}, not a mapping with fields`);
    }
  }
  return keys;
}

function mayAdd(allowNew: NewFields, parent: readonly string[], key: string): boolean {
  return typeof allowNew === 'function' ? allowNew(parent, key) : allowNew;
}

/**
 * Validates `raw` with `schema`, or throws the first problem as one line. `fieldsFrom` is the
 * schema to list the known fields from when a field is unknown (default: `schema` itself).
 * `label`, where given, names the field in the message in place of "FILE: FIELD" (a CLI's flag
 * for a config it builds from flags, or the place in a larger file the tree came from).
 */
export function validate<T extends z.ZodType>(schema: T, raw: unknown, file: string, fieldsFrom: z.ZodType = schema, label?: (field: string) => string): z.infer<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : '(top level)';
  const got = valueAt(raw, issue.path as PropertyKey[]);
  const gotText = issue.code === 'unrecognized_keys' ? '' : got === undefined ? ' (missing)' : `, got ${describe(got)}`;
  // Zod's own "received string" is left out: the message ends with what was got, as it was written;
  // so are its "Too small:" headings and its type name "int".
  let expected = issue.message
    .replace(/^(Invalid (input|option)|Too (small|big)): /, '')
    .replace(/, received \w+$/, '')
    .replace(/^expected int$/, 'expected a whole number')
    .replace(/^expected int to be ([<>]=?)(.+)$/, 'expected a whole number $1 $2')
    .replace(/^Invalid discriminator value\. Expected (.+)$/, (_, names: string) => `expected one of ${names.replace(/'/g, '').split(' | ').join(', ')}`)
    // Bounds read as the other messages do ("expected a positive whole number, got 0").
    .replace(/^expected number to be >0$/, 'expected a positive number')
    .replace(/^expected number to be ([<>]=?)(.+)$/, 'expected a number $1 $2')
    .replace(/^expected number$/, 'expected a number')
    // Zod's type names, in the words of a YAML file.
    .replace(/^expected string$/, 'expected a string')
    .replace(/^expected boolean$/, 'expected true or false')
    .replace(/^expected array$/, 'expected a list')
    .replace(/^expected (object|record)$/, 'expected a mapping')
    .replace(/^expected array to have >=(\d+) items?$/, (_, n: string) => `expected at least ${n} ${n === '1' ? 'entry' : 'entries'}`)
    .replace(/^expected string to have >=(\d+) characters?$/, (_, n: string) => (n === '1' ? 'expected a non-empty string' : `expected at least ${n} characters`));
  // A value no alternative of a union takes: what each would have taken (`bytes: 1GiB` or a number).
  if (issue.code === 'invalid_union' && expected === 'Invalid input') expected = unionExpected(issue as { errors?: ReadonlyArray<ReadonlyArray<{ code: string; expected?: unknown }>> }) ?? 'expected a valid value';
  if (issue.code === 'unrecognized_keys') {
    const known = knownFields(fieldsFrom, raw, issue.path as PropertyKey[]);
    expected = `expected no unknown fields (${(issue as { keys: string[] }).keys.join(', ')})${known?.length ? `; known: ${known.join(', ')}` : ''}`;
  }
  throw new SilicaError(`${label ? label(field) : `${file}: ${field}`}: ${expected}${gotText}`, { file, field });
}

/** "expected a number or a string" from a union's alternatives, where each failed on its type. */
function unionExpected(issue: { errors?: ReadonlyArray<ReadonlyArray<{ code: string; expected?: unknown }>> }): string | undefined {
  const words: Record<string, string> = { number: 'a number', int: 'a whole number', string: 'a string', boolean: 'true or false', array: 'a list', object: 'a mapping', record: 'a mapping' };
  const types = (issue.errors ?? []).map((branch) => (branch[0]?.code === 'invalid_type' ? words[String(branch[0].expected)] : undefined));
  if (types.length === 0 || types.some((t) => t === undefined)) return undefined;
  return `expected ${[...new Set(types)].join(' or ')}`;
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** A YAML mapping (not a list, not a value) as it reaches silica from a parsed file. */
export function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function toYaml(value: unknown): string {
  return stringifyYaml(value, { lineWidth: 0 });
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
