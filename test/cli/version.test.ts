import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, silica } from '../helpers/cli.js';

/** `silica --version` names silica's own version wherever it runs, not that of the folder it runs in. */
const T = mkdtempSync(join(tmpdir(), 'silica-version-'));
afterAll(() => rmSync(T, { recursive: true, force: true }));

describe('silica --version', () => {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  it('prints package.json version from the repository', () => {
    const r = silica(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('prints the same version from a folder outside the repository', () => {
    const r = silica(['--version'], { cwd: T });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });
});
