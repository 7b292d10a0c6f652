import { xoroshiro128plus, unsafeUniformIntDistribution, type RandomGenerator } from 'pure-rand';

/**
 * Seeded random numbers. One Rng per independent consumer (e.g. per workload generator), each
 * derived from the run seed and a stream name, so adding a consumer never perturbs another's draws.
 */
export class Rng {
  private gen: RandomGenerator;

  constructor(seed: number, stream = '') {
    this.gen = xoroshiro128plus((seed ^ hashString(stream)) | 0);
  }

  /** Uniform in [0, 1) with 53 bits of resolution. */
  uniform(): number {
    const hi = unsafeUniformIntDistribution(0, (1 << 26) - 1, this.gen);
    const lo = unsafeUniformIntDistribution(0, (1 << 27) - 1, this.gen);
    return (hi * 134217728 + lo) / 9007199254740992;
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return unsafeUniformIntDistribution(lo, hi, this.gen);
  }

  exponential(rate: number): number {
    return -Math.log(1 - this.uniform()) / rate;
  }

  normal(): number {
    // Box-Muller; one draw per call keeps the sequence independent of call parity.
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Gamma(shape k, scale theta) by Marsaglia-Tsang. */
  gamma(shape: number, scale: number): number {
    if (shape < 1) return this.gamma(shape + 1, scale) * Math.pow(this.uniform(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v * scale;
    }
  }

  lognormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }
}

/** FNV-1a, 32-bit: stable across platforms and Node versions. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
