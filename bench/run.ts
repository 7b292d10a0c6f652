/**
 * `npm run bench`: runs the benchmark modules in order and prints one line per measurement.
 * A benchmark is a bench/NAME.bench.ts module exporting `run(): BenchLine[] | Promise<BenchLine[]>`;
 * add it to BENCHES. `npm run bench -- sweep` runs only the modules whose name contains "sweep".
 */
// The V8 settings the CLI runs with (src/cli/v8-flags.ts), set before any benchmark: the benches
// import the studies in-process, and without it the T3 study's bench spent 22-26% of its time in GC
// where `silica run` spends 13-16% (session 40), so it measured a process no user runs.
import '../src/cli/v8-flags.js';
import type { BenchLine } from './core.bench.js';

const BENCHES = ['core', 'bert', 'sweep', 'scale', 't3', 'serve'];

function format(value: number): string {
  if (Number.isInteger(value) || Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const selected = BENCHES.filter((b) => filters.length === 0 || filters.some((f) => b.includes(f)));
  if (selected.length === 0) throw new Error(`no benchmark matches ${filters.join(', ')} (have: ${BENCHES.join(', ')})`);
  for (const name of selected) {
    const mod = (await import(`./${name}.bench.js`)) as { run(): BenchLine[] | Promise<BenchLine[]> };
    for (const line of await mod.run()) process.stdout.write(`${line.name}: ${format(line.value)} ${line.unit}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
