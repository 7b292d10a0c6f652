/**
 * One global clock in nanoseconds (float64). Each hardware domain (engine clock, memory clock,
 * link clock) converts explicitly; nothing stores time in cycles of an implicit domain.
 */
export class ClockDomain {
  readonly periodNs: number;
  constructor(
    readonly name: string,
    readonly ghz: number,
  ) {
    this.periodNs = 1 / ghz;
  }
  cyclesToNs(cycles: number): number {
    return cycles / this.ghz;
  }
  nsToCycles(ns: number): number {
    return ns * this.ghz;
  }
}

export const NS_PER_US = 1e3;
export const NS_PER_MS = 1e6;
export const NS_PER_S = 1e9;
