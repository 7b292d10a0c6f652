import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gzip, joinDelimited, maybeGunzip, splitDelimited } from '../../src/trace/framing.js';
import { loadTrace } from '../../src/trace/load.js';
import { silicaTypes } from '../../src/trace/proto.js';
import { encodeSilicaTrace } from '../../src/trace/silica-format.js';
import type { Trace, TraceNode } from '../../src/trace/types.js';
import { ROOT, SHARED, expectOneLineError, silica } from '../helpers/cli.js';
import { silicaErrorOf } from '../helpers/errors.js';

/**
 * Malformed traces give one line naming the file and the problem, and a non-zero exit: one CLI
 * run per kind of damage; variants are checked in-process (same SilicaError, no CLI start-up).
 */
const dir = mkdtempSync(join(tmpdir(), 'silica-malformed-'));

function kernel(id: number, deps: number[]): TraceNode {
  return { id, name: `k${id}`, kind: 'kernel', category: 'elementwise', pass: 'fwd', deps, stream: 'compute', kernel: { op: 'memcpy', bytes: 1 << 20 } };
}
const trace = (nodes: TraceNode[]): Trace => ({ meta: { test: 'malformed' }, worldSize: 1, programs: [nodes] });
const chain = Array.from({ length: 40 }, (_, i) => kernel(i, i ? [i - 1] : []));

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** The in-process equivalent of expectOneLineError. */
function expectLoadError(path: string, pattern: RegExp): void {
  expect(silicaErrorOf(() => loadTrace(path))).toMatch(pattern);
}

function varintTag(field: number, wire: number): number[] {
  let v = (field << 3) | wire;
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

describe('malformed traces', () => {
  it('truncated: a file cut inside a message, or at a message boundary', () => {
    const bytes = encodeSilicaTrace(trace(chain));
    const cut = file('cut.silica', bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    expectOneLineError(silica(['replay', cut]), /cut\.silica: truncated: message \d+ at byte \d+ needs \d+ bytes, \d+ left/);
    const messages = splitDelimited(bytes, 'x');
    expectLoadError(file('boundary.silica', joinDelimited(messages.slice(0, 30))), /boundary\.silica: truncated: header\.program_nodes announces 40 nodes, the file has 29/);
  });

  it('wrong message: a Node where the Header belongs, a Header where a Node belongs, a mistyped field, a foreign file', () => {
    const messages = splitDelimited(encodeSilicaTrace(trace(chain.slice(0, 3))), 'x');
    expectOneLineError(silica(['replay', file('noheader.silica', joinDelimited(messages.slice(1)))]), /noheader\.silica: message 1: expected a silica Header record, got a node record/);
    expectLoadError(file('twoheaders.silica', joinDelimited([messages[0]!, messages[0]!, messages[1]!, messages[2]!])), /twoheaders\.silica: message 2: expected a Node record, got a header record/);
    // A Node whose `kernel` (a message, wire type 2) arrives as a varint.
    const t = silicaTypes();
    const node = [...t.node.encode(t.node.fromObject({ id: 1, name: 'x', kind: 'KERNEL', stream: 's' })).finish(), ...varintTag(9, 0), 5];
    const badNode = joinDelimited([messages[0]!, Uint8Array.from([...varintTag(1001, 2), node.length, ...node]), messages[2]!, messages[3]!]);
    expectLoadError(file('badnode.silica', badNode), /badnode\.silica: message 2: not a valid silica TraceRecord \(Node\.kernel \(field 9\) has wire type 0, expected 2\)/);
    expectLoadError(file('garbage.bin', new TextEncoder().encode('hello, not a trace at all\n')), /garbage\.bin: not a silica trace .* nor a Chakra ET/);
    // A silica Header record of another format is a silica trace with a wrong header, not an unknown file.
    const plain = maybeGunzip(encodeSilicaTrace(trace(chain.slice(0, 2)), { gzip: false }), 'x');
    const renamed = Buffer.from(plain).toString('latin1').replace('silica-trace', 'nopenopenope');
    expectLoadError(file('format.pb', Buffer.from(renamed, 'latin1')), /format\.pb: header\.format: expected "silica-trace", got "nopenopenope"$/);
  });

  it('a directory is not a trace: say so rather than "no such trace"', () => {
    const folder = mkdtempSync(join(dir, 'folder-'));
    expectOneLineError(silica(['replay', folder]), new RegExp(`${folder}: expected a trace file \\(a silica trace, or a Chakra ET prefix with files ${folder}\\.<rank>\\.et\\), got a directory$`));
  });

  it('dependency on a missing node', () => {
    const bytes = encodeSilicaTrace(trace([kernel(0, []), kernel(1, [0]), kernel(2, [99])]));
    expectOneLineError(silica(['replay', file('missing.silica', bytes)]), /missing\.silica: node 2 "k2": deps: names node 99, which is not in the trace/);
  });

  it('dependency cycle', () => {
    const bytes = encodeSilicaTrace(trace([kernel(0, []), kernel(1, [0, 3]), kernel(2, [1]), kernel(3, [2])]));
    expectOneLineError(silica(['inspect', file('cycle.silica', bytes)]), /cycle\.silica: dependency cycle: \d "k\d" -> \d "k\d" -> \d "k\d" -> \d "k\d"/);
    expectLoadError(file('self.silica', encodeSilicaTrace(trace([kernel(0, [0])]))), /self\.silica: dependency cycle: 0 "k0" -> 0 "k0"/);
  });

  it('a truncated Chakra ET', () => {
    const src = join(SHARED, 'data', 'chakra', 'astra-sim-tutorials', 'micro2024', 'astra-sim-demo', 'demo2', 'workload', 'MLP_ModelParallel.0.et');
    let raw: Buffer;
    try {
      raw = readFileSync(src);
    } catch {
      return; // ../shared absent
    }
    expectLoadError(file('mlp.0.et', raw.subarray(0, raw.length - 10)), /mlp\.0\.et: truncated: message \d+ at byte \d+ needs/);
  });
  it('an endless stdin or a gzip bomb ends in an error instead of filling memory', () => {
    // readStdin as the CLI runs it (built code, fd 0 = an endless device), with a small limit.
    const load = pathToFileURL(join(ROOT, 'dist', 'src', 'trace', 'load.js')).href;
    const zero = openSync('/dev/zero', 'r');
    try {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { readStdin } from ${JSON.stringify(load)}; try { readStdin(5e6); } catch (e) { console.log(e.message); }`], {
        stdio: [zero, 'pipe', 'pipe'],
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.stdout.trim()).toBe('stdin: expected a trace of at most 5000000 bytes, got more (an endless stream?)');
    } finally {
      closeSync(zero);
    }
    const bomb = gzip(new Uint8Array(1 << 20));
    expect(bomb.length).toBeLessThan(4096);
    expect(() => maybeGunzip(bomb, 'bomb.gz', 100_000)).toThrow(/^bomb\.gz: expected a gzip stream of at most 100000 bytes uncompressed, got more$/);
    expect(maybeGunzip(bomb, 'bomb.gz', 1 << 20).length).toBe(1 << 20);
  });
});
