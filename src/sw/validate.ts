import { SilicaError } from '../core/errors.js';

export function checkPositiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new SilicaError(`${field}: expected a positive whole number, got ${JSON.stringify(value)}`);
  return value;
}

export function checkNonNegativeInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new SilicaError(`${field}: expected a non-negative whole number, got ${JSON.stringify(value)}`);
  return value;
}
