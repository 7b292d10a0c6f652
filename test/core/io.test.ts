import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';
import { maxOf, minOf } from '../../src/core/extent.js';
import { csvCell, formatNumber, OutputSet, toCsv, writeAllOf, writeFileAtomic, writeFileAtomicFromAsync } from '../../src/core/io.js';

/** The definition formatNumber must keep: 6 significant digits, printed in JavaScript's shortest form. */
const reference = (v: number): string => (Number.isInteger(v) || !Number.isFinite(v) ? String(v) : String(Number(v.toPrecision(6))));

describe('number formatting for tables', () => {
  it('equals the 6-significant-digit reference across magnitudes, signs and rounding cases', () => {
    // A fixed linear congruential sequence: the same 200k values on every run.
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const values = [0.1, 0.5, 100.5, 999999.5, 123456.7, 1234567.8, 1e-7, 1e-6, 1.5e-6, -1e-6, 5e-324, 1.7976931348623157e308, 1e21 + 0.5, -0, NaN, Infinity, -Infinity];
    for (let i = 0; i < 100_000; i++) {
      const v = (next() * 2 - 1) * 10 ** (Math.floor(next() * 60) - 30);
      values.push(v, Math.round(v * 1000) / 1000);
    }
    for (const v of values) expect(formatNumber(v)).toBe(reference(v));
  });

  it('quotes CSV cells only where RFC 4180 needs it', () => {
    expect(csvCell(1 / 3)).toBe('0.333333');
    expect(csvCell(18.2)).toBe('18.2');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell(undefined)).toBe('');
    // A value not there: empty, as JSON lines write NaN null (and `silica plot` reads an empty cell as missing).
    expect(csvCell(NaN)).toBe('');
    expect(JSON.stringify({ v: NaN })).toBe('{"v":null}');
  });
});

describe('CSV tables', () => {
  it('take every row\'s columns in the order they first appear, not the first row\'s alone', () => {
    expect(toCsv([{ a: 1, b: 2 }, { a: 3, c: 'x,y' }])).toBe('a,b,c\n1,2,\n3,,"x,y"\n');
    expect(toCsv([{ a: 1 }], ['b', 'a'])).toBe('b,a\n,1\n');
    expect(toCsv([])).toBe('\n');
  });
});

