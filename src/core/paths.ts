import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The installed package root (where package.json and configs/ live), found by walking up from
 * this module. Works both from `src/` under vitest and from `dist/src/` after the build.
 */
export function packageRoot(): string {
  // Found once: every hardware preset a sweep point loads asks for it.
  root ??= findPackageRoot();
  return root;
}

let root: string | undefined;

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'configs'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('silica: cannot locate the package root (configs/ not found)');
    dir = parent;
  }
}

export function configsDir(...parts: string[]): string {
  return join(packageRoot(), 'configs', ...parts);
}
