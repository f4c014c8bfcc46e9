/** Public API of spec validation: the published schema, validation with defaults, and did-you-mean. */
export { validateSpec, validateDocument, displayPath, pointerToPath } from './validate.js';
export { specValidator, schemaAt, allowedKeys, SPEC_SCHEMA, type SchemaLookup, type SchemaNode } from './schema.js';
