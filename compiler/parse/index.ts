/** Public API of the spec parser: YAML text → data + spans. */
export { parseYaml, type ParsedYaml } from './yaml.js';
export { LineMap, SpanTable, pathKey, type ComposedDoc, type Path, type SpanIndex } from './spans.js';
