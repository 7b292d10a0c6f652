import { z } from 'zod';
import { boundedMemoBy } from '../../core/bounded-memo.js';
import { flagAsField, SilicaError } from '../../core/errors.js';
import { flattenLeaves, lookupPath } from '../../core/tree.js';
import { hardwareRef, hardwareVersion, isHardwareField, isHardwarePath, loadHardware, readHardwareTree } from './load.js';
import type { HardwareConfig } from './schema.js';

/**
 * `hw_overrides`: a partial hardware tree laid over an experiment's preset, the same field in every
 * experiment kind (kernels, t3, bert, serve), so that one sweep path (`hw_overrides.compute.cus`)
 * varies a part's fields whatever the study. Nested mappings and dotted keys mean the same thing:
 * `{memory: {hbm: {efficiency: 0.8}}}` or `{memory.hbm.efficiency: 0.8}`.
 */
export const hardwareOverridesSchema = z.record(z.string(), z.unknown()).default({});
export type HardwareOverrides = z.infer<typeof hardwareOverridesSchema>;

/**
 * The overrides as `--set` overlays (`path=value`), each path checked against the part: a field the
 * preset gives, or one its schema has (an optional field the preset leaves out). A path that is
 * neither is refused here, naming the override, rather than as an unknown overlay further down.
 */
export function overrideOverlays(ref: string, shownAs: string, overrides: HardwareOverrides, where = 'hw_overrides'): string[] {
  const leaves = flattenLeaves(overrides);
  checkEachFieldOnce(leaves, where);
  // The preset's tree is read only to check the overrides' paths: most configs have none.
  const preset = leaves.length ? readHardwareTree(ref) : undefined;
  for (const [field] of leaves) {
    const found = lookupPath(preset, field);
    if (!found.found && !isHardwareField(preset, field)) throw new SilicaError(`${where}.${field}: no such hardware field in ${shownAs} (${found.reason})`);
  }
  return leaves.map(asOverlay);
}

/**
 * A dotted key and a nested mapping may name one field (`{memory.hbm.efficiency: 0.8, memory: {hbm:
 * {efficiency: 0.7}}}`), or one may replace a mapping the other sets a field of: which one won
 * would be the order of the keys in the file, so the field is refused rather than set quietly.
 */
function checkEachFieldOnce(leaves: ReadonlyArray<[string, unknown]>, where: string): void {
  for (let i = 0; i < leaves.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, va] = leaves[j]!;
      const [b, vb] = leaves[i]!;
      if (a === b || b.startsWith(`${a}.`) || a.startsWith(`${b}.`)) {
        const field = a.length <= b.length ? a : b;
        throw new SilicaError(`${where}.${field}: expected each hardware field once, got ${a}=${JSON.stringify(va)} and ${b}=${JSON.stringify(vb)} (a dotted key and a nested mapping name the same field)`);
      }
    }
  }
}

/** The overrides as `path=value` overlays, unchecked: for saying what a part was given (reports). */
export function overridesAsOverlays(overrides: HardwareOverrides): string[] {
  return flattenLeaves(overrides).map(asOverlay);
}

const asOverlay = ([field, value]: [string, unknown]): string => `${field}=${JSON.stringify(value)}`;

/** The part `hw` (a preset, or a path relative to `baseDir`) with its overrides laid over it. */
export function hardwareWithOverrides(hw: string, overrides: HardwareOverrides, baseDir?: string, where?: string): HardwareConfig {
  const ref = hardwareRef(hw, baseDir);
  return loadHardware(ref, overrideOverlays(ref, hw, overrides, where));
}

/**
 * `hardwareWithOverrides` for an experiment's `check`, remembered by folder, name and overrides: a
 * kind's `check` runs for every point of a sweep (the bench's 1024 points are four parts, not 1024
 * loads). Its errors name the file's field (`hw: unknown preset "nope"`, or `hwAt` where the part
 * is named elsewhere, say `studies.0.vary.hw.1`), not the command-line flag the loader speaks of.
 */
export const checkedHardware: (hw: string, overrides: HardwareOverrides, baseDir: string, where?: string, hwAt?: string) => HardwareConfig = boundedMemoBy(
  // A file's version (and its base chain's) is part of the key: a file edited between two loads in
  // one process (a library user's, a test's) is read again. Presets ship with silica and are not
  // statted for every point of a sweep. A file that cannot be read is left to the load to report.
  (hw: string, overrides: HardwareOverrides, baseDir: string) => JSON.stringify([baseDir, hw, overrides, isHardwarePath(hw) ? versionOrNothing(hardwareRef(hw, baseDir)) : null]),
  (hw: string, overrides: HardwareOverrides, baseDir: string, where?: string, hwAt?: string) => {
    try {
      return hardwareWithOverrides(hw, overrides, baseDir, where);
    } catch (err) {
      if (err instanceof SilicaError) throw new SilicaError(flagAsField(err.message, (f) => (f === 'hw' ? (hwAt ?? f) : f)));
      throw err;
    }
  },
);

function versionOrNothing(ref: string): string | null {
  try {
    return hardwareVersion(ref);
  } catch {
    return null;
  }
}
