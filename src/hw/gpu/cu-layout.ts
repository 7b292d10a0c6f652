import type { ComputeConfig } from '../config/schema.js';

/**
 * Where each logical CU lives. Logical CU i is the CU that bit i of a CU mask names, so the
 * layout encodes the part's mask semantics:
 * - `interleaved-groups` (MI300X SPX): bit i -> XCD (i mod G); the bits an XCD receives fill its
 *   shader engines round-robin [S8, S11].
 * - `linear`: CUs numbered group by group.
 */
export interface CuLayout {
  readonly cus: number;
  readonly groups: number;
  /** groupOfCu[i] = CU group (XCD/GPC) of logical CU i. */
  readonly groupOfCu: Uint16Array;
  /** shaderEngineOfCu[i] = shader engine index within its group. */
  readonly shaderEngineOfCu: Uint16Array;
  /** CUs per group. */
  readonly cusInGroup: Uint16Array;
}

/**
 * Layouts are pure functions of the (frozen) compute config and are asked for on every kernel a
 * sweep simulates: build each once.
 */
const layoutCache = new WeakMap<ComputeConfig, CuLayout>();

export function makeCuLayout(compute: ComputeConfig): CuLayout {
  let layout = layoutCache.get(compute);
  if (!layout) {
    layout = buildCuLayout(compute);
    layoutCache.set(compute, layout);
  }
  return layout;
}

function buildCuLayout(compute: ComputeConfig): CuLayout {
  const { cus, cu_groups: groups, shader_engines_per_group: ses } = compute;
  const groupOfCu = new Uint16Array(cus);
  const shaderEngineOfCu = new Uint16Array(cus);
  const cusInGroup = new Uint16Array(groups);
  const seen = new Uint16Array(groups);
  for (let i = 0; i < cus; i++) {
    const g = compute.mask_layout === 'interleaved-groups' ? i % groups : Math.min(groups - 1, Math.floor((i * groups) / cus));
    groupOfCu[i] = g;
    shaderEngineOfCu[i] = seen[g]! % ses;
    seen[g]!++;
    cusInGroup[g]!++;
  }
  return { cus, groups, groupOfCu, shaderEngineOfCu, cusInGroup };
}
