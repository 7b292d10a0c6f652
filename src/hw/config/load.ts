import { readdirSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { describe, SilicaError } from '../../core/errors.js';
import { statOrNothing } from '../../core/io.js';
import { configsDir } from '../../core/paths.js';
import { pinnedFile } from '../../core/pinned-files.js';
import { applyOverlays, deepFreeze, isMapping, parseYamlText, readYamlFile, schemaFields, validate } from '../../core/yaml-config.js';
import { lookupPath } from '../../core/tree.js';
import { hardwareSchema, type HardwareConfig } from './schema.js';

/** Names of the shipped hardware presets (configs/hw/*.yaml). */
export function listPresets(): string[] {
  return readdirSync(configsDir('hw'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => basename(f, '.yaml'))
    .sort();
}

/** A hardware reference names a file when it ends in .yaml or .yml or holds a slash; otherwise a preset. */
export function isHardwarePath(ref: string): boolean {
  return ref.endsWith('.yaml') || ref.endsWith('.yml') || ref.includes('/');
}

/**
 * A hardware reference as an experiment file gives it: a path is relative to the file's folder
 * (`baseDir`), as the docs promise, wherever silica runs from; a preset name stays a name.
 */
export function hardwareRef(ref: string, baseDir?: string): string {
  return baseDir && isHardwarePath(ref) && !isAbsolute(ref) ? join(baseDir, ref) : ref;
}

/**
 * Resolves `--hw` (a preset name or a YAML path) to a file and that file's version (size and
 * modification time, or the digest of a pinned file's text). One stat answers both whether the
 * file exists and whether a cached load of it is still current: sweep points of one small GEMM
 * each load their hardware every time, and the separate existence checks and stats were a fifth
 * of such a point's system calls. A pinned file needs none.
 */
function hardwareFile(nameOrPath: string): { path: string; version: string } {
  const isPath = isHardwarePath(nameOrPath);
  const path = isPath ? nameOrPath : join(configsDir('hw'), `${nameOrPath}.yaml`);
  const pin = isPath ? pinnedFile(path) : undefined;
  if (pin) return { path, version: `pinned\0${pin.digest}` };
  const stat = statOrNothing(path);
  if (!stat) {
    if (isPath) throw new SilicaError(`--hw: no such file ${nameOrPath}`);
    throw new SilicaError(`--hw: unknown preset "${nameOrPath}" (expected one of ${listPresets().join(', ')}, or a path to a YAML file)`);
  }
  return { path, version: `${stat.mtimeMs}\0${stat.size}` };
}

/**
 * Parsed files and loaded configs, by path, file version and overlays. Sweep points and study cases
 * each load their hardware afresh (they are independent), and parsing and validating the same
 * preset for every one of thousands of points cost a tenth of a CPU-bound sweep. The file's size
 * and modification time are part of the key, so an edited file is read again.
 */
const cache = new Map<string, unknown>();
const CACHE_ENTRIES = 64;

function cached<T>(file: { path: string; version: string }, extra: readonly string[], make: () => T): T {
  const key = [file.path, file.version, ...extra].join('\0');
  if (cache.has(key)) return cache.get(key) as T;
  const value = deepFreeze(make());
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(key, value);
  return value;
}

/**
 * Whether `field` (dotted) is a hardware field: the tree has it, or the schema does (an optional
 * field a preset leaves out). What an override may set, checked before any hardware is loaded.
 */
export function isHardwareField(tree: unknown, field: string): boolean {
  const parts = field.split('.');
  const known = schemaFields(hardwareSchema, tree);
  let node: unknown = tree;
  for (let i = 0; i < parts.length; i++) {
    const key = parts[i]!;
    const has = isMapping(node) && Object.hasOwn(node, key);
    if (!has && !known(parts.slice(0, i), key)) return false;
    node = has ? (node as Record<string, unknown>)[key] : undefined;
  }
  return true;
}

/**
 * A hardware file and every file its `base:` chain names, each with its version: the chain's
 * versions together are what a cached load of the file depends on (an edit to a base is an edit
 * to every file built on it). Walking the chain parses each file once per version and stats it
 * once per load, and refuses a chain that comes back to a file it has passed.
 */
function hardwareChain(nameOrPath: string): { path: string; version: string; files: string[]; top: { path: string; version: string } } {
  const top = hardwareFile(nameOrPath);
  const files = [top.path];
  const versions = [top.version];
  for (let file = top, base = basePathOf(file); base; file = base.file, base = basePathOf(file)) {
    if (files.includes(base.file.path)) {
      throw new SilicaError(`${file.path}: base: ${base.ref} leads back to ${base.file.path} (${[...files, base.file.path].map((f) => basename(f)).join(' -> ')}): expected a chain that ends at a preset or at a file without base`, { file: file.path, field: 'base' });
    }
    files.push(base.file.path);
    versions.push(base.file.version);
  }
  return { path: top.path, version: versions.join('\0'), files, top };
}

/** The file a hardware file's `base:` names, when it names a file (relative to the file's folder) rather than a preset. */
function basePathOf(file: { path: string; version: string }): { ref: string; file: { path: string; version: string } } | undefined {
  const own = ownTree(file);
  if (!isMapping(own) || typeof own.base !== 'string' || !isHardwarePath(own.base)) return undefined;
  const path = hardwareRef(own.base, dirname(file.path));
  if (!pinnedFile(path) && !statOrNothing(path)?.isFile()) throw new SilicaError(`${file.path}: base: no such file ${own.base} (${path})`, { file: file.path, field: 'base' });
  return { ref: own.base, file: hardwareFile(path) };
}

/** A hardware file as written (or as pinned), parsed once per version. */
function ownTree(file: { path: string; version: string }): unknown {
  return cached(file, ['own'], () => {
    const pin = pinnedFile(file.path);
    return pin ? parseYamlText(pin.text, file.path) : readYamlFile(file.path);
  });
}

/**
 * What a load of this hardware depends on: the versions of its file and of its `base:` chain's
 * files. Callers that remember a loaded part key it by this, so an edited file is read again.
 */
export function hardwareVersion(nameOrPath: string): string {
  return hardwareChain(nameOrPath).version;
}

/**
 * The files a hardware file reads: itself and each file of its `base:` chain (presets are not
 * counted: they ship with silica). A sweep digests them all, so an edit to a base tells.
 */
export function hardwareFiles(path: string): string[] {
  return hardwareChain(path).files;
}

/** The raw (unvalidated) YAML tree of a hardware file, its `base:` filled in; deeply frozen. */
export function readHardwareTree(nameOrPath: string): unknown {
  const file = hardwareChain(nameOrPath);
  return cached(file, ['tree'], () => withBase(ownTree(file.top), file.path));
}

/**
 * A hardware file may start from a preset, or from another hardware file, and give only what
 * differs, as an architect's "what if" does (`base: mi300x` or `base: my-gpu.yaml`, then
 * `compute: {cus: 320}`): its mappings are merged field by field over the base's, and any other
 * value (a number, a list) replaces the base's. A base file is relative to the file's folder and
 * may itself have a base. Without a name of its own the file is named after itself, so reports do
 * not call the variant by its base's name.
 */
function withBase(tree: unknown, path: string): unknown {
  if (!isMapping(tree) || !Object.hasOwn(tree, 'base')) return tree;
  const { base, ...own } = tree;
  const presets = listPresets();
  const isFile = typeof base === 'string' && isHardwarePath(base);
  if (typeof base !== 'string' || (!isFile && !presets.includes(base))) {
    const got = typeof base === 'string' ? JSON.stringify(base) : describe(base);
    throw new SilicaError(`${path}: base: expected a preset name (${presets.join(', ')}) or a hardware file (a path ending in .yaml), got ${got}`, { file: path, field: 'base' });
  }
  const under = readHardwareTree(hardwareRef(base, dirname(path))) as Record<string, unknown>;
  const named = { name: basename(path).replace(/\.ya?ml$/, ''), description: `${isFile ? basename(base) : base} with the changes in ${basename(path)}` };
  return mergedOver(under, { ...named, ...own });
}

/** `over` merged into `under`: mappings field by field, anything else replaced whole. */
function mergedOver(under: unknown, over: unknown): unknown {
  if (!isMapping(under) || !isMapping(over)) return over;
  const out: Record<string, unknown> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    // Defined, not assigned: a key `__proto__` (which the YAML reader refuses first) would stay a field.
    Object.defineProperty(out, key, { value: Object.hasOwn(under, key) ? mergedOver(under[key], value) : value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Loads, overlays and validates a hardware config; the result is deeply frozen. */
export function loadHardware(nameOrPath: string, overlays: readonly string[] = []): HardwareConfig {
  const file = hardwareChain(nameOrPath);
  const path = file.path;
  return cached(file, ['config', ...overlays], () => {
    const shown = path.includes('/configs/hw/') ? `configs/hw/${basename(path)}` : path;
    const tree = readHardwareTree(path);
    // An optional field the file leaves out (a per-CU DRAM cap, a switch's reduction) can be set too.
    const raw = applyOverlays(tree, overlays, shown, schemaFields(hardwareSchema, tree));
    try {
      const config = validate(hardwareSchema, raw, shown);
      checkConsistency(config, shown);
      return config;
    } catch (err) {
      throw blameOverride(inBaseFile(addedByOverride(err, tree, overlays, shown) ?? withBaseHint(err, file.top), file.files, overlays, shown), overlays, shown);
    }
  });
}

/**
 * A bad field a file's `base:` chain brought in is that base file's, not the file named: the
 * message names the file of the chain that writes it (`sub/b.yaml: compute.cus: ... (a.yaml
 * starts from it)`), where a.yaml has no compute.cus to look at. An override's field is left
 * to blameOverride.
 */
function inBaseFile(err: unknown, chain: readonly string[], overlays: readonly string[], shown: string): unknown {
  if (!(err instanceof SilicaError) || !err.where?.field || chain.length < 2 || !err.message.startsWith(`${shown}: `)) return err;
  const { field } = err.where;
  const overridden = overlays.some((o) => {
    const path = overlayPath(o);
    return field === path || field.startsWith(`${path}.`) || path.startsWith(`${field}.`);
  });
  if (overridden) return err;
  // An unknown field is reported at its mapping; the file to name is the one that writes the key.
  const unknownKey = /: expected no unknown fields \(([^,)]+)/.exec(err.message)?.[1];
  const path = unknownKey === undefined ? field : field === '(top level)' ? unknownKey : `${field}.${unknownKey}`;
  const writer = chain.find((f) => lookupPath(ownTree(hardwareFile(f)), path).found);
  if (writer === undefined || writer === chain[0]) return err;
  return new SilicaError(`${writer}: ${err.message.slice(shown.length + 2)} (${shown} starts from it)`, { ...err.where, file: writer });
}

/**
 * An override may add an optional mapping the part leaves out (`--set compute.power.cap_w=400` on a
 * part without a power model): the mapping's other required fields are then missing, which is the
 * override's doing, not the file's. Says so, in place of the hint for a partial file.
 */
function addedByOverride(err: unknown, tree: unknown, overlays: readonly string[], shown: string): SilicaError | undefined {
  if (!(err instanceof SilicaError) || !err.message.endsWith(' (missing)') || !err.where?.field) return undefined;
  const parts = err.where.field.split('.');
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join('.');
    if (lookupPath(tree, parent).found) continue;
    const overlay = overlays.find((o) => overlayPath(o).startsWith(`${parent}.`));
    if (!overlay) return undefined;
    return new SilicaError(`${err.message}; ${shown} has no ${parent}: the override ${overlay} adds it, and it needs its other required fields too (docs/hardware.md)`, err.where);
  }
  return undefined;
}

/**
 * A file that gives only some fields meets "missing" errors one field at a time: where it has no
 * base, the message says how to give only what differs.
 */
function withBaseHint(err: unknown, file: { path: string; version: string }): unknown {
  if (!(err instanceof SilicaError) || !err.message.endsWith(' (missing)')) return err;
  // The file as written (the tree loaded has its base merged in and the key gone).
  const own = ownTree(file);
  if (isMapping(own) && Object.hasOwn(own, 'base')) return err;
  return new SilicaError(`${err.message}; a file that gives only what differs from a preset starts with base: PRESET (silica hw list)`, err.where);
}

/** The dotted field an override `a.b.c=value` sets. */
function overlayPath(overlay: string): string {
  return overlay.slice(0, overlay.indexOf('=')).trim();
}

/**
 * A value the preset file does not hold is not the file's fault: when an invalid field was set by
 * an override (--set, an experiment's hw_overrides), the message says which one.
 */
function blameOverride(err: unknown, overlays: readonly string[], shown: string): unknown {
  if (!(err instanceof SilicaError) || !err.where?.field) return err;
  const { field, against } = err.where;
  // The last override of a field is the one applied (`--set x=2 --set x=0` fails on 0), so it is
  // the one to name: the first named x=2 for a value it did not give.
  const overlayOf = (f: string) =>
    [...overlays].reverse().find((o) => {
      const path = overlayPath(o);
      return f === path || f.startsWith(`${path}.`);
    });
  const overlay = overlayOf(field);
  // A check between fields fails in `field` when an override changed one of the others, too.
  const others = (against ?? []).flatMap((f) => {
    const o = overlayOf(f);
    return o ? [`; ${f} is set by the override ${o}`] : [];
  });
  if (!overlay && !others.length) return err;
  const message = overlay ? `${shown}: ${field} (set by the override ${overlay}): ${err.message.slice(`${shown}: ${field}: `.length)}` : err.message;
  return new SilicaError(message + others.join(''), err.where);
}

/** A failed check between fields: `field` holds the bad value, `against` the fields it was compared with. */
function inconsistent(file: string, field: string, against: readonly string[], rest: string): SilicaError {
  return new SilicaError(`${file}: ${field}: ${rest}`, { file, field, against });
}

function checkConsistency(hw: HardwareConfig, file: string): void {
  const c = hw.compute;
  if (c.clock_sustained_mhz > c.clock_peak_mhz) {
    throw inconsistent(file, 'compute.clock_sustained_mhz', ['compute.clock_peak_mhz'], `expected at most clock_peak_mhz (${c.clock_peak_mhz}), got ${c.clock_sustained_mhz}`);
  }
  // clock_peak_mhz is the part's maximum boost: a vector clock above it would run copies and
  // elementwise kernels past the part's own peak (the spec sheets' vector TFLOP/s are at peak).
  if (c.clock_vector_mhz !== undefined && c.clock_vector_mhz > c.clock_peak_mhz) {
    throw inconsistent(file, 'compute.clock_vector_mhz', ['compute.clock_peak_mhz'], `expected at most clock_peak_mhz (${c.clock_peak_mhz}), got ${c.clock_vector_mhz}`);
  }
  if (c.power && c.power.static_w >= c.power.cap_w) {
    throw inconsistent(file, 'compute.power.static_w', ['compute.power.cap_w'], `expected less than cap_w (${c.power.cap_w} W): nothing could run under the cap, got ${c.power.static_w}`);
  }
  if (c.power?.calibrated_cap_w !== undefined && c.power.static_w >= c.power.calibrated_cap_w) {
    throw inconsistent(file, 'compute.power.static_w', ['compute.power.calibrated_cap_w'], `expected less than calibrated_cap_w (${c.power.calibrated_cap_w} W), got ${c.power.static_w}`);
  }
  if (c.cu_groups > c.cus) {
    throw inconsistent(file, 'compute.cu_groups', ['compute.cus'], `expected at most compute.cus (${c.cus}), got ${c.cu_groups}`);
  }
  if (hw.memory.hbm.knee_exponent !== undefined && c.dram_gbps_per_cu === undefined) {
    throw inconsistent(file, 'memory.hbm.knee_exponent', ['compute.dram_gbps_per_cu'], `the knee needs the CUs' DRAM port rate: expected compute.dram_gbps_per_cu to be set, got none`);
  }
  const ic = hw.interconnect;
  if (ic.topology === 'fully-connected' && ic.gpus_per_node > 1 && ic.links_per_gpu < ic.gpus_per_node - 1) {
    throw inconsistent(
      file,
      'interconnect.links_per_gpu',
      ['interconnect.gpus_per_node', 'interconnect.topology'],
      `a fully-connected node of ${ic.gpus_per_node} GPUs needs at least ${ic.gpus_per_node - 1} links per GPU, got ${ic.links_per_gpu}`,
    );
  }
  if (ic.topology === 'ring' && ic.gpus_per_node > 2 && ic.links_per_gpu < 2) {
    throw inconsistent(file, 'interconnect.links_per_gpu', ['interconnect.topology', 'interconnect.gpus_per_node'], `a ring needs at least 2 links per GPU, got ${ic.links_per_gpu}`);
  }
}
