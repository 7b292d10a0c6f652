import { z } from 'zod';

/**
 * The fields a schema allows in the mapping at `path` of `raw`, for "unknown field" messages that
 * name what was meant (a typo's neighbours). Read from the schema's JSON Schema (zod's
 * toJSONSchema): through lists and into the branch of a union that fits the value (its constant
 * fields match, e.g. `op: gemm`). Undefined where that cannot be told.
 */
export function knownFields(schema: z.ZodType, raw: unknown, path: readonly PropertyKey[]): string[] | undefined {
  const root = jsonSchemaOf(schema);
  if (!root) return undefined;
  let nodes = [root];
  let value = raw;
  for (const key of path) {
    nodes = nodes.flatMap(branches).flatMap((n) => {
      if (typeof key === 'number') return n.items && !Array.isArray(n.items) ? [n.items] : [];
      const child = n.properties?.[String(key)];
      return child ? [child] : [];
    });
    value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  const objects = nodes.flatMap(branches).filter((n) => n.properties && fits(n, value));
  if (objects.length === 0) return undefined;
  return [...new Set(objects.flatMap((n) => Object.keys(n.properties!)))];
}

/** Each schema's JSON Schema, made once: overrides are checked against it for every sweep point. */
const jsonSchemas = new WeakMap<z.ZodType, JsonSchema | null>();

function jsonSchemaOf(schema: z.ZodType): JsonSchema | undefined {
  let made = jsonSchemas.get(schema);
  if (made === undefined) {
    try {
      made = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    } catch {
      made = null;
    }
    jsonSchemas.set(schema, made);
  }
  return made ?? undefined;
}

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema | JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
}

/** The alternatives a node stands for: itself, or its union's branches (flattened). */
function branches(n: JsonSchema): JsonSchema[] {
  const alternatives = n.anyOf ?? n.oneOf ?? (n.allOf?.length === 1 ? n.allOf : undefined);
  return alternatives ? alternatives.flatMap(branches) : [n];
}

/** Whether the value agrees with every constant field of the object schema (a union's discriminator). */
function fits(n: JsonSchema, value: unknown): boolean {
  if (!value || typeof value !== 'object') return true;
  return Object.entries(n.properties!).every(([k, p]) => {
    const v = (value as Record<string, unknown>)[k];
    const constant = p.const !== undefined ? [p.const] : p.enum?.length === 1 ? p.enum : undefined;
    return v === undefined || !constant || constant.includes(v);
  });
}
