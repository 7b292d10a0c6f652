import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../core/paths.js';

/**
 * Loads the trace schemas (src/trace/silica.proto, src/trace/chakra/et_def.proto) at run time
 * with protobufjs. The .proto files stay the single source of truth for both formats and their
 * documentation; they ship with the package (package root, beside configs/), so they are found
 * from src/ under vitest and from dist/src/ after the build alike.
 *
 * keepCase keeps the schema's snake_case field names (ctrl_deps, duration_micros), so code and
 * documentation use the same names.
 */
const roots = new Map<string, protobuf.Root>();

function loadRoot(relPath: string): protobuf.Root {
  let root = roots.get(relPath);
  if (!root) {
    const text = readFileSync(join(packageRoot(), relPath), 'utf8');
    root = protobuf.parse(text, { keepCase: true }).root;
    roots.set(relPath, root);
  }
  return root;
}

export interface SilicaTypes {
  record: protobuf.Type;
  header: protobuf.Type;
  node: protobuf.Type;
  kernelDesc: protobuf.Type;
}

let silica: SilicaTypes | undefined;
export function silicaTypes(): SilicaTypes {
  if (!silica) {
    const root = loadRoot(join('src', 'trace', 'silica.proto'));
    silica = {
      record: root.lookupType('silica.trace.v1.TraceRecord'),
      header: root.lookupType('silica.trace.v1.Header'),
      node: root.lookupType('silica.trace.v1.Node'),
      kernelDesc: root.lookupType('silica.trace.v1.KernelDesc'),
    };
  }
  return silica;
}

export interface ChakraTypes {
  metadata: protobuf.Type;
  node: protobuf.Type;
  attribute: protobuf.Type;
}

let chakra: ChakraTypes | undefined;
export function chakraTypes(): ChakraTypes {
  if (!chakra) {
    const root = loadRoot(join('src', 'trace', 'chakra', 'et_def.proto'));
    chakra = {
      metadata: root.lookupType('ChakraProtoMsg.GlobalMetadata'),
      node: root.lookupType('ChakraProtoMsg.Node'),
      attribute: root.lookupType('ChakraProtoMsg.AttributeProto'),
    };
  }
  return chakra;
}

/** uint64/int64 fields decode to Long objects when the `long` package is present: make numbers. */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value === null || value === undefined) return 0;
  if (typeof value === 'object' && 'toNumber' in value) return (value as { toNumber(): number }).toNumber();
  return Number(value);
}

const WIRE_OF: Record<string, number> = {
  double: 1, fixed64: 1, sfixed64: 1,
  float: 5, fixed32: 5, sfixed32: 5,
  int32: 0, int64: 0, uint32: 0, uint64: 0, sint32: 0, sint64: 0, bool: 0,
  string: 2, bytes: 2,
};

/**
 * protobufjs' decoders do not check wire types, so a message of another type decodes into
 * garbage instead of failing. This walks the message (and its sub-messages) and returns a
 * description of the first field whose wire type does not fit the schema, or undefined.
 */
export function wireTypeMismatch(type: protobuf.Type, bytes: Uint8Array, depth = 0): string | undefined {
  const r = protobuf.Reader.create(bytes);
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      const id = tag >>> 3;
      const wire = tag & 7;
      const field = type.fieldsById[id];
      if (!field) {
        r.skipType(wire);
        continue;
      }
      field.resolve();
      const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
      const base = sub ? 2 : field.resolvedType ? 0 : WIRE_OF[field.type];
      const ok = wire === base || (field.repeated && !sub && base !== 2 && wire === 2);
      if (!ok) return `${type.name}.${field.name} (field ${id}) has wire type ${wire}, expected ${base}`;
      if (sub && depth < 4) {
        const len = r.uint32();
        const inner = wireTypeMismatch(sub, bytes.subarray(r.pos, r.pos + len), depth + 1);
        if (inner) return inner;
        r.skip(len);
      } else r.skipType(wire);
    }
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return undefined;
}
