import { isMapping } from '../../core/yaml-config.js';

/** One field that two hardware configs set differently (undefined: the config leaves it out). */
export interface FieldDifference {
  field: string;
  a: unknown;
  b: unknown;
}

/**
 * The fields two configs set differently, in the first config's field order (then the second's):
 * mappings are compared field by field, a list or a value whole. What an architect reads to see
 * what a variant changes (`silica hw diff mi300x my-gpu.yaml`).
 */
export function configDifferences(a: unknown, b: unknown, prefix = ''): FieldDifference[] {
  if (isMapping(a) && isMapping(b)) {
    const keys = [...Object.keys(a), ...Object.keys(b).filter((k) => !Object.hasOwn(a, k))];
    return keys.flatMap((k) => configDifferences(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ field: prefix || '(top level)', a, b }];
}
