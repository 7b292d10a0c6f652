import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configsDir } from '../../src/core/paths.js';
import '../../src/study/index.js';
import { loadSweep } from '../../src/sweep/spec.js';

describe('shipped sweep files', () => {
  const files = readdirSync(configsDir('sweeps')).filter((f) => f.endsWith('.yaml'));
  it('are there', () => expect(files.length).toBeGreaterThan(0));
  // Every point of every shipped sweep resolves to a valid experiment (what --dry-run checks).
  for (const f of files) {
    it(`${f} expands to valid points`, () => {
      const spec = loadSweep(join(configsDir('sweeps'), f));
      expect(spec.points.length).toBeGreaterThan(0);
      expect(new Set(spec.points.map((p) => p.id)).size).toBe(spec.points.length);
    });
  }
});
