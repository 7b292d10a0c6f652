import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { knownFields } from '../../src/core/known-fields.js';
import { applyOverlays, parseYamlText, schemaFields, validate } from '../../src/core/yaml-config.js';
import '../../src/study/index.js';
import { experimentKind } from '../../src/study/registry.js';

const message = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (err instanceof SilicaError) return err.message;
    throw err;
  }
  throw new Error('expected a SilicaError');
};

describe('one-line schema errors', () => {
  const point = z.discriminatedUnion('op', [
    z.object({ op: z.literal('gemm'), m: z.number(), batch: z.number().default(1) }).strict(),
    z.object({ op: z.literal('stream'), bytes: z.number() }).strict(),
  ]);
  const schema = z.object({ hw: z.string(), points: z.array(point), nested: z.object({ a: z.number() }).strict().optional() }).strict();

  it('names an unknown field and the fields known there, in the union branch the value takes', () => {
    const raw = { hw: 'mi300x', points: [{ op: 'gemm', m: 1 }, { op: 'stream', bytes: 1, batchx: 2 }] };
    expect(message(() => validate(schema, raw, 'f.yaml'))).toBe('f.yaml: points.1: expected no unknown fields (batchx); known: op, bytes');
    expect(message(() => validate(schema, { hw: 'x', points: [], nested: { a: 1, b: 1 } }, 'f.yaml'))).toBe('f.yaml: nested: expected no unknown fields (b); known: a');
    expect(message(() => validate(schema, { hw: 'x', points: [], hx: 1 }, 'f.yaml'))).toBe('f.yaml: (top level): expected no unknown fields (hx); known: hw, points, nested');
  });

  it('finds the fields of a shipped experiment kind', () => {
    const kernels = experimentKind('kernels')!.schema;
    expect(knownFields(kernels, { points: [{ op: 'gemm', mm: 1 }] }, ['points', 0])).toEqual(['op', 'name', 'm', 'n', 'k', 'batch', 'dtype']);
    expect(knownFields(kernels, {}, [])).toContain('cus');
    // A path the schema does not have: nothing to list.
    expect(knownFields(kernels, {}, ['nope', 'deeper'])).toBeUndefined();
  });

  it('says what was expected, without the validator prefix', () => {
    const vendor = z.object({ vendor: z.enum(['amd', 'nvidia']) });
    expect(message(() => validate(vendor, { vendor: 'intel' }, 'hw.yaml'))).toBe('hw.yaml: vendor: expected one of "amd"|"nvidia", got "intel"');
    expect(message(() => validate(vendor, {}, 'hw.yaml'))).toMatch(/^hw\.yaml: vendor: expected one of "amd"\|"nvidia" \(missing\)$/);
  });
});

