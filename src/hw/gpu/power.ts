import type { Simulator } from '../../core/simulator.js';
import type { KernelCost } from '../../kernels/types.js';
import type { HardwareConfig } from '../config/schema.js';
import type { KernelTiming } from './kernel-timing.js';
import { PACE_PASSES, PACE_TOLERANCE, type KernelPace } from './pace.js';

/**
 * The board power cap as it acts on kernels that run at the same time on one GPU.
 *
 * Chip power is a static part plus each running kernel's dynamic power, and dynamic power scales as
 * (clock / peak)^clock_exponent; the clock is the highest that keeps the sum under the cap. A
 * kernel's dynamic power at the peak clock comes from the work it does at its isolated rates: its
 * tensor FLOP rate and its DRAM traffic, each with an energy per unit (compute.power in the preset,
 * calibrated there). Power by work done, not by busy SM: a GEMM on 128 SMs of an H200 holds 1770
 * MHz where a busy-SM model gives 1573 (docs/calibration.md). Beside others a kernel draws that
 * power times the share of its work it does (PowerGovernor), so kernels that take turns on the same
 * SMs draw the work those SMs do.
 *
 * The governor is relative. Every isolated kernel time silica computes stays as calibrated (a
 * kernel alone runs as before, whatever its own clock would be; under a cap below the one it was
 * calibrated at, `calibrated_cap_w`, its isolated time already has the lower clock in it:
 * kernel-timing.ts capSlowdown); what the governor adds is the
 * clock a kernel loses when others run beside it: a kernel whose workgroups follow the clock (its
 * arithmetic, CU-side data movement and the DRAM bytes one SM moves: KernelTiming.followsClock)
 * runs at (clock together / clock alone) of its isolated pace, as far as the HBM it shares allows.
 * Without `compute.power` nothing changes.
 * Kernels launched through `Gpu.launch` take part; T3's producers and CU-engine collectives do not.
 */
export type PowerConfig = NonNullable<HardwareConfig['compute']['power']>;

/** A kernel's dynamic power (W) at the peak clock, from its tensor FLOP and DRAM byte rates alone. */
export function kernelDynamicW(power: PowerConfig, kernel: KernelCost, t: Pick<KernelTiming, 'isolatedNs' | 'hbmBytes'>): number {
  const ns = t.isolatedNs;
  if (!(ns > 0)) return 0;
  // Useful FLOPs, not the padded tiles the timing charges: a decode GEMM of one row is costed as
  // a 64-row tile, but the hardware's power follows the work (a one-request decode step holds
  // 1935-1980 MHz on an H200 while streaming its weights at full bandwidth).
  const tensorFlops = Math.min(kernel.flops, kernel.perWorkgroup.matrixFlops * kernel.workgroups);
  // FLOP/ns is GFLOP/s and byte/ns GB/s: 1e-3 of the TFLOP/s and TB/s the energies are given per.
  return (power.tensor_w_per_tflops * tensorFlops + power.dram_w_per_tbps * t.hbmBytes) / ns / 1000;
}

/** The DRAM term of kernelDynamicW alone (W). */
export function kernelDramW(power: PowerConfig, t: KernelTiming): number {
  return t.isolatedNs > 0 ? (power.dram_w_per_tbps * t.hbmBytes) / t.isolatedNs / 1000 : 0;
}

/**
 * The power config a kernel alone runs under: a cap above the one its time was calibrated at
 * (`calibrated_cap_w`) does not speed it (kernel-timing.ts capSlowdown), so alone it keeps the clock
 * of its calibration, and draws that clock's power, not the higher cap's.
 */
export function alonePower(power: PowerConfig): PowerConfig {
  return power.calibrated_cap_w !== undefined && power.cap_w > power.calibrated_cap_w ? calibratedPower(power) : power;
}

/** The power config under the cap the kernel times were calibrated at (`calibrated_cap_w`, else cap_w). */
export function calibratedPower(power: PowerConfig): PowerConfig {
  return power.calibrated_cap_w === undefined ? power : { ...power, cap_w: power.calibrated_cap_w };
}

