import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'bundle', 'main.js');
/** ../shared beside the clone (CI lays it there); tests that need it skip when it is absent. */
export const SHARED = join(ROOT, '..', 'shared');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (npm test builds first) the way a user would. */
export function silica(args: string[], options: { cwd?: string; input?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function silicaJson<T = Record<string, unknown>>(args: string[]): T {
  const r = silica([...args, '--json']);
  if (r.code !== 0) throw new Error(`silica ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A one-line error on stderr, no stack trace, non-zero exit. */
export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  if (r.code === 0) throw new Error(`expected failure, got exit 0 with ${r.stdout.slice(0, 200)}`);
  const lines = r.stderr.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one stderr line, got ${lines.length}: ${r.stderr}`);
  if (!/^silica: /.test(lines[0]!)) throw new Error(`expected "silica: ..." got ${lines[0]}`);
  if (/\bat .*\.(js|ts):\d+/.test(r.stderr)) throw new Error(`stack trace in stderr: ${r.stderr}`);
  if (!pattern.test(lines[0]!)) throw new Error(`stderr ${lines[0]} does not match ${pattern}`);
}
