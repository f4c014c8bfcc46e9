/** Unit tests of diagnostic printing: text with source frames, sorting, counts, JSON and GitHub annotations. */
import { describe, expect, test } from 'vitest';
import type { Diagnostic } from '../spec/diagnostics.js';
import { formatDiagnostics, sortDiagnostics, summaryLine } from '../compiler/format.js';
import { LineMap, SpanTable } from '../compiler/parse/index.js';

const text = 'model:\n  context:\n    dilation: [1]\n  heads: {\n    x: 1 }\n';
const lm = new LineMap('s.yaml', text);
const spans = new SpanTable();
spans.addSource('s.yaml', text);
const at = (sub: string, len = sub.length) => lm.span(text.indexOf(sub), text.indexOf(sub) + len);

const unknown: Diagnostic = { code: 'TDC0203', severity: 'error', message: "unknown key 'dilation' in model.context", span: at('dilation'), hint: "did you mean 'dilations'?" };
const multi: Diagnostic = { code: 'TDC0201', severity: 'warning', message: 'a span over two lines', span: at('{\n    x: 1 }') };
const nowhere: Diagnostic = { code: 'TDC0901', severity: 'error', message: "cannot read spec file 'x.yaml'" };
const empty: Diagnostic = { code: 'TDC0205', severity: 'info', message: 'zero width', span: lm.span(7, 7) };

describe('text', () => {
  test('location, severity, code, source line, underline, hint and count', () => {
    expect(formatDiagnostics([unknown], spans, { color: false })).toBe(
      [
        "s.yaml:3:5 error TDC0203: unknown key 'dilation' in model.context",
        '  3 |     dilation: [1]',
        '    |     ~~~~~~~~',
        "  hint: did you mean 'dilations'?",
        '1 error',
        '',
      ].join('\n'),
    );
  });

  test('a multi-line span is underlined to the end of its first line; a zero-width span gets one ~', () => {
    const out = formatDiagnostics([multi, empty], spans, { color: false });
    expect(out).toContain('  4 |   heads: {\n    |          ~\n');
    expect(out).toContain('s.yaml:2:1 info TDC0205: zero width\n  2 |   context:\n    | ~\n');
    expect(out.endsWith('1 warning, 1 note\n')).toBe(true);
  });

  test('without a source the frame is left out; colour only when asked', () => {
    const out = formatDiagnostics([unknown, nowhere], undefined, { color: false });
    expect(out).not.toContain(' | ');
    expect(out.split('\n')[0]).toBe("error TDC0901: cannot read spec file 'x.yaml'");
    expect(out).not.toContain('\x1b[');
    expect(formatDiagnostics([unknown], spans, { color: true })).toContain('\x1b[31merror\x1b[0m');
  });
});

test('sorting: placeless first, then file, line, col; ties keep their order', () => {
  const a = { ...unknown, message: 'a' };
  const b = { ...unknown, message: 'b' };
  const other: Diagnostic = { ...unknown, span: { ...unknown.span!, file: 'a.yaml', line: 9 } };
  expect(sortDiagnostics([multi, b, a, other, nowhere]).map((d) => d.message)).toEqual([nowhere.message, unknown.message, 'b', 'a', multi.message]);
});

test('summary line', () => {
  expect(summaryLine([])).toBe('no problems');
  expect(summaryLine([unknown, nowhere, multi])).toBe('2 errors, 1 warning');
});

test('json is an array of plain diagnostics with positions', () => {
  const parsed = JSON.parse(formatDiagnostics([nowhere, unknown], spans, { color: false, format: 'json' }));
  expect(parsed).toEqual([
    { code: 'TDC0901', severity: 'error', message: "cannot read spec file 'x.yaml'" },
    { code: 'TDC0203', severity: 'error', message: "unknown key 'dilation' in model.context", hint: "did you mean 'dilations'?", file: 's.yaml', line: 3, col: 5, endLine: 3, endCol: 13 },
  ]);
});

test('github workflow commands, with escaping of properties and data', () => {
  const odd: Diagnostic = { code: 'TDC0204', severity: 'warning', message: '50% off\nnext', span: { ...unknown.span!, file: 'a,b:c.yaml' } };
  // Sorted by file: 'a,b:c.yaml' comes before 's.yaml'.
  expect(formatDiagnostics([unknown, odd], spans, { color: false, format: 'github' })).toBe(
    '::warning file=a%2Cb%3Ac.yaml,line=3,col=5,endLine=3,endColumn=13,title=TDC0204::50%25 off%0Anext\n' +
      "::error file=s.yaml,line=3,col=5,endLine=3,endColumn=13,title=TDC0203::unknown key 'dilation' in model.context (hint: did you mean 'dilations'?)\n",
  );
});