/** Board energy (J): static power over `ns` (GPU-ns: one GPU's time, or summed over GPUs) plus `dynamicNj` over it. */
export function boardJ(power: PowerConfig, ns: number, dynamicNj: number): number {
  return (power.static_w * ns + dynamicNj) / 1e9;
}

/** The clock (MHz) under the cap with `dynamicW` of work running: the peak clock while it fits. */
export function clockUnderCapMhz(power: PowerConfig, peakMhz: number, dynamicW: number): number {
  const headroomW = power.cap_w - power.static_w;
  if (dynamicW <= headroomW) return peakMhz;
  if (headroomW <= 0) return 0;
  return peakMhz * (headroomW / dynamicW) ** (1 / power.clock_exponent);
}

/** One running kernel as the governor sees it. */
interface Running {
  /** Its pace's `clock` is the governor's: the fraction of its isolated pace the clock allows now. */
  pace: KernelPace;
  timing: KernelTiming;
  /** Its dynamic power at the peak clock, at its isolated rates (kernelDynamicW). */
  dynamicW: number;
  /** Its DRAM term, W. */
  dramW: number;
  /**
   * The share of the work its pace allows that it did at the last solve (KernelPace.workShare), kept
   * here for the energy of the time until the next.
   */
  work: number;
  aloneMhz: number;
  /** Its dynamic energy so far (nJ; logUntilNow). */
  energyNj: number;
}

/**
 * Tracks one GPU's running kernels and sets its clock by the work they do. After every solve of the
 * rates (Simulator.onSolved) each kernel's dynamic power is its power at its isolated rates times
 * its share of work (the rate it got over the rate its pace allows: Running.work), the DRAM terms
 * together at most what the HBM delivers, and the clock the highest that keeps the sum under the
 * cap. Kernels that follow the clock are re-rated through their pace (pace.ts: the flow's rate cap
 * and its CU time per unit follow it), the rates solved again, and so on until the clock moves by
 * less than PACE_TOLERANCE. So two kernels that take turns on the same SMs (the CU gate) draw the
 * power of the work those SMs do, not each its power alone. A kernel slowed by its pace (the clock,
 * the HBM's load: its SMs busy but stalled) still draws its power at the clock.
 */
export class PowerGovernor {
  private readonly running: Running[] = [];
  private clockMhz: number;
  /** Time (ns) spent at each clock while any kernel ran, when `logClock` is set. */
  private readonly nsAtMhz = new Map<number, number>();
  /** Log the clock over time, for `medianMhz` (off by default: the validation runs read it). */
  logClock = false;
  private sinceNs = 0;
  /** Each change of clock as [ns, MHz], once `recordSteps` is called (a trace's counter track). */
  private steps: Array<[number, number]> | undefined;
  /** Dynamic energy of the kernels finished so far (nJ). */
  private dynamicEnergyNj = 0;
  /** The config a kernel alone runs under (alonePower). */
  private readonly alone: PowerConfig;
  /** The share of the running kernels' dynamic power the HBM delivers (delivered), as the clock was last set. */
  private deliveredShare = 1;

  constructor(
    private readonly sim: Simulator,
    private readonly power: PowerConfig,
    private readonly peakMhz: number,
    /**
     * The most DRAM power the HBM can draw (W): dram_w_per_tbps at its capacity. Kernels that run
     * together draw their DRAM power on the bytes the HBM delivers, not on the sum of what each
     * would move alone: two copies splitting an H200 held 1980 MHz at 535 W, where summing their
     * rates alone (7.6 TB/s) put the clock at 1590.
     */
    private readonly dramCapW: number,
  ) {
    this.clockMhz = peakMhz;
    this.alone = alonePower(power);
    sim.onSolved((pass) => this.solved(pass));
  }

  /** A kernel's flow started: its power joins the chip's. Returns the handle `finished` takes. */
  started(pace: KernelPace, kernel: KernelCost, timing: KernelTiming): object {
    const dynamicW = kernelDynamicW(this.power, kernel, timing);
    const entry: Running = {
      pace,
      timing,
      dynamicW,
      dramW: kernelDramW(this.power, timing),
      work: 1,
      aloneMhz: clockUnderCapMhz(this.alone, this.peakMhz, dynamicW),
      energyNj: 0,
    };
    this.logUntilNow();
    this.running.push(entry);
    // A first guess, before its flow is solved, that it does all its work: the solve corrects it.
    this.setClock();
    return entry;
  }

