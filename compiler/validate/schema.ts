/** The published JSON Schema of the written spec, compiled once, and a walker that finds the subschema at a path. */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Options, ValidateFunction } from 'ajv';
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

const require = createRequire(import.meta.url);

export const SPEC_SCHEMA = schemaJson as unknown as SchemaNode & { $defs: Record<string, SchemaNode> };

let compiled: ValidateFunction | undefined;

/**
 * ajv's options for the spec validator: all errors, defaults written into the data, and the schema kept on errors
 * (`verbose`). ajv's English messages are not generated (`messages: false`): tdc words every diagnostic itself from
 * the error's keyword and params, and the message code was 5 % of the validator. Two compile-time costs are
 * skipped: checking the schema against the meta-schema (tests/spec-examples.test.ts compiles it with plain ajv,
 * which does) and ajv's code optimizer.
 */
export const VALIDATOR_OPTIONS: Options = {
  allErrors: true,
  useDefaults: true,
  verbose: true,
  messages: false,
  strict: false,
  allowUnionTypes: true,
  validateSchema: false,
  code: { optimize: false },
};

/** sha256 of the schema as tdc loads it; the precompiled validator records the one it was generated from. */
export function schemaHash(): string {
  return createHash('sha256').update(JSON.stringify(SPEC_SCHEMA)).digest('hex');
}

/** File name of the validator `npm run build` generates next to this module (scripts/build-validator.mjs). */
export const PRECOMPILED_VALIDATOR = 'spec-validator.cjs';

/**
 * The spec validator. Compiling the schema with ajv was the largest part of `tdc check`'s start-up (~40 ms, plus
 * loading ajv itself), so the build writes the compiled validator as a standalone module (ajv's standalone code,
 * same options) and this loads it; when it is absent (running from the TypeScript sources, as the tests do) or
 * was generated from another schema, the schema is compiled here as before.
 */
export function specValidator(): ValidateFunction {
  compiled ??= loadPrecompiled() ?? compileValidator();
  return compiled;
}

function loadPrecompiled(): ValidateFunction | undefined {
  try {
    const validate = require(`./${PRECOMPILED_VALIDATOR}`) as ValidateFunction & { schemaHash?: string };
    if (typeof validate === 'function' && validate.schemaHash === schemaHash()) return validate;
  } catch {
    // not built: compile instead
  }
  return undefined;
}

/** Compiles the schema with ajv at run time. */
export function compileValidator(): ValidateFunction {
  // Loaded on demand: a build with the precompiled validator never loads ajv's compiler.
  const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  return new Ajv2020(VALIDATOR_OPTIONS).compile(SPEC_SCHEMA);
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
