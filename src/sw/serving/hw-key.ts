import type { HardwareConfig } from '../../hw/config/schema.js';

const keys = new WeakMap<HardwareConfig, string>();

/** A stable key for a resolved hardware config (overlays included), computed once per object. */
export function hwKey(hw: HardwareConfig): string {
  let k = keys.get(hw);
  if (k === undefined) {
    k = JSON.stringify(hw);
    keys.set(hw, k);
  }
  return k;
}
