import { SilicaError } from '../core/errors.js';

export function checkPositiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new SilicaError(`${field}: expected a positive whole number, got ${JSON.stringify(value)}`);
  return value;
}

export function checkNonNegativeInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new SilicaError(`${field}: expected a non-negative whole number, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * checkPositiveInt / checkNonNegativeInt for an element of a list, `list[index]suffix` naming it:
 * the name is formatted only when the check fails (a serving run lowers iterations by the
 * thousand, each with a name per decode request formatted for nothing).
 */
export function checkPositiveIntAt(value: unknown, list: string, index: number, suffix = ''): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  return checkPositiveInt(value, `${list}[${index}]${suffix}`);
}

export function checkNonNegativeIntAt(value: unknown, list: string, index: number, suffix = ''): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  return checkNonNegativeInt(value, `${list}[${index}]${suffix}`);
}