  /** A kernel's flow finished: its power leaves the chip's. Returns its dynamic energy (nJ; boardEnergyJ says how). */
  finished(handle: object): number {
    const i = this.running.indexOf(handle as Running);
    if (i < 0) return 0;
    this.logUntilNow();
    const energyNj = this.running[i]!.energyNj;
    this.dynamicEnergyNj += energyNj;
    this.running.splice(i, 1);
    // The others at their shares of work of the last solve, until the next solve corrects them.
    this.setClock();
    return energyNj;
  }

  /** Starts recording every change of clock (from the peak clock at time 0). */
  recordSteps(): void {
    this.steps = [[0, this.peakMhz]];
  }

  /** The recorded changes of clock as [ns, MHz] pairs, in time order ([] unless `recordSteps` was called). */
  clockSteps(): Array<[number, number]> {
    return this.steps ?? [];
  }

  /**
   * The rates were solved: each kernel's share of work is read off its flow's rate, and the clock
   * set again if the power of that work moves it by more than PACE_TOLERANCE, in the first
   * PACE_PASSES passes (after them it stays where the last pass left it). Clock and rates are a
   * fixed point: the clock sets the paces, the paces the rates, the rates each kernel's share of
   * work and so the power, which sets the clock. Where kernels share CUs a share does not depend on
   * the clock (the CU time a kernel needs per unit follows its pace) and one pass settles it; a
   * kernel held by the HBM's bandwidth does more of its paced work the lower the clock (its share
   * goes as 1 / clock), so the passes converge at worst by the clock exponent (a third of the last
   * move, for 3) each.
   */
  private solved(pass: number): void {
    if (this.running.length === 0) return;
    // The time since the last event ran at the rates of the solve before this one.
    this.logUntilNow();
    for (const r of this.running) r.work = r.pace.workShare();
    const { mhz, delivered } = this.clockForWork();
    if (pass < PACE_PASSES && Math.abs(mhz - this.clockMhz) > PACE_TOLERANCE * this.clockMhz) this.setClock();
    else this.deliveredShare = delivered;
  }

  /**
   * The clock under the cap with each running kernel drawing its power at its isolated rates times
   * its share of work, less the DRAM power beyond what the HBM delivers, and the share of that
   * power the HBM delivers.
   */
  private clockForWork(): { mhz: number; delivered: number } {
    // Summed afresh each time, not added and subtracted: a long run of starts and ends must not drift.
    let w = 0;
    let dram = 0;
    for (const r of this.running) {
      w += r.dynamicW * r.work;
      dram += r.dramW * r.work;
    }
    const excessW = Math.max(0, dram - this.dramCapW);
    return { mhz: clockUnderCapMhz(this.power, this.peakMhz, w - excessW), delivered: w > 0 ? 1 - excessW / w : 1 };
  }

  /** Sets the clock by the running kernels' work and re-rates those that follow it (their rates are then solved again). */
  private setClock(): void {
    const { mhz, delivered } = this.clockForWork();
    this.deliveredShare = delivered;
    if (this.steps && mhz !== this.clockMhz) {
      // Several changes at one instant (a kernel ends as the next starts) leave only the last.
      const last = this.steps[this.steps.length - 1]!;
      if (last[0] === this.sim.nowNs) last[1] = mhz;
      else this.steps.push([this.sim.nowNs, mhz]);
    }
    this.clockMhz = mhz;
    let changed = false;
    for (const r of this.running) {
      if (!r.timing.followsClock || r.pace.flow.finished) continue;
      r.pace.clock = Math.min(1, this.clockMhz / r.aloneMhz);
      if (r.pace.apply()) changed = true;
    }
    if (changed) this.sim.invalidateRates();
  }

