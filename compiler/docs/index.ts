/** Public API of the documentation generator: the spec reference rendered from the JSON Schema. */
export { renderSpecReference, renderSchemaFile, withHoverText, hoverMarkdown, referenceEntries, typeOf, allowedOf, flow } from './reference.js';
export type { SchemaNode, ReferenceEntry } from './reference.js';