describe('an OutputSet is all or nothing', () => {
  const T = mkdtempSync(join(tmpdir(), 'silica-io-'));
  afterAll(() => rmSync(T, { recursive: true, force: true }));
  const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
  const listing = (dir: string) => readdirSync(dir).sort();

  it('puts back the files a failed command replaced and removes those it created', () => {
    const dir = join(T, 'restore');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.csv'), 'earlier a\n');
    writeFileSync(join(dir, 'b.csv'), 'earlier b\n');
    const outputs = new OutputSet();
    expect(() =>
      outputs.run(() => {
        outputs.write(join(dir, 'a.csv'), 'new a\n');
        writeFileAtomic(join(dir, 'a.csv'), 'newer a\n'); // written twice: the earliest text comes back
        outputs.write(join(dir, 'c.csv'), 'new c\n');
        outputs.write(join(dir, 'b.csv'), 'new b\n');
        throw new SilicaError('the command failed after its writes');
      }),
    ).toThrow('the command failed after its writes');
    expect(listing(dir)).toEqual(['a.csv', 'b.csv']);
    expect(read(dir, 'a.csv')).toBe('earlier a\n');
    expect(read(dir, 'b.csv')).toBe('earlier b\n');
  });

  it('checks an output folder without leaving it: the folder comes with the first file, and goes if the command fails', () => {
    const dir = join(T, 'later', 'deeper');
    const outputs = new OutputSet();
    outputs.directory(dir, '--out');
    // Stopped here (Ctrl-C while simulating), a command leaves nothing behind: not even the folder.
    expect(listing(T)).not.toContain('later');
    expect(() =>
      outputs.run(() => {
        outputs.write(join(dir, 'a.csv'), 'a\n');
        expect(listing(dir)).toEqual(['a.csv']);
        throw new SilicaError('failed after its first file');
      }),
    ).toThrow('failed after its first file');
    expect(listing(T)).not.toContain('later');
  });

  it('keeps what a command that succeeded wrote, with no second copies left beside it', async () => {
    const dir = join(T, 'keep');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.csv'), 'earlier a\n');
    const outputs = new OutputSet();
    await outputs.run(async () => {
      outputs.write(join(dir, 'a.csv'), 'new a\n');
      await Promise.resolve();
      outputs.write(join(dir, 'b.csv'), 'new b\n');
    });
    expect(listing(dir)).toEqual(['a.csv', 'b.csv']);
    expect(read(dir, 'a.csv')).toBe('new a\n');
  });

  it('an inner set that failed puts back its own files; the outer one, failing later, the rest', () => {
    const dir = join(T, 'nested');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.csv'), 'earlier a\n');
    const outer = new OutputSet();
    expect(() =>
      outer.run(() => {
        outer.write(join(dir, 'a.csv'), 'outer a\n');
        const inner = new OutputSet();
        expect(() => inner.run(() => {
          inner.write(join(dir, 'a.csv'), 'inner a\n');
          throw new SilicaError('inner failed');
        })).toThrow('inner failed');
        expect(read(dir, 'a.csv')).toBe('outer a\n');
        throw new SilicaError('outer failed');
      }),
    ).toThrow('outer failed');
    expect(listing(dir)).toEqual(['a.csv']);
    expect(read(dir, 'a.csv')).toBe('earlier a\n');
  });

  it('a file written between awaits is whole or absent, and belongs to the set that began it', async () => {
    const dir = join(T, 'async');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), 'earlier a\n');
    const pieces = async (write: (d: string) => void) => {
      for (const piece of ['one\n', 'two\n']) {
        write(piece);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    // Failing half-way: no temporary file, no new file, the earlier one untouched.
    await expect(writeFileAtomicFromAsync(join(dir, 'b.yaml'), async (write) => {
      await pieces(write);
      throw new Error('disk full');
    })).rejects.toThrow(`${join(dir, 'b.yaml')}: cannot write (disk full)`);
    expect(listing(dir)).toEqual(['a.yaml']);
    // Inside a set that fails later, the replaced file comes back.
    const outputs = new OutputSet();
    await expect(outputs.run(async () => {
      await writeFileAtomicFromAsync(join(dir, 'a.yaml'), pieces);
      expect(read(dir, 'a.yaml')).toBe('one\ntwo\n');
      throw new SilicaError('later step failed');
    })).rejects.toThrow('later step failed');
    expect(listing(dir)).toEqual(['a.yaml']);
    expect(read(dir, 'a.yaml')).toBe('earlier a\n');
  });
});

describe('largest and smallest of a list', () => {
  it('agree with Math.max and Math.min, and take lists too long to spread as arguments', () => {
    for (const xs of [[], [3], [1, -2, 5], [-0, 0], [1, NaN, 2], [Infinity, -Infinity]]) {
      expect(maxOf(xs)).toBe(Math.max(...xs));
      expect(minOf(xs)).toBe(Math.min(...xs));
    }
    const many = Array.from({ length: 500_000 }, (_, i) => (i * 7919) % 500_000);
    expect(() => Math.max(...many)).toThrow(RangeError);
    expect([minOf(many), maxOf(many)]).toEqual([0, 499_999]);
  });
});

describe('writeAllOf', () => {
  it('writes every buffer in order, past the per-call limit of 1024 and with empty ones among them', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'silica-writev-')), 'out.bin');
    const chunks = Array.from({ length: 2500 }, (_, i) => Buffer.from(i % 7 === 0 ? '' : `line ${i}\n`));
    const fd = openSync(path, 'w');
    try {
      writeAllOf(fd, chunks);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(path).equals(Buffer.concat(chunks))).toBe(true);
  });
});
