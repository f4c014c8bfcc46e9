/** `tdc explain`: the resolved spec and a per-block table of the model IR, as text or as JSON. */
import { Document, isScalar, visit } from 'yaml';
import type { Spec } from '../spec/types.js';
import { sizeAxes, sizeText } from '../spec/shape.js';
import { formatExpr } from './expr/parser.js';
import { canonicalize, type Block, type ModelIR } from '../spec/ir/index.js';

/** 14714688 → "14.7 M"; below a thousand the number itself. */
export function humanCount(n: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, unit] of units) if (Math.abs(n) >= scale) return `${(n / scale).toFixed(1)} ${unit}`;
  return String(n);
}

/** 54.2e9 → "54.2 GFLOP". */
export function humanFlops(n: number): string {
  const c = humanCount(n);
  return /[A-Za-z]$/.test(c) ? `${c}FLOP` : `${c} FLOP`;
}

function rfText(b: Block): string {
  if (b.kind === 'input') return '-';
  return b.rf === 'global' ? 'global' : b.rf.join('×');
}

/** One row per top-level block. */
export interface ExplainRow {
  name: string;
  kind: string;
  part: string;
  outShape: number[];
  rf: number[] | 'global';
  params: number;
  flops: number;
}

function rows(ir: ModelIR): ExplainRow[] {
  return ir.blocks.map((b) => ({ name: b.name, kind: b.kind, part: b.part, outShape: b.outShape, rf: b.rf, params: b.params, flops: b.flops }));
}

/** The spec as shown: stage losses printed as expressions rather than trees. */
function specView(spec: Spec): unknown {
  return {
    ...spec,
    stages: spec.stages.map((s) => ({ ...s, loss: formatExpr(s.loss) })),
  };
}

/** Human-readable explanation: canonical YAML of the resolved spec, then the block table and totals. */
export function explainText(spec: Spec, ir: ModelIR): string {
  const doc = new Document(canonicalize(specView(spec)), { sortMapEntries: true });
  // Short lists of scalars (sizes, colours, rates) read best on one line.
  visit(doc, {
    Seq(_, node) {
      if (node.items.every((i) => isScalar(i))) node.flow = true;
    },
  });
  const yaml = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  const header = ['block', 'kind', 'output', 'receptive field', 'params', 'FLOPs'];
  const table = ir.blocks.map((b) => [
    b.name,
    b.kind,
    sizeText(b.outShape, { dims: ir.dims, channels: true }),
    rfText(b),
    b.params.toLocaleString('en-US'),
    b.flops === 0 ? '0' : humanFlops(b.flops),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  // Text columns align left, numbers right, so digits line up.
  const line = (r: string[]): string =>
    r.map((c, i) => (i >= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const shape = sizeAxes({ dims: ir.dims, channels: true });
  return [
    `# resolved spec: ${spec.name}`,
    yaml.trimEnd(),
    '',
    `# model (${ir.dims}D, input ${sizeText(ir.inputShape, { dims: ir.dims, channels: true })} as ${shape}, encoder stride ${ir.stride})`,
    line(header),
    rule,
    ...table.map(line),
    rule,
    `total parameters: ${humanCount(ir.totals.params)} (${ir.totals.params.toLocaleString('en-US')})`,
    `forward FLOPs per image: ${humanFlops(ir.totals.flops)} (${ir.totals.flops.toLocaleString('en-US')})`,
    '',
  ].join('\n');
}

/** The same as JSON-ready data (canonical key order): spec, full IR, the block table and totals. */
export function explainJson(spec: Spec, ir: ModelIR): unknown {
  return canonicalize({
    spec,
    ir,
    blocks: rows(ir),
    totals: { params: ir.totals.params, flops: ir.totals.flops },
  });
}
