// Bundles the compiled CLI (dist/src, from tsc) into dist/bundle: a command's start-up then reads a
// few files instead of ~300 ES modules (silica's own and zod's), which took half of the 0.8-1 s every
// `silica` invocation, every sweep worker and every Slurm task paid before doing any work.
// Entry points keep their names, so `new URL('./sweep-worker.js', import.meta.url)` still finds the
// worker beside the chunk that asks for it; code split into shared chunks loads once per thread;
// commands and heavy libraries (vega for plots) stay in chunks of their own, loaded when used.
import { copyFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry content hashes: without a clean folder every build would leave the last one's behind.
rmSync('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: {
    main: 'dist/src/cli/main.js',
    'sweep-worker': 'dist/src/sweep/sweep-worker.js',
    worker: 'dist/src/sweep/worker.js',
    'serve-worker': 'dist/src/study/serve/serve-worker.js',
  },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]',
  // piscina finds its own worker file through __dirname: it stays a package import.
  external: ['piscina'],
  // CommonJS packages inside an ES module bundle still call require().
  banner: { js: "import { createRequire as __silicaRequire } from 'node:module'; const require = __silicaRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});

// The CommonJS file every pool worker loads first (src/sweep/lane-shim.cjs): pool.ts finds it
// beside itself, so beside the chunks. It requires only node:worker_threads and imports the worker
// module it is told to, so it is copied as it is.
copyFileSync('src/sweep/lane-shim.cjs', 'dist/bundle/lane-shim.cjs');
