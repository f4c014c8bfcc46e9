/** Source positions for spec values: the SpanIndex contract shared by parse, compose, validate and printing. */
import type { Span } from '../../spec/types.js';

/** A path into a spec's data: object keys and array indices, e.g. ['model', 'context', 'dilations', 0]. */
export type Path = readonly (string | number)[];

export interface SpanIndex {
  /** Span of the value node at `path` (falls back to the nearest existing ancestor). */
  get(path: Path): Span | undefined;
  /** Span of the *key* at `path` (for unknown/duplicate keys). */
  key(path: Path): Span | undefined;
  /** Source text of a file, for printing the source line. */
  source(file: string): string | undefined;
}

/** A spec after parsing and composition: its data, where each value came from, and every file it read. */
export interface ComposedDoc {
  file: string;
  data: unknown;
  spans: SpanIndex;
  files: string[];
}

interface Entry {
  value?: Span;
  key?: Span;
}

/** Encodes a path as a map key; JSON keeps `0` (index) and `'0'` (key) apart. */
export function pathKey(path: Path): string {
  return JSON.stringify(path);
}

/** A mutable SpanIndex: parse fills it, compose merges several of them. */
export class SpanTable implements SpanIndex {
  private readonly entries = new Map<string, Entry & { path: Path }>();
  private readonly sources = new Map<string, string>();

  addSource(file: string, text: string): void {
    this.sources.set(file, text);
  }

  set(path: Path, value: Span | undefined, key?: Span): void {
    this.entries.set(pathKey(path), { path: [...path], value, key });
  }

  get(path: Path): Span | undefined {
    for (let n = path.length; n >= 0; n--) {
      const e = this.entries.get(pathKey(path.slice(0, n)));
      if (e?.value) return e.value;
      // A key without a value node (`foo:` alone) is still the best place to point at.
      if (e?.key) return e.key;
    }
    return undefined;
  }

  key(path: Path): Span | undefined {
    return this.entries.get(pathKey(path))?.key;
  }

  source(file: string): string | undefined {
    return this.sources.get(file);
  }

  /** Copies every entry at or below `prefix` from `other` (keeping paths), and all of its sources. */
  copyFrom(other: SpanTable, prefix: Path): void {
    for (const [k, e] of other.entries) {
      if (isPrefix(prefix, e.path)) this.entries.set(k, e);
    }
    for (const [f, t] of other.sources) this.sources.set(f, t);
  }

  /** Copies only the source texts of `other`. */
  copySources(other: SpanTable): void {
    for (const [f, t] of other.sources) this.sources.set(f, t);
  }

  /** Sets only the key and value spans of the node at `path` itself (for objects merged from two files). */
  copyNode(other: SpanTable, path: Path): void {
    const e = other.entries.get(pathKey(path));
    if (e) this.entries.set(pathKey(path), e);
  }

  /** Copies every entry of `other` (a separately parsed value) to sit below `at`, and its sources. */
  graft(other: SpanTable, at: Path): void {
    for (const e of other.entries.values()) {
      const path = [...at, ...e.path];
      const mine = this.entries.get(pathKey(path));
      // The grafted root has no key of its own; keep the key span the caller set for `at`.
      this.entries.set(pathKey(path), { path, value: e.value, key: e.path.length === 0 ? (mine?.key ?? e.key) : e.key });
    }
    for (const [f, t] of other.sources) this.sources.set(f, t);
  }

  /** Removes every entry strictly below `prefix` (a value replaced wholesale). */
  dropBelow(prefix: Path): void {
    for (const [k, e] of this.entries) {
      if (e.path.length > prefix.length && isPrefix(prefix, e.path)) this.entries.delete(k);
    }
  }
}

function isPrefix(prefix: Path, path: Path): boolean {
  if (prefix.length > path.length) return false;
  return prefix.every((p, i) => p === path[i]);
}

/** Converts 0-based offsets into a Span with 1-based line:col (end exclusive). */
export class LineMap {
  private readonly starts: number[] = [0];

  constructor(readonly file: string, readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.starts.push(i + 1);
  }

  position(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.starts[lo]! + 1 };
  }

  span(offset: number, endOffset: number): Span {
    const o = Math.max(0, Math.min(offset, this.text.length));
    const e = Math.max(o, Math.min(endOffset, this.text.length));
    const a = this.position(o);
    const b = this.position(e);
    return { file: this.file, line: a.line, col: a.col, endLine: b.line, endCol: b.col, offset: o, endOffset: e };
  }
}
