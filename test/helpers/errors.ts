import { expect } from 'vitest';
import { SilicaError } from '../../src/core/errors.js';

/**
 * The in-process counterpart of expectOneLineError: the message of the error `f` throws, which
 * must be a one-line SilicaError (bad input), not an internal error.
 */
export function silicaErrorOf(f: () => unknown): string {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a SilicaError to be thrown').toBeInstanceOf(SilicaError);
  const message = (caught as Error).message;
  expect(message).not.toMatch(/\n/);
  return message;
}
