/**
 * The spec reference generator: renders `spec/tdc.schema.json` as Markdown (every key path with its type, default,
 * allowed values, meaning, example and paper section), so that docs/spec-reference.md never drifts from the schema.
 */

/** The subset of JSON Schema (2020-12) that tdc's schema uses, plus its `x-paper` annotation. */
export interface SchemaNode {
  type?: string | string[];
  description?: string;
  /** Hover text for editors, derived from the other fields by `withHoverText`. */
  markdownDescription?: string;
  default?: unknown;
  examples?: unknown[];
  'x-paper'?: string;
  const?: unknown;
  enum?: unknown[];
  $ref?: string;
  properties?: Record<string, SchemaNode | boolean>;
  additionalProperties?: SchemaNode | boolean;
  propertyNames?: SchemaNode;
  required?: string[];
  items?: SchemaNode;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  uniqueItems?: boolean;
  minProperties?: number;
  allOf?: { if?: SchemaNode; then?: SchemaNode }[];
  $defs?: Record<string, SchemaNode>;
}

/** One documented key: where it sits and what the schema says about it. */
export interface ReferenceEntry {
  /** Dotted key path as written in YAML; `<name>` stands for a user-chosen key, `[]` for a list item. */
  path: string;
  /** The discriminator that enables the key, e.g. `type: vgg16`, or undefined when always allowed. */
  when?: string;
  node: SchemaNode;
  required: boolean;
}

/** Every key of the schema in document order, conditional branches included (a key under `allOf[].then` is tagged with its `when`). */
export function referenceEntries(schema: SchemaNode): ReferenceEntry[] {
  const out: ReferenceEntry[] = [];
  const visit = (node: SchemaNode, path: string, when: string | undefined): void => {
    const required = new Set(node.required ?? []);
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      // `key: true` inside a branch only re-admits a key declared beside the discriminator.
      if (typeof child !== 'object') continue;
      const p = path ? `${path}.${key}` : key;
      out.push({ path: p, ...(when ? { when } : {}), node: child, required: required.has(key) });
      descend(child, p);
    }
    for (const branch of node.allOf ?? []) {
      const cond = Object.entries(branch.if?.properties ?? {})[0];
      // The discriminator's value: one (`const`) or several (`enum`: `type: resnet34 | resnet50`).
      const test = cond && typeof cond[1] === 'object' ? (cond[1] as SchemaNode) : undefined;
      const value = test?.const !== undefined ? String(test.const) : test?.enum?.map(String).join(' | ');
      if (branch.then) visit(branch.then, path, cond ? `${cond[0]}: ${value}` : undefined);
    }
  };
  const descend = (node: SchemaNode, path: string): void => {
    if (node.properties || node.allOf) visit(node, path, undefined);
    if (typeof node.additionalProperties === 'object') descend(node.additionalProperties, `${path}.<name>`);
    if (node.items) descend(node.items, `${path}[]`);
  };
  visit(schema, '', undefined);
  return out;
}

/** A short type phrase: `integer`, `list of integer or expression (2–3 items)`, `mapping name → number or expression`. */
export function typeOf(node: SchemaNode, root: SchemaNode): string {
  if (node.$ref) {
    const name = node.$ref.replace('#/$defs/', '');
    return { numOrExpr: 'number or expression', intOrExpr: 'integer or expression', identifier: 'name' }[name] ?? name;
  }
  if (node.const !== undefined) return typeName(node.const);
  if (node.enum) return [...new Set(node.enum.map(typeName))].join(' or ');
  const types = Array.isArray(node.type) ? node.type : node.type ? [node.type] : node.properties || node.allOf ? ['object'] : [];
  return types
    .map((t) => {
      if (t === 'array') {
        const count =
          node.minItems !== undefined && node.minItems === node.maxItems
            ? ` (${node.minItems} items)`
            : node.minItems !== undefined && node.maxItems !== undefined
              ? ` (${node.minItems}–${node.maxItems} items)`
              : node.minItems
                ? ` (at least ${node.minItems})`
                : '';
        return `list of ${node.items ? typeOf(node.items, root) : 'values'}${count}`;
      }
      if (t === 'object' && typeof node.additionalProperties === 'object' && !node.properties) {
        return `mapping name → ${typeOf(node.additionalProperties, root)}`;
      }
      return t === 'object' ? 'mapping' : t;
    })
    .join(' or ');
}

function typeName(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (v === null) return 'null';
  return typeof v === 'object' ? (Array.isArray(v) ? 'list' : 'mapping') : 'string';
}

/** The constraints on a value: enum members, bounds, patterns, and the same for list items. */
export function allowedOf(node: SchemaNode): string {
  const parts: string[] = [];
  if (node.const !== undefined) parts.push(`only ${code(node.const)}`);
  if (node.enum) parts.push(node.enum.map(code).join(', '));
  const lo = node.minimum !== undefined ? `≥ ${node.minimum}` : node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : undefined;
  const hi = node.exclusiveMaximum !== undefined ? `< ${node.exclusiveMaximum}` : node.maximum !== undefined ? `≤ ${node.maximum}` : undefined;
  if (lo || hi) parts.push([lo, hi].filter(Boolean).join(', '));
  if (node.pattern) parts.push(`matches \`${node.pattern}\``);
  if (node.uniqueItems) parts.push('no repeats');
  if (node.minProperties) parts.push(`at least ${node.minProperties} entr${node.minProperties === 1 ? 'y' : 'ies'}`);
  if (node.propertyNames?.$ref === '#/$defs/identifier') parts.push('names are identifiers');
  if (node.items) {
    const inner = allowedOf(node.items);
    if (inner) parts.push(`each: ${inner}`);
  }
  return parts.join('; ');
}

