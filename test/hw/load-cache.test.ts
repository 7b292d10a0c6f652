import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHardware } from '../../src/hw/config/load.js';
import { ROOT } from '../helpers/cli.js';

describe('hardware config loading', () => {
  it('serves repeated loads from memory but rereads a file that changed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silica-hwcache-'));
    const path = join(dir, 'gpu.yaml');
    copyFileSync(join(ROOT, 'configs', 'hw', 'mi300x.yaml'), path);
    const first = loadHardware(path);
    expect(loadHardware(path)).toBe(first);
    expect(Object.isFrozen(first.compute)).toBe(true);
    // Overlays are part of the key.
    const derated = loadHardware(path, ['memory.hbm.efficiency=0.5']);
    expect(derated.memory.hbm.efficiency).toBe(0.5);
    expect(loadHardware(path).memory.hbm.efficiency).toBe(first.memory.hbm.efficiency);
    // An edit (here: a longer file) is seen at once.
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^(\s*)cus: 304\b/m, '$1cus: 296 # edited'));
    const edited = loadHardware(path);
    expect(edited.compute.cus).toBe(296);
    expect(first.compute.cus).toBe(304);
  });
});
