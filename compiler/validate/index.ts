/** Public API of spec validation: the published schema and validation with defaults. */
export { validateSpec, displayPath, pointerToPath } from './validate.js';
export { specValidator, schemaAt, allowedKeys, SPEC_SCHEMA, type SchemaLookup, type SchemaNode } from './schema.js';
