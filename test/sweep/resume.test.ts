import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, silica, silicaJson } from '../helpers/cli.js';
import { FIXTURES, jsonlRows, read, tempDir } from './helpers.js';

const SWEEP = join(FIXTURES, 'slow.yaml');

function ledgerLines(dir: string): number {
  const path = join(dir, 'points.jsonl');
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l.endsWith('}')).length : 0;
}

describe('silica sweep --resume after kill -9', () => {
  it('ends with every point exactly once', async () => {
    const dir = tempDir('kill');
    const out = join(dir, 'out');
    const listing = silicaJson<{ points: Array<{ point_id: string }> }>(['sweep', SWEEP, '--dry-run']);
    const ids = listing.points.map((p) => p.point_id).sort();
    expect(ids.length).toBe(128);

    const child = spawn(process.execPath, [CLI, 'sweep', SWEEP, '--out', out, '--jobs', '2'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const t0 = Date.now();
    while (ledgerLines(out) < 4 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const doneAtKill = ledgerLines(out);
    expect(doneAtKill).toBeGreaterThanOrEqual(4);
    expect(doneAtKill).toBeLessThan(128);
    expect(existsSync(join(out, 'summary.json'))).toBe(false);

    // A kill can also land in the middle of a write: leave half a row in both tables.
    appendFileSync(join(out, 'results.jsonl'), '{"point":127,"point_id":"deadbeefdeadbeef","hw":"mi3');
    appendFileSync(join(out, 'results.csv'), '127,deadbeefdeadbeef,51');

    const resumed = silicaJson<{ ran: number; skipped: number; rows: number }>(['sweep', SWEEP, '--out', out, '--jobs', '2', '--resume']);
    expect(resumed.skipped).toBeGreaterThanOrEqual(doneAtKill);
    expect(resumed.ran + resumed.skipped).toBe(128);

    const rows = jsonlRows(out);
    const perPoint = new Map<string, number>();
    for (const r of rows) perPoint.set(r.point_id as string, (perPoint.get(r.point_id as string) ?? 0) + 1);
    expect([...perPoint.keys()].sort()).toEqual(ids); // none missing, no stranger
    expect(new Set(perPoint.values())).toEqual(new Set([76])); // 2 GEMMs x 38 CU counts, each once
    expect(read(join(out, 'results.csv')).trimEnd().split('\n')).toHaveLength(1 + 128 * 76);
    const ledger = read(join(out, 'points.jsonl')).trimEnd().split('\n').map((l) => JSON.parse(l).point);
    expect(ledger).toEqual([...Array(128).keys()]);

    // And the result is the one an uninterrupted run gives, byte for byte.
    const clean = join(dir, 'clean');
    expect(silica(['sweep', SWEEP, '--out', clean, '--jobs', '2']).code).toBe(0);
    for (const f of ['results.csv', 'results.jsonl', 'points.jsonl', 'summary.json']) expect(read(join(out, f)), f).toBe(read(join(clean, f)));
  });

  it('refuses to resume into a folder that holds another sweep', () => {
    const dir = tempDir('foreign');
    expect(silica(['sweep', join(FIXTURES, 'small.yaml'), '--out', dir, '--jobs', '1']).code).toBe(0);
    const r = silica(['sweep', SWEEP, '--out', dir, '--jobs', '1', '--resume']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--resume: the folder holds point 0 .* that is not in .*slow\.yaml; the sweep, or a file its points read, changed: use a new --out/);
  });
});
