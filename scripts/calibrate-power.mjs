// Derives the H200 preset's compute.power constants from the measurements in validation/measured/
// (after `npm run build`: node scripts/calibrate-power.mjs). It prints the numbers the preset's
// comments cite; nothing else reads this script.
//
// Board power = static_w + tensor_w_per_tflops x TFLOP/s + dram_w_per_tbps x TB/s of DRAM traffic,
// at the peak clock (src/hw/gpu/power.ts). Two figures set the three constants, jointly:
//  1. static_w and tensor_w_per_tflops: a least-squares line through the board power of the 4096^3
//     bf16 GEMM on green contexts of 8-64 SMs, every run that held the peak clock
//     (h200-141gb-hbm3e-clocks.json), against its measured TFLOP/s, after taking off the DRAM term
//     (silica's DRAM bytes for that GEMM over its measured time).
//  2. dram_w_per_tbps: the value at which silica's decode step of 64 requests at 2048 tokens on the
//     whole chip (serving_steps.py's decode 64x2048) runs at a median clock of 1940 MHz, between the
//     two runs' NVML medians (1905 and 1980 MHz, h200-141gb-hbm3e-serving.json): the step sits at the
//     cap's edge. Found by bisection over silica's own governor, so it rests on silica's bytes.
// Each depends on the other (the GEMMs move bytes; the decode step runs GEMMs), so the two are
// repeated until they settle.
import { readFileSync } from 'node:fs';
import { loadHardware } from '../dist/src/hw/config/load.js';
import { System } from '../dist/src/hw/system.js';
import { Stream } from '../dist/src/hw/gpu/gpu.js';
import { makeCuLayout } from '../dist/src/hw/gpu/cu-layout.js';
import { firstNCus } from '../dist/src/hw/gpu/cu-mask.js';
import { timeKernel } from '../dist/src/hw/gpu/kernel-timing.js';
import { gemmCost } from '../dist/src/kernels/gemm.js';
import { getModel } from '../dist/src/sw/models/index.js';
import { IterationCostModel } from '../dist/src/sw/serving/cost-model.js';

const CAP_W = 700;
const DECODE_TARGET_MHZ = 1940;
const runs = JSON.parse(readFileSync(new URL('../validation/measured/h200-141gb-hbm3e-clocks.json', import.meta.url), 'utf8')).runs;
const atPeak = runs.filter((r) => r.sm_clock_mhz_median >= 1980);

const base = loadHardware('h200-sxm');
const layout = makeCuLayout(base.compute);
/** TB/s of DRAM traffic each fitted GEMM moved: silica's bytes over the measured time. */
const dramTbps = atPeak.map((r) => {
  const [m, n, k] = r.gemm;
  const set = firstNCus(layout, r.sms);
  const kernel = gemmCost(base, { m, n, k, batch: 1, dtype: 'bf16' }, set);
  const seconds = (2 * m * n * k) / (r.tflops * 1e12);
  return timeKernel(base, layout, set, kernel).hbmBytes / seconds / 1e12;
});

function fitLine(dramW) {
  const xs = atPeak.map((r) => r.tflops);
  const ys = atPeak.map((r, i) => r.power_w_median - dramW * dramTbps[i]);
  const mx = xs.reduce((s, x) => s + x, 0) / xs.length;
  const my = ys.reduce((s, y) => s + y, 0) / ys.length;
  const slope = xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  return { staticW: my - slope * mx, tensorW: slope, residuals: ys.map((y, i) => y - (my - slope * mx) - slope * xs[i]) };
}

function decodeMedianMhz(staticW, tensorW, dramW) {
  const hw = loadHardware('h200-sxm', [
    `compute.power.cap_w=${CAP_W}`,
    `compute.power.static_w=${staticW}`,
    `compute.power.tensor_w_per_tflops=${tensorW}`,
    `compute.power.dram_w_per_tbps=${dramW}`,
  ]);
  const costs = new IterationCostModel(hw, getModel('llama3-8b'), { tp: 1, dtype: 'bf16', kvDtype: 'bf16' });
  const system = new System(hw, 1);
  const gpu = system.gpus[0];
  gpu.recordKernels = false;
  gpu.governor.logClock = true;
  const stream = new Stream(gpu, 'decode', costs.allCus);
  for (const s of costs.layerProgram('decode', 64, 2048, costs.allCus)) if (s.kind === 'kernel') stream.enqueue(s.cost);
  system.sim.run();
  return gpu.governor.medianMhz();
}

let dramW = 0;
let line = fitLine(dramW);
for (let round = 1; round <= 20; round++) {
  const before = dramW;
  let lo = 0;
  let hi = 1000;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (decodeMedianMhz(line.staticW, line.tensorW, mid) > DECODE_TARGET_MHZ) lo = mid;
    else hi = mid;
  }
  dramW = hi;
  line = fitLine(dramW);
  console.log(`round ${round}: static_w ${line.staticW.toFixed(2)}, tensor_w_per_tflops ${line.tensorW.toFixed(4)}, dram_w_per_tbps ${dramW.toFixed(2)}`);
  if (Math.abs(dramW - before) < 1e-3) break;
}
console.log(`fit on ${atPeak.map((r) => r.sms).join(', ')} SMs; residuals (W): ${line.residuals.map((r) => r.toFixed(1)).join(', ')}`);
console.log(`GEMM DRAM traffic (TB/s): ${dramTbps.map((t) => t.toFixed(3)).join(', ')}`);
// The values as the presets write them (test/hw/power.test.ts checks the presets against this line).
console.log(`preset: static_w ${line.staticW.toFixed(1)}, tensor_w_per_tflops ${line.tensorW.toFixed(3)}, dram_w_per_tbps ${dramW.toFixed(1)}`);
