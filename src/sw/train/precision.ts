import { SilicaError } from '../../core/errors.js';
import type { Dtype } from '../../hw/config/schema.js';

export const PRECISIONS = ['fp32', 'mixed', 'fp16', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/**
 * What a training precision means for the kernels:
 * - fp32: everything fp32.
 * - mixed (Micikevicius et al., ICLR 2018; Apex O2 / Megatron): fp16 or bf16 weights, activations
 *   and gradients; fp32 master weights and optimizer state; gradients unscaled (fp16, with the
 *   inf/NaN check of dynamic loss scaling) or cast (bf16, whose range needs no loss scaling) into
 *   fp32 before the update, which also writes the half-precision copy of the weights.
 * - fp16 / bf16: pure half precision, state included (fp16 still needs loss scaling).
 */
export interface PrecisionPlan {
  precision: Precision;
  compute: Dtype;
  grad: Dtype;
  /** Optimizer state and master-weight dtype. */
  state: Dtype;
  masterWeights: boolean;
  lossScaling: boolean;
}

export function precisionPlan(precision: string, mixedDtype: string = 'fp16'): PrecisionPlan {
  if (!(PRECISIONS as readonly string[]).includes(precision)) throw new SilicaError(`--precision: expected one of ${PRECISIONS.join(', ')}, got "${precision}"`);
  if (mixedDtype !== 'fp16' && mixedDtype !== 'bf16') throw new SilicaError(`--mixed-dtype: expected fp16 or bf16, got "${mixedDtype}"`);
  switch (precision as Precision) {
    case 'fp32':
      return { precision: 'fp32', compute: 'fp32', grad: 'fp32', state: 'fp32', masterWeights: false, lossScaling: false };
    case 'mixed':
      return { precision: 'mixed', compute: mixedDtype, grad: mixedDtype, state: 'fp32', masterWeights: true, lossScaling: mixedDtype === 'fp16' };
    case 'fp16':
      return { precision: 'fp16', compute: 'fp16', grad: 'fp16', state: 'fp16', masterWeights: false, lossScaling: true };
    case 'bf16':
      return { precision: 'bf16', compute: 'bf16', grad: 'bf16', state: 'bf16', masterWeights: false, lossScaling: false };
  }
}
