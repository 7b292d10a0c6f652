import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { knownFields } from '../../src/core/known-fields.js';
import { listPresets, loadHardware } from '../../src/hw/config/load.js';
import { hardwareSchema } from '../../src/hw/config/schema.js';
import { ROOT } from '../helpers/cli.js';

/**
 * docs/hardware.md is the reference of every hardware field. The schema is walked the way `--set`
 * and the "unknown field" messages read it (knownFields: zod's JSON Schema, through optional,
 * default and nullable wrappers), so a field added to src/hw/config/schema.ts without a line in the
 * doc fails here, and so does a doc row for a field the schema no longer has.
 */

/** Every leaf field of the hardware schema as a dotted path (mappings walked; a list is a leaf). */
function schemaLeaves(path: readonly string[] = []): string[] {
  const keys = knownFields(hardwareSchema, {}, path);
  if (!keys) return path.length ? [path.join('.')] : [];
  return keys.flatMap((k) => schemaLeaves([...path, k]));
}

/** Every leaf path of a loaded (resolved) config: what a real part sets, defaults filled in. */
function configLeaves(value: unknown, prefix = ''): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => configLeaves(v, prefix ? `${prefix}.${k}` : k));
}

const doc = readFileSync(join(ROOT, 'docs', 'hardware.md'), 'utf8');
const leaves = schemaLeaves();

describe('docs/hardware.md documents every hardware field', () => {
  it('the schema walk reaches every field the presets set (optional sections and nested maps included)', () => {
    const set = new Set(leaves);
    const presetFields = new Set(listPresets().flatMap((p) => configLeaves(loadHardware(p))));
    expect([...presetFields].filter((f) => !set.has(f))).toEqual([]);
    // Optional sections no preset might set are still walked.
    expect(leaves.some((f) => f.startsWith('compute.power.'))).toBe(true);
    expect(leaves.some((f) => f.startsWith('memory.llc.'))).toBe(true);
  });

  it('names every leaf field as `path`', () => {
    const missing = leaves.filter((f) => !doc.includes(`\`${f}\``));
    expect(missing, `fields of src/hw/config/schema.ts missing from docs/hardware.md: ${missing.join(', ')}`).toEqual([]);
  });

  it('documents no field the schema lacks (the first cell of each table row)', () => {
    const set = new Set(leaves);
    // Rows whose first cell is one `name` or `a.b.c` (the units table's `_suffix` rows aside).
    const rows = [...doc.matchAll(/^\| `([a-z0-9][a-z0-9_]*(?:\.[a-z0-9_]+)*)` \|/gm)].map((m) => m[1]!);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((r) => !set.has(r))).toEqual([]);
  });
});
