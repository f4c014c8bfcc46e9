/** Text escaping for the report: everything that reaches HTML or SVG markup from a log, a spec or an id goes through here. */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Escapes text for HTML/SVG element content and quoted attribute values. Both quote kinds are escaped so the
 * same function is safe in either attribute quoting; control characters other than tab/newline are dropped
 * because XML (inline SVG) rejects them and they carry no meaning in a report.
 */
export function escapeHtml(text: unknown): string {
  return String(text)
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
}
