/** The published JSON Schema of the written spec, compiled once, and a walker that finds the subschema at a path. */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import schemaJson from '../../spec/tdc.schema.json' with { type: 'json' };
import type { Path } from '../parse/index.js';

/** A JSON Schema node as tdc reads it (only the keywords the walker needs). */
export interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, SchemaNode | boolean>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode | boolean;
  allOf?: { if?: SchemaNode; then?: SchemaNode }[];
  description?: string;
  [k: string]: unknown;
}

export const SPEC_SCHEMA = schemaJson as unknown as SchemaNode & { $defs: Record<string, SchemaNode> };

let compiled: ValidateFunction | undefined;

/**
 * The ajv validator: all errors, defaults written into the data, and the schema kept on errors (`verbose`).
 * Compiling is most of `tdc check`'s start-up time, so two costs are skipped: checking the schema against the
 * meta-schema (tests/spec-examples.test.ts compiles it with plain ajv, which does) and ajv's code optimizer
 * (measured: ~150 → ~80 ms CPU).
 */
export function specValidator(): ValidateFunction {
  compiled ??= new Ajv2020({
    allErrors: true,
    useDefaults: true,
    verbose: true,
    strict: false,
    allowUnionTypes: true,
    validateSchema: false,
    code: { optimize: false },
  }).compile(SPEC_SCHEMA);
  return compiled;
}

function deref(node: SchemaNode): SchemaNode {
  if (node.$ref?.startsWith('#/$defs/')) return { ...SPEC_SCHEMA.$defs[node.$ref.slice(8)]!, ...node, $ref: undefined };
  return node;
}

/** Keys allowed in an object schema, including those of every discriminated `if/then` branch. */
export function allowedKeys(node: SchemaNode): string[] {
  const keys = new Set(Object.keys(node.properties ?? {}));
  for (const b of node.allOf ?? []) for (const k of Object.keys(b.then?.properties ?? {})) keys.add(k);
  return [...keys];
}

function childSchema(node: SchemaNode, key: string): SchemaNode | boolean | undefined {
  const direct = node.properties?.[key];
  if (direct !== undefined) return direct;
  for (const b of node.allOf ?? []) {
    const s = b.then?.properties?.[key];
    if (s !== undefined) return s;
  }
  return node.additionalProperties === false ? undefined : (node.additionalProperties ?? true);
}

export type SchemaLookup =
  | { ok: true; schema: SchemaNode }
  /**
   * `at` = how many path segments were fine; `allowed` = the keys allowed at the first bad segment; `kind` =
   * what went wrong there: an unknown key, an index into something that is not a list, or a key into a list.
   */
  | { ok: false; at: number; allowed: string[]; kind: 'unknown-key' | 'not-a-list' | 'is-a-list' };

/** Walks the schema along `path` (numeric segments index arrays). Used to reject unknown `--set` paths. */
export function schemaAt(path: Path): SchemaLookup {
  let node: SchemaNode = deref(SPEC_SCHEMA);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (typeof seg === 'number') {
      if (node.items === undefined || node.items === false) return { ok: false, at: i, allowed: [], kind: 'not-a-list' };
      node = node.items === true ? {} : deref(node.items);
      continue;
    }
    if (node.items !== undefined) return { ok: false, at: i, allowed: [], kind: 'is-a-list' };
    // A scalar (a string, a number, an enum) has no keys at all.
    const types = node.type === undefined ? undefined : ([] as string[]).concat(node.type);
    const scalar = (types !== undefined && !types.includes('object')) || 'enum' in node || 'const' in node;
    if (scalar) return { ok: false, at: i, allowed: [], kind: 'unknown-key' };
    const child = childSchema(node, seg);
    if (child === undefined || child === false) return { ok: false, at: i, allowed: allowedKeys(node), kind: 'unknown-key' };
    node = child === true ? {} : deref(child);
  }
  return { ok: true, schema: node };
}
