/**
 * Shape buckets for memoising iteration costs. Exact up to 32, then the nearest point of a grid
 * whose step is 1/16 of the value's power of two (so within ±3.2% of the true value, unbiased):
 * 33..63 step 2, 64..127 step 4, ..., 16384..32767 step 1024. Kernel costs are smooth in token
 * counts and context lengths at that scale (GEMM tile quantisation aside, which the grid keeps
 * wherever M is small: exact below 32 rows).
 */
export function bucket(n: number): number {
  if (n <= 32) return Math.max(0, Math.round(n));
  // The power of two below n: from the bit length for whole numbers (nearly every call, and far
  // cheaper than log2, which served costs call millions of times); the same value either way.
  const power = Number.isInteger(n) && n < 2 ** 31 ? 31 - Math.clz32(n) : Math.floor(Math.log2(n));
  const step = 2 ** (power - 4);
  return Math.max(32, Math.round(n / step) * step);
}