  private logUntilNow(): void {
    const now = this.sim.nowNs;
    const dt = now - this.sinceNs;
    if (dt > 0 && this.running.length > 0) {
      if (this.logClock) this.nsAtMhz.set(this.clockMhz, (this.nsAtMhz.get(this.clockMhz) ?? 0) + dt);
      // Each kernel draws the dynamic power of the work it does at the clock it runs at (the
      // governor's, or its clock alone where that is lower: a cap above its calibration's does not
      // speed it), less its share of what the HBM cannot deliver: the power the clock was set by.
      const delivered = this.deliveredShare;
      for (const r of this.running) r.energyNj += dynamicAtW(this.power, this.peakMhz, r.dynamicW, Math.min(this.clockMhz, r.aloneMhz)) * r.work * delivered * dt;
    }
    this.sinceNs = now;
  }

  /**
   * Board energy (J) from time 0 to `untilNs`, once the kernels that ran have finished: static
   * power throughout, idle or not, plus the power the clock is set by, integrated: each running
   * kernel's dynamic power (its tensor and DRAM terms at its isolated rates) at the clock, times its
   * share of work, less its share of DRAM power beyond what the HBM delivers. So the board never
   * draws more than the cap, and a kernel alone draws aloneDynamicEnergyNj; a kernel slowed by its
   * pace beside others (the clock, the HBM's load) draws for longer at a lower clock (its SMs stay
   * busy, stalled), while one that waits for CU time others take draws only for the work it does.
   * Kernels that do not pass through Gpu.launch (T3's producers, CU-engine collectives) and DMA
   * transfers add none.
   */
  boardEnergyJ(untilNs: number): number {
    return boardJ(this.power, untilNs, this.dynamicEnergyNj);
  }

  /** The time-weighted median clock while kernels ran (as NVML's median of samples), or NaN if none ran. */
  medianMhz(): number {
    this.logUntilNow();
    const byClock = [...this.nsAtMhz].sort((a, b) => a[0] - b[0]);
    const total = byClock.reduce((s, [, ns]) => s + ns, 0);
    let seen = 0;
    for (const [mhz, ns] of byClock) {
      seen += ns;
      if (seen >= total / 2) return mhz;
    }
    return NaN;
  }
}

/** A kernel alone on the GPU: the clock the cap allows it and the board power it draws there (W). */
export function aloneClockAndPower(hw: HardwareConfig, kernel: KernelCost, t: KernelTiming): { mhz: number; watts: number } | undefined {
  const power = hw.compute.power;
  if (!power) return undefined;
  const peakMhz = hw.compute.clock_peak_mhz;
  const dynamicW = kernelDynamicW(power, kernel, t);
  const mhz = clockUnderCapMhz(alonePower(power), peakMhz, dynamicW);
  return { mhz, watts: power.static_w + dynamicAtW(power, peakMhz, dynamicW, mhz) };
}

/** A kernel's dynamic power (W) at `mhz`, from its dynamic power at the peak clock. */
function dynamicAtW(power: PowerConfig, peakMhz: number, dynamicW: number, mhz: number): number {
  return dynamicW * (mhz / peakMhz) ** power.clock_exponent;
}

/** Its energy over static (nJ) at `mhz`: that power while its workgroups run, none in its fixed latency. */
function dynamicEnergyAtNj(power: PowerConfig, peakMhz: number, dynamicW: number, mhz: number, t: KernelTiming): number {
  return dynamicAtW(power, peakMhz, dynamicW, mhz) * Math.max(0, t.isolatedNs - t.fixedNs);
}

/**
 * The energy (nJ) a kernel alone draws over static power: its power above static while its
 * workgroups run, none during its fixed launch and first-access latency. Its board energy over its
 * isolated time is this plus static_w x isolatedNs, as a simulated kernel alone gives
 * (PowerGovernor.boardEnergyJ). Zero on parts without a power model.
 */
export function aloneDynamicEnergyNj(hw: HardwareConfig, kernel: KernelCost, t: KernelTiming): number {
  const power = hw.compute.power;
  if (!power) return 0;
  const peakMhz = hw.compute.clock_peak_mhz;
  const dynamicW = kernelDynamicW(power, kernel, t);
  return dynamicEnergyAtNj(power, peakMhz, dynamicW, clockUnderCapMhz(alonePower(power), peakMhz, dynamicW), t);
}