describe('type errors', () => {
  it('say what was expected and what was written, once', () => {
    const s = z.object({ m: z.number() });
    expect(message(() => validate(s, { m: 'abc' }, 'f.yaml'))).toBe('f.yaml: m: expected a number, got "abc"');
    expect(message(() => validate(s, {}, 'f.yaml'))).toBe('f.yaml: m: expected a number (missing)');
  });

  it('name the types as a YAML file has them: string, true or false, list, mapping', () => {
    const s = z.object({ name: z.string().min(1), on: z.boolean(), points: z.array(z.number()).min(1), set: z.record(z.string(), z.number()), sub: z.object({ a: z.number() }) });
    const good = { name: 'x', on: true, points: [1], set: {}, sub: { a: 1 } };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: 5 }, 'name: expected a string, got 5'],
      [{ name: '' }, 'name: expected a non-empty string, got ""'],
      [{ on: 'yes' }, 'on: expected true or false, got "yes"'],
      [{ points: 3 }, 'points: expected a list, got 3'],
      [{ points: [] }, 'points: expected at least 1 entry, got a list of 0'],
      [{ set: [1] }, 'set: expected a mapping, got a list of 1'],
      [{ sub: 'a' }, 'sub: expected a mapping, got "a"'],
    ];
    for (const [bad, expected] of cases) expect(message(() => validate(s, { ...good, ...bad }, 'f.yaml'))).toBe(`f.yaml: ${expected}`);
  });

  it('name a union\'s alternatives, a discriminator\'s values and a whole number\'s bound in the same words', () => {
    const bytes = z.object({ bytes: z.union([z.number().int().positive(), z.string()]) });
    expect(message(() => validate(bytes, {}, 'f.yaml'))).toBe('f.yaml: bytes: expected a number or a string (missing)');
    expect(message(() => validate(bytes, { bytes: [1] }, 'f.yaml'))).toBe('f.yaml: bytes: expected a number or a string, got a list of 1');
    const point = z.object({ p: z.discriminatedUnion('op', [z.object({ op: z.literal('gemm') }), z.object({ op: z.literal('stream') })]) });
    expect(message(() => validate(point, { p: { op: 'gemmx' } }, 'f.yaml'))).toBe('f.yaml: p.op: expected one of gemm, stream, got "gemmx"');
    expect(message(() => validate(z.object({ cus: z.number().int() }), { cus: 1e30 }, 'f.yaml'))).toBe('f.yaml: cus: expected a whole number <= 9007199254740991, got 1e+30');
  });
});

describe('YAML text', () => {
  it('refuses what the parser would only warn about, in one line with the position', () => {
    expect(message(() => parseYamlText('a: 1\nkind: !foo kernels\n', 'f.yaml'))).toBe('f.yaml: malformed YAML at line 2, column 7: unknown tag: !foo (expected plain YAML, no custom tags)');
    expect(message(() => parseYamlText('a: 1\n---\nb: 2\n', 'f.yaml'))).toBe('f.yaml: malformed YAML at line 2, column 1: expected one document, found a second (---)');
    expect(message(() => parseYamlText('a: [1\n', 'f.yaml'))).toMatch(/^f\.yaml: malformed YAML at line \d+, column \d+: [^\n]+$/);
    expect(message(() => parseYamlText('a: 1\na: 2\n', 'f.yaml'))).toBe('f.yaml: malformed YAML at line 2, column 1: Map keys must be unique');
  });

  it('refuses a __proto__ key wherever it is written, naming its path (a copy would drop it silently)', () => {
    expect(message(() => parseYamlText('kind: kernels\nhw_overrides: {__proto__: {compute: {cus: 1}}}\n', 'f.yaml'))).toBe(
      'f.yaml: hw_overrides.__proto__: expected a field name, got __proto__ (no silica field has it)',
    );
    expect(message(() => parseYamlText('points:\n  - {op: gemm}\n  - {__proto__: 1}\n', 'f.yaml'))).toMatch(/^f\.yaml: points\.1\.__proto__: /);
    // Other names that mean something to JavaScript are plain keys of a YAML mapping.
    expect(parseYamlText('constructor: 1\nprototype: {a: 2}\n', 'f.yaml')).toEqual({ constructor: 1, prototype: { a: 2 } });
  });

  it('refuses an alias inside the node it names (an endless tree), naming where; keeps shared aliases; refuses alias bombs', () => {
    expect(message(() => parseYamlText('a: &a\n  b: *a\n', 'f.yaml'))).toBe('f.yaml: a.b: expected a value, got an alias to a node that contains it (a recursive alias)');
    expect(message(() => parseYamlText('&a [1, *a]\n', 'f.yaml'))).toBe('f.yaml: 1: expected a value, got an alias to a node that contains it (a recursive alias)');
    // The same node under two keys is no cycle.
    expect(parseYamlText('x: &p {m: 1}\ny: *p\n', 'f.yaml')).toEqual({ x: { m: 1 }, y: { m: 1 } });
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n') + '\n';
    expect(message(() => parseYamlText(bomb, 'f.yaml'))).toMatch(/^f\.yaml: malformed YAML: [^\n]*alias/i);
  });

  it('reads the standard tags as their types: !!float on an integer is a number', () => {
    expect(parseYamlText('n: !!float 64\nm: !!int "12"\ns: !!str 5\n', 'f.yaml')).toEqual({ n: 64, m: 12, s: '5' });
  });
});

