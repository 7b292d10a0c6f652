import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/plot/csv.js';

describe('reading a results CSV for plotting', () => {
  it('reads RFC 4180 quoting, CRLF and numbers, with or without a last line break', () => {
    const text = 'name,note,time_us\r\nmi300x,"a, ""quoted""\nnote",1.5e3\r\nh100,,-2\r\n';
    const table = parseCsv(text, 't.csv');
    expect(table.columns).toEqual(['name', 'note', 'time_us']);
    expect(table.rows).toEqual([
      { name: 'mi300x', note: 'a, "quoted"\nnote', time_us: 1500 },
      { name: 'h100', note: '', time_us: -2 },
    ]);
    expect(parseCsv(text.replace(/\r\n$/, ''), 't.csv')).toEqual(table);
  });

  it('keeps only the columns asked for', () => {
    const table = parseCsv('a,b,c\n1,x,3\n4,y,6\n', 't.csv', ['c', 'a']);
    expect(table.columns).toEqual(['a', 'b', 'c']);
    expect(table.rows).toEqual([
      { a: 1, c: 3 },
      { a: 4, c: 6 },
    ]);
  });

  it('refuses malformed tables with one line naming the file', () => {
    expect(() => parseCsv('', 'e.csv')).toThrow(/^e\.csv: expected a CSV table with a header line, got an empty file$/);
    expect(() => parseCsv('a,b\n1\n', 'c.csv')).toThrow(/^c\.csv: line 2: expected 2 cells like the header, got 1$/);
    expect(() => parseCsv('a,b\n1,2\n\n3,4\n', 'c.csv')).toThrow(/^c\.csv: line 3: expected 2 cells like the header, got 1$/);
    expect(() => parseCsv('a,b\n1,"open\n', 'q.csv')).toThrow(/^q\.csv: malformed CSV: a quoted cell is not closed before the end of the file$/);
  });
});