/** A value as inline code in YAML flow style, the way a spec writes it: `[1, 6, 12]`, `{ type: sgd }`. */
function code(v: unknown): string {
  return `\`${flow(v)}\``;
}

export function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v && typeof v === 'object') {
    const items = Object.entries(v).map(([k, x]) => `${k}: ${flow(x)}`);
    return items.length ? `{ ${items.join(', ')} }` : '{}';
  }
  // Plain scalars stay bare; strings YAML would read differently (numbers, flow characters, ': ') are quoted.
  if (typeof v === 'string' && (/^[\d.+-]|[,[\]{}#&*!|>'"%@`]|: |^$|^(true|false|null)$/.test(v))) return JSON.stringify(v);
  return String(v);
}

/** Escapes a table cell: pipes would split it, newlines would end the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The section a key is listed under: its top-level key (the top-level keys themselves form the first table). */
function sectionOf(entry: ReferenceEntry): string {
  const dot = entry.path.search(/[.[]/);
  return dot < 0 ? '' : entry.path.slice(0, dot);
}

/**
 * docs/spec-reference.md as a string: an overview table of the top-level keys, then one table per top-level
 * section. Deterministic (schema order), so a test can compare it with the committed file byte for byte.
 */
export function renderSpecReference(schema: SchemaNode): string {
  const entries = referenceEntries(schema);
  const lines: string[] = [
    '<!-- Generated from spec/tdc.schema.json by compiler/docs/reference.ts; do not edit. Regenerate: npm run docs -->',
    '# tdc spec reference',
    '',
    schema.description ?? '',
    '',
    'Key paths are written as in YAML: `a.b` is key `b` inside mapping `a`, `[]` is an item of a list and `<name>` a',
    'key you choose. "when" names the discriminator that enables a key (for example `type: vgg16`). Values marked',
    '"expression" may be numbers or strings such as `"2*base"` over `vars`. Paper sections refer to Ren et al.,',
    '"Task Decomposition and Synchronization for Semantic Biomedical Image Segmentation" (III = method, IV = experiments).',
    'In VS Code, the YAML extension shows the same text on hover when a spec starts with',
    '`# yaml-language-server: $schema=<path to>/spec/tdc.schema.json` (`tdc init` writes that line).',
    '',
  ];
  const header = ['| Key | Type | Default | Allowed | Meaning | Example | Paper |', '|---|---|---|---|---|---|---|'];
  const row = (e: ReferenceEntry): string => {
    const n = e.node;
    const key = `\`${e.path}\`${e.required ? ' (required)' : ''}${e.when ? `<br>when \`${e.when}\`` : ''}`;
    const def = n.default !== undefined ? code(n.default) : '';
    const example = n.examples?.length ? code(n.examples[0]) : '';
    return `| ${[key, typeOf(n, schema), def, allowedOf(n), n.description ?? '', example, n['x-paper'] ?? ''].map(cell).join(' | ')} |`;
  };
  const sections = new Map<string, ReferenceEntry[]>();
  for (const e of entries) {
    const s = sectionOf(e);
    sections.set(s, [...(sections.get(s) ?? []), e]);
  }
  lines.push('## Top level', '', ...header, ...(sections.get('') ?? []).map(row), '');
  for (const top of sections.get('') ?? []) {
    const rows = sections.get(top.path);
    if (!rows) continue;
    const paper = top.node['x-paper'] ? ` (paper ${top.node['x-paper']})` : '';
    lines.push(`## \`${top.path}\``, '', `${top.node.description ?? ''}${paper}`, '', ...header, ...rows.map(row), '');
  }
  const defs = Object.entries(schema.$defs ?? {});
  if (defs.length > 0) {
    lines.push('## Value kinds', '', '| Kind | Type | Allowed | Meaning |', '|---|---|---|---|');
    for (const [name, node] of defs) lines.push(`| ${[`\`${name}\``, (Array.isArray(node.type) ? node.type : [node.type]).join(' or '), allowedOf(node), node.description ?? ''].map(cell).join(' | ')} |`);
    lines.push('');
  }
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** Escapes Markdown emphasis and link syntax in schema prose (backticks stay: they mark code on purpose). */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\*_{}[\]#<>|]/g, '\\$&');
}

/**
 * The hover text of one key for yaml-language-server, which shows `markdownDescription` (else `description`) and
 * nothing else: the description followed by type, allowed values, default, an example and the paper section.
 */
export function hoverMarkdown(node: SchemaNode, root: SchemaNode): string {
  const facts = [`Type: ${typeOf(node, root)}`];
  const allowed = allowedOf(node);
  if (allowed) facts.push(`Allowed: ${allowed}`);
  if (node.default !== undefined) facts.push(`Default: ${code(node.default)}`);
  if (node.examples?.length) facts.push(`Example: ${code(node.examples[0])}`);
  if (node['x-paper']) facts.push(`Paper: section ${node['x-paper']}`);
  return `${escapeMarkdown(node.description ?? '')}\n\n${facts.join(' · ')}`;
}

/**
 * A copy of the schema in which every key (object property, in branches too) has `markdownDescription` set from
 * its description, type, constraints, default, example and paper section, so editors show all of it on hover.
 * Derived only from the other fields: applying it to its own output changes nothing.
 */
export function withHoverText(schema: SchemaNode): SchemaNode {
  const copy = JSON.parse(JSON.stringify(schema)) as SchemaNode;
  for (const e of referenceEntries(copy)) {
    if (e.node.description) e.node.markdownDescription = hoverMarkdown(e.node, copy);
  }
  return copy;
}

/** The schema file's text as `npm run docs` writes it (2-space JSON, trailing newline, hover text filled in). */
export function renderSchemaFile(schema: SchemaNode): string {
  return `${JSON.stringify(withHoverText(schema), null, 2)}\n`;
}