describe('--set overlays', () => {
  const tree = { hw: 'mi300x', points: [{ op: 'gemm', m: 1 }], nested: { a: 1 } };
  it('set a field the file has, or (allowNew) one it leaves out, along mappings and existing list entries', () => {
    expect(applyOverlays(tree, ['points.0.m=8', 'nested.a=2'], 'f.yaml')).toEqual({ hw: 'mi300x', points: [{ op: 'gemm', m: 8 }], nested: { a: 2 } });
    expect(applyOverlays(tree, ['nested.b=3', 'extra.deep=4'], 'f.yaml', true)).toMatchObject({ nested: { a: 1, b: 3 }, extra: { deep: 4 } });
    expect(message(() => applyOverlays(tree, ['nested.b=3'], 'f.yaml'))).toBe('--set nested.b: no such field in f.yaml (nested has a)');
    expect(message(() => applyOverlays(tree, ['hx=3'], 'f.yaml'))).toBe('--set hx: no such field in f.yaml (its top level has hw, nested, points)');
  });

  it('(schemaFields) add a field the file leaves out only where the schema has it, new mappings included', () => {
    const schema = z.object({ hw: z.string(), points: z.array(z.object({ op: z.string(), m: z.number() })), nested: z.object({ a: z.number(), b: z.number().optional() }), extra: z.object({ deep: z.number() }).optional() });
    const known = schemaFields(schema, tree);
    expect(applyOverlays(tree, ['nested.b=3', 'extra.deep=4'], 'f.yaml', known)).toMatchObject({ nested: { a: 1, b: 3 }, extra: { deep: 4 } });
    expect(message(() => applyOverlays(tree, ['nested.c=3'], 'f.yaml', known))).toBe('--set nested.c: no such field in f.yaml (nested has a)');
    expect(message(() => applyOverlays(tree, ['extra.shallow=3'], 'f.yaml', known))).toBe('--set extra.shallow: no such field in f.yaml');
  });

  it('refuse list entries not written plainly or not there, steps into a value, and prototype keys', () => {
    for (const index of ['-1', '00', '0x0', '1']) {
      expect(message(() => applyOverlays(tree, [`points.${index}.m=4`], 'f.yaml', true))).toBe(`--set points.${index}.m: no entry ${index} in points of f.yaml (it has 1)`);
    }
    expect(message(() => applyOverlays(tree, ['hw.foo=1'], 'f.yaml', true))).toBe('--set hw.foo: hw is a value ("mi300x") in f.yaml, not a mapping with fields');
    expect(message(() => applyOverlays(tree, ['points.0.m.x=1'], 'f.yaml', true))).toMatch(/^--set points\.0\.m\.x: points\.0\.m is a value \(1\)/);
    for (const path of ['__proto__.kind', 'constructor.prototype.x', 'points.0.__proto__.m']) {
      expect(message(() => applyOverlays(tree, [`${path}=1`], 'f.yaml', true))).toMatch(/is not a field of f\.yaml$/);
    }
  });

  it('!!float takes only what YAML 1.2 calls a float', () => {
    expect(parseYamlText('a: !!float .inf\nb: !!float -2.5e1\n', 'f.yaml')).toEqual({ a: Infinity, b: -25 });
    for (const bad of ['', 'abc', '0x200']) expect(message(() => parseYamlText(`a: !!float ${bad}\n`, 'f.yaml'))).toBe(`f.yaml: malformed YAML at line 1, column 4: !!float: expected a number, got "${bad}"`);
  });
});
