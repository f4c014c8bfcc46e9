/** Printing diagnostics like a compiler: `file:line:col error CODE: message`, the source line, a ~~~ underline. */
import type { Diagnostic, Severity } from '../spec/diagnostics.js';
import type { SpanIndex } from './parse/index.js';

export type DiagnosticFormat = 'text' | 'json' | 'github';

export interface FormatOptions {
  /** ANSI colours (only for `text`; the CLI enables them on a TTY unless NO_COLOR is set). */
  color: boolean;
  /** text: for people; json: an array of diagnostics; github: workflow commands that annotate a pull request. */
  format?: DiagnosticFormat;
}

const ANSI = { red: '\x1b[31m', yellow: '\x1b[33m', cyan: '\x1b[36m', bold: '\x1b[1m', dim: '\x1b[2m', reset: '\x1b[0m' };
const SEVERITY_COLOR: Record<Severity, string> = { error: ANSI.red, warning: ANSI.yellow, info: ANSI.cyan };

/** Problems without a place come first, then by file, line and column; ties keep the stages' order. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  return diags
    .map((d, i) => ({ d, i }))
    .sort((a, b) => {
      const sa = a.d.span;
      const sb = b.d.span;
      if (!sa || !sb) return (sa ? 1 : 0) - (sb ? 1 : 0) || a.i - b.i;
      return (sa.file < sb.file ? -1 : sa.file > sb.file ? 1 : 0) || sa.line - sb.line || sa.col - sb.col || a.i - b.i;
    })
    .map((x) => x.d);
}

/** "2 errors, 1 warning", or "no problems". */
export function summaryLine(diags: readonly Diagnostic[]): string {
  const n = (sev: Severity) => diags.filter((d) => d.severity === sev).length;
  const parts: string[] = [];
  for (const [sev, word] of [['error', 'error'], ['warning', 'warning'], ['info', 'note']] as const) {
    const c = n(sev);
    if (c > 0) parts.push(`${c} ${word}${c === 1 ? '' : 's'}`);
  }
  return parts.length ? parts.join(', ') : 'no problems';
}

export function formatDiagnostics(diags: readonly Diagnostic[], spans: SpanIndex | undefined, options: FormatOptions): string {
  const sorted = sortDiagnostics(diags);
  switch (options.format ?? 'text') {
    case 'json':
      return JSON.stringify(sorted.map(toJson), null, 2) + '\n';
    case 'github':
      return sorted.map(toGithub).join('');
    default:
      return formatText(sorted, spans, options.color);
  }
}

function toJson(d: Diagnostic): Record<string, unknown> {
  const s = d.span;
  return {
    code: d.code,
    severity: d.severity,
    message: d.message,
    ...(d.hint ? { hint: d.hint } : {}),
    ...(s ? { file: s.file, line: s.line, col: s.col, endLine: s.endLine, endCol: s.endCol } : {}),
  };
}

/** GitHub workflow command escaping: data escapes % CR LF, properties also : and ,. */
function ghData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function ghProp(s: string): string {
  return ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function toGithub(d: Diagnostic): string {
  const kind = d.severity === 'info' ? 'notice' : d.severity;
  const s = d.span;
  const props = [`title=${ghProp(d.code)}`];
  if (s) props.unshift(`file=${ghProp(s.file)}`, `line=${s.line}`, `col=${s.col}`, `endLine=${s.endLine}`, `endColumn=${s.endCol}`);
  const message = d.hint ? `${d.message} (hint: ${d.hint})` : d.message;
  return `::${kind} ${props.join(',')}::${ghData(message)}\n`;
}

function formatText(diags: readonly Diagnostic[], spans: SpanIndex | undefined, color: boolean): string {
  const c = (code: string, text: string) => (color ? `${code}${text}${ANSI.reset}` : text);
  let out = '';
  for (const d of diags) {
    const s = d.span;
    const where = s ? c(ANSI.bold, `${s.file}:${s.line}:${s.col}`) + ' ' : '';
    out += `${where}${c(SEVERITY_COLOR[d.severity], d.severity)} ${c(ANSI.dim, d.code)}: ${d.message}\n`;
    const text = s ? spans?.source(s.file) : undefined;
    if (s && text !== undefined) out += codeFrame(text, s.line, s.col, s.endLine, s.endCol, color);
    if (d.hint) out += `  ${c(ANSI.cyan, 'hint')}: ${d.hint}\n`;
  }
  return out + `${summaryLine(diags)}\n`;
}

/** The span's first line with a ~~~ underline; a span that runs past the line is underlined to its end. */
function codeFrame(text: string, line: number, col: number, endLine: number, endCol: number, color: boolean): string {
  const src = (text.split('\n')[line - 1] ?? '').replace(/\r$/, '');
  // Tabs are shown as single spaces so that the underline stays under the right characters.
  const shown = src.replace(/\t/g, ' ');
  const end = endLine > line ? Math.max(shown.trimEnd().length + 1, col + 1) : Math.max(endCol, col + 1);
  const gutter = String(line);
  const pad = ' '.repeat(gutter.length);
  const underline = ' '.repeat(col - 1) + '~'.repeat(Math.max(1, end - col));
  return `  ${gutter} | ${shown}\n  ${pad} | ${color ? `${ANSI.red}${underline}${ANSI.reset}` : underline}\n`;
}
