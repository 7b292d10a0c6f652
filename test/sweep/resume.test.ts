import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, silica, silicaJson } from '../helpers/cli.js';
import { FIXTURES, jsonlRows, read, tempDir } from './helpers.js';
import { psProcess } from '../../src/sweep/store.js';

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

  it('says how to go on when stopped by SIGTERM or SIGINT (a scheduler, Ctrl-C), and resumes to every point once', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const out = join(tempDir(`signal-${signal}`), 'out');
      const child = spawn(process.execPath, [CLI, 'sweep', SWEEP, '--out', out, '--jobs', '2', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const t0 = Date.now();
      while (ledgerLines(out) < 2 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 10));
      child.kill(signal);
      expect(await exited).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(stderr.trim()).toBe(`silica sweep: stopped by ${signal}; the points finished so far are kept in ${out}: run the same command with --resume to finish`);
      const resumed = silicaJson<{ ran: number; skipped: number }>(['sweep', SWEEP, '--out', out, '--jobs', '2', '--resume']);
      expect(resumed.ran + resumed.skipped).toBe(128);
      expect(resumed.skipped).toBeGreaterThanOrEqual(2);
    }
  });

  it('refuses to resume a folder whose points the edited sweep numbers otherwise', () => {
    const dir = tempDir('renumbered');
    const file = join(dir, 'grid.yaml');
    const sweep = (values: string) => `base:\n  kind: kernels\n  hw: mi300x\n  figure: false\n  cus: [38]\n  points:\n    - { op: gemm, m: 64, n: 1024, k: 1024 }\naxes:\n  points.0.m: { name: m, values: ${values} }\n`;
    writeFileSync(file, sweep('[1, 64, 1024]'));
    const out = join(dir, 'out');
    expect(silica(['sweep', file, '--out', out, '--jobs', '1']).code).toBe(0);
    const before = read(join(out, 'results.csv'));
    // Every point of the folder is still in the sweep, but 64 and 1024 are now points 2 and 3.
    writeFileSync(file, sweep('[1, 32, 64, 1024]'));
    const r = silica(['sweep', file, '--out', out, '--jobs', '1', '--resume']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--resume: the folder holds point 1 \(id \w+\) that .*grid\.yaml now numbers 2; the sweep's axes, variants or filters changed: use a new --out$/m);
    expect(read(join(out, 'results.csv'))).toBe(before);
  });

  it('refuses a second run into a folder a live run is writing, and takes over a dead run\'s lock', async () => {
    const dir = tempDir('locked');
    const small = join(FIXTURES, 'small.yaml');
    expect(silica(['sweep', small, '--out', dir, '--jobs', '1']).code).toBe(0);
    const lock = join(dir, 'sweep.lock');
    expect(existsSync(lock)).toBe(false);
    const before = read(join(dir, 'results.csv'));
    // A live process of this host holds the folder (as a run in progress would).
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const gone = new Promise((resolve) => holder.on('exit', resolve));
    try {
      writeFileSync(lock, JSON.stringify({ pid: holder.pid, host: hostname() }) + '\n');
      const r = silica(['sweep', small, '--out', dir, '--jobs', '1', '--resume']);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`another silica sweep \\(process ${holder.pid}\\) is writing this folder; wait for it to end or use another --out \\(if no sweep is running there, remove ${lock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`, 'm'));
      expect(read(join(dir, 'results.csv'))).toBe(before);
    } finally {
      holder.kill('SIGKILL');
      await gone;
    }
    // Its holder killed, the lock is stale: the next run takes it over, and releases it at the end.
    expect(silica(['sweep', small, '--out', dir, '--jobs', '1']).code).toBe(0);
    expect(existsSync(lock)).toBe(false);
    expect(read(join(dir, 'results.csv'))).toBe(before);
  });

  it('takes over a lock whose pid now belongs to a process started later (the pids wrapped around)', async () => {
    if (process.platform !== 'linux') return;
    const dir = tempDir('reused-pid');
    const small = join(FIXTURES, 'small.yaml');
    const lock = join(dir, 'sweep.lock');
    // When a process started, as the lock records it: the boot's id and /proc/PID/stat field 22.
    const startedOf = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
    };
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    const gone = new Promise((resolve) => live.on('exit', resolve));
    try {
      const started = startedOf(live.pid!);
      // The lock's holder is this very process: refused.
      writeFileSync(lock, JSON.stringify({ pid: live.pid, host: hostname(), started }) + '\n');
      const r = silica(['sweep', small, '--out', dir, '--jobs', '1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`another silica sweep \\(process ${live.pid}\\)`));
      // The lock's holder started at another time: this process only got its pid. Taken over.
      const [boot, ticks] = started.split('/');
      writeFileSync(lock, JSON.stringify({ pid: live.pid, host: hostname(), started: `${boot}/${Number(ticks) - 1}` }) + '\n');
      const again = silica(['sweep', small, '--out', dir, '--jobs', '1']);
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      expect(existsSync(lock)).toBe(false);
    } finally {
      live.kill('SIGKILL');
      await gone;
    }
  });

  it('takes over the lock of a run killed but not yet reaped (a zombie still answers signal 0)', async () => {
    if (process.platform !== 'linux') return;
    const dir = tempDir('zombie');
    const small = join(FIXTURES, 'small.yaml');
    // The shell starts `sleep 0.3` and becomes `sleep 30` well before it ends (a shell may reap a
    // child that ended before its exec): `sleep 30` never reaps it, a zombie, as a run killed with
    // -9 is until its parent waits for it.
    const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const gone = new Promise((resolve) => parent.on('exit', resolve));
    try {
      const zombie = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      const t0 = Date.now();
      const state = () => readFileSync(`/proc/${zombie}/stat`, 'utf8');
      while (!state().includes(') Z') && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      expect(state()).toContain(') Z');
      writeFileSync(join(dir, 'sweep.lock'), JSON.stringify({ pid: zombie, host: hostname() }) + '\n');
      const r = silica(['sweep', small, '--out', dir, '--jobs', '1']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    } finally {
      parent.kill('SIGKILL');
      await gone;
    }
  });

  it('without /proc, asks ps when a process started and whether it is a zombie', async () => {
    // What macOS and the BSDs fall back to; ps answers the same way here (where it is installed).
    if (process.platform === 'win32' || spawnSync('ps', ['-p', '1']).error) return;
    const me = psProcess(process.pid)!;
    expect(me.started).toMatch(/^ps\/\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}$/);
    expect(me.state).not.toMatch(/^Z/);
    expect(psProcess(process.pid)!.started).toBe(me.started);
    // The first process started long before this one: another start, so another holder.
    expect(psProcess(1)?.started).not.toBe(me.started);
    const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const gone = new Promise((resolve) => parent.on('exit', resolve));
    try {
      const zombie = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))));
      const t0 = Date.now();
      while (!psProcess(zombie)?.state.startsWith('Z') && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      expect(psProcess(zombie)?.state).toMatch(/^Z/);
    } finally {
      parent.kill('SIGKILL');
      await gone;
    }
    // A process that is gone has no start.
    expect(psProcess(parent.pid!)).toBeUndefined();
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
