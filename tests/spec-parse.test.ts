/** Unit tests of the YAML parser: spans (checked against a plain recount of the text), and YAML problems. */
import { describe, expect, test } from 'vitest';
import { LineMap, parseYaml } from '../compiler/parse/index.js';

/** Independent reference: 1-based line:col of an offset by counting newlines in the text before it. */
function refPos(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, col: offset - (before.lastIndexOf('\n') + 1) + 1 };
}

describe('LineMap', () => {
  test('agrees with a recount at every offset, including line ends and the end of text', () => {
    const text = 'a: 1\n\nbb:\n  - x\r\n  - "y z"\nlast';
    const lm = new LineMap('f.yaml', text);
    for (let o = 0; o <= text.length; o++) expect(lm.position(o)).toEqual(refPos(text, o));
    const s = lm.span(8, 12);
    expect([s.line, s.col, s.endLine, s.endCol, s.offset, s.endOffset]).toEqual([3, 3, 4, 3, 8, 12]);
  });
});

describe('parseYaml spans', () => {
  const text = [
    'version: 1',
    'model:',
    '  context:',
    '    dilations: [63, 31, 15]',
    '    combine: sum',
    'stages:',
    '  - { name: a, steps: 10 }',
    '  - name: b',
    '    steps: "2*n"',
    'empty:',
    '',
  ].join('\n');
  const { value, diagnostics } = parseYaml('s.yaml', text);

  test('data and no diagnostics', () => {
    expect(diagnostics).toEqual([]);
    expect(value.data).toEqual({
      version: 1,
      model: { context: { dilations: [63, 31, 15], combine: 'sum' } },
      stages: [{ name: 'a', steps: 10 }, { name: 'b', steps: '2*n' }],
      empty: null,
    });
  });

  test('value spans point at the value text', () => {
    const at = (path: (string | number)[]) => {
      const s = value.spans.get(path)!;
      return [s.line, s.col, text.slice(s.offset, s.endOffset)];
    };
    expect(at(['model', 'context', 'dilations', 1])).toEqual([4, 21, '31']);
    expect(at(['model', 'context', 'dilations'])).toEqual([4, 16, '[63, 31, 15]']);
    expect(at(['stages', 0, 'steps'])).toEqual([7, 23, '10']);
    expect(at(['stages', 1, 'steps'])).toEqual([9, 12, '"2*n"']);
    // A key with no value: the key itself is the place to point at.
    expect(at(['empty'])).toEqual([10, 1, 'empty']);
  });

  test('key spans, and the nearest ancestor for paths that do not exist', () => {
    const k = value.spans.key(['model', 'context', 'combine'])!;
    expect([k.line, k.col, text.slice(k.offset, k.endOffset)]).toEqual([5, 5, 'combine']);
    const fallback = value.spans.get(['model', 'context', 'nothing', 3])!;
    expect(fallback).toEqual(value.spans.get(['model', 'context']));
    expect(value.spans.source('s.yaml')).toBe(text);
  });
});

describe('parseYaml problems', () => {
  test('duplicate key: span on the whole second key, data still returned (last wins)', () => {
    const text = 'a: 1\nb:\n  "cc": 2\n  "cc": 3\n';
    const r = parseYaml('d.yaml', text);
    expect(r.diagnostics.map((d) => [d.code, d.span!.line, d.span!.col, text.slice(d.span!.offset, d.span!.endOffset)])).toEqual([
      ['TDC0102', 4, 3, '"cc"'],
    ]);
    expect(r.diagnostics[0]!.message).toBe("duplicate key 'cc'");
    expect(r.value.data).toEqual({ a: 1, b: { cc: 3 } });
  });

  test('tab indentation: one diagnostic at the tab, no follow-up errors, no data', () => {
    const r = parseYaml('t.yaml', 'a:\n  b: 1\n  c:\n\t  - 1\n');
    expect(r.diagnostics.map((d) => [d.code, d.span!.line, d.span!.col])).toEqual([['TDC0103', 4, 1]]);
    expect(r.value.data).toBeUndefined();
  });

  test('every syntax error of a file is reported, one per line', () => {
    const r = parseYaml('e.yaml', 'a: "x\nb: [1\n');
    expect(r.diagnostics.length).toBeGreaterThanOrEqual(1);
    expect(r.diagnostics.every((d) => d.code === 'TDC0101' && d.severity === 'error')).toBe(true);
    const lines = r.diagnostics.map((d) => d.span!.line);
    expect(new Set(lines).size).toBe(lines.length);
  });

  test("an unclosed [ or { is reported at the bracket, not where yaml noticed it", () => {
    for (const [text, line, col, what] of [
      ['a: 1\nb: [1, 2\nc: 3\n', 2, 4, '['],
      ['a: { x: "[", y: 2\nc: 3\n', 1, 4, '{'],
    ] as const) {
      const r = parseYaml('u.yaml', text);
      expect(r.diagnostics.map((d) => [d.code, d.span!.line, d.span!.col, d.message])).toEqual([['TDC0101', line, col, `YAML syntax error: unclosed '${what}'`]]);
    }
  });

  test('an unknown tag is a warning and the value is kept as text', () => {
    const r = parseYaml('w.yaml', 'a: !foo bar\n');
    expect(r.diagnostics.map((d) => [d.code, d.severity, d.span!.col])).toEqual([['TDC0104', 'warning', 4]]);
    expect(r.value.data).toEqual({ a: 'bar' });
  });
});
