import { createRequire } from 'node:module';
const before = new Set(Object.keys(createRequire(import.meta.url).cache));
await import('./dist/src/sweep/sweep-worker.js');
const req = createRequire(import.meta.url);
const pk = new Map();
for (const k of Object.keys(req.cache)) { const m = k.match(/node_modules\/((@[^/]+\/)?[^/]+)/); if (m) pk.set(m[1], (pk.get(m[1]) ?? 0) + 1); }
console.log('CJS modules by package', Object.fromEntries(pk));
