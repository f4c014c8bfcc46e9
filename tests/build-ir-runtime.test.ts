/**
 * The generated model.ts carries the network as the compiler's IR: for each example at its real size, its `NETWORK`
 * literal is the IR `tdc explain` reports, and the IR's total parameter count equals `countParams()` of the tfjs
 * model the runtime builds from that literal (built symbolically: weights are created, no data flows through it).
 */
import * as tf from '@tensorflow/tfjs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, test } from 'vitest';
import { planBuild } from '../compiler/cli/commands/build.js';
import type { Block, ModelIR } from '../spec/ir/index.js';
import { compile } from '../compiler/pipeline.js';
import { createNodeHost } from '../compiler/cli/host.js';
import { buildNetwork } from '../runtime/layers/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The value of `export const <name> = <literal>` in TypeScript source. Only plain data is accepted (objects,
 * arrays, strings, numbers, booleans, null, `as const`), so the generated literal is read, never executed.
 */
function readConst(source: string, name: string): unknown {
  const file = ts.createSourceFile('model.ts', source, ts.ScriptTarget.ES2022, true);
  const value = (n: ts.Expression): unknown => {
    if (ts.isAsExpression(n) || ts.isParenthesizedExpression(n) || ts.isSatisfiesExpression(n)) return value(n.expression);
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) return n.text;
    if (ts.isNumericLiteral(n)) return Number(n.text);
    if (ts.isPrefixUnaryExpression(n) && n.operator === ts.SyntaxKind.MinusToken) return -(value(n.operand) as number);
    if (n.kind === ts.SyntaxKind.TrueKeyword) return true;
    if (n.kind === ts.SyntaxKind.FalseKeyword) return false;
    if (n.kind === ts.SyntaxKind.NullKeyword) return null;
    if (ts.isArrayLiteralExpression(n)) return n.elements.map(value);
    if (ts.isObjectLiteralExpression(n)) {
      return Object.fromEntries(
        n.properties.map((p) => {
          if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) throw new Error(`not plain data: ${p.getText()}`);
          return [p.name.text, value(p.initializer)];
        }),
      );
    }
    throw new Error(`not plain data: ${n.getText()}`);
  };
  for (const st of file.statements) {
    if (!ts.isVariableStatement(st)) continue;
    for (const d of st.declarationList.declarations) {
      if (ts.isIdentifier(d.name) && d.name.text === name && d.initializer) return value(d.initializer);
    }
  }
  throw new Error(`no const ${name}`);
}

const flat = (bs: readonly Block[]): Block[] => bs.flatMap((b) => ('layers' in b ? [b, ...flat(b.layers)] : [b]));

/**
 * robot18 counted by hand from the architecture description: conv = k·k·Cin·Cout + Cout, dense = in·out + out.
 * (Larger than a plain VGG16 because the context ensemble runs at the encoder's 512 channels: 15 convs of 2.36 M.)
 */
const conv = (k: number, cin: number, cout: number) => k * k * cin * cout + cout;
const dense = (i: number, o: number) => i * o + o;
const ROBOT18_HAND_COUNT =
  14_714_688 + // VGG16 conv part, 5 stages (the published Keras count)
  3 * 5 * conv(3, 512, 512) + // context: 3 task pairs × dilations [63, 31, 15, 3, 1], sum combine, no projection
  conv(1, 512, 256) + 3 * conv(3, 512, 256) + conv(1, 512, 256) + conv(1, 5 * 256, 256) + // ASPP [1, 6, 12, 18] + pooling
  conv(1, 256, 12) + // seg head logits
  dense(512, 256) + dense(256, 12) + // class head
  dense(512, 256) + dense(256, 3); // scene head

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('readConst', () => {
  test('reads plain data and refuses code', () => {
    expect(readConst("export const A = { b: [1, -2.5, 'x'], 'c-d': null, e: true } as const;", 'A')).toEqual({ b: [1, -2.5, 'x'], 'c-d': null, e: true });
    expect(() => readConst('export const A = { b: f() };', 'A')).toThrow(/not plain data/);
  });
});

describe.each(['quickstart', 'refuge18', 'brats18', 'robot18'])('%s', (name) => {
  test('the generated NETWORK is the IR; its parameters = countParams() of the network built from it', async () => {
    const spec = `examples/${name}.yaml`;
    const plan = await planBuild({ spec, outDir: `build/${name}`, cwd: repoRoot });
    const model = plan.files?.find((f) => f.path === 'model.ts');
    expect(model, 'model.ts generated').toBeDefined();
    const generated = readConst(model!.contents, 'NETWORK') as ModelIR;
    // The IR as `tdc explain` reports it (compiled from the same file, cwd-independent host).
    const host = createNodeHost();
    const compiled = compile(join(repoRoot, spec), host, []);
    expect(compiled.ir, 'IR').toBeDefined();
    const ir = compiled.ir!;
    expect(generated).toEqual(ir);
    const net = buildNetwork(generated, { seed: 1 });
    try {
      const runtimeParams = net.model.countParams();
      if (runtimeParams !== ir.totals.params) {
        // Say which blocks disagree (BatchNorm is a separate tfjs layer but part of the IR conv).
        const rows: string[] = [];
        for (const b of flat(ir.blocks)) {
          if (b.kind !== 'conv' && b.kind !== 'atrous-conv' && b.kind !== 'dense') continue;
          const bn = b.kind !== 'dense' && b.norm === 'batch' ? 4 * b.filters : 0;
          let got: number | string;
          try {
            got = net.model.getLayer(b.name).countParams() + bn;
          } catch {
            got = 'missing';
          }
          if (got !== b.params) rows.push(`${b.name}: IR ${b.params}, runtime ${got}`);
        }
        expect.fail(`IR ${ir.totals.params} ≠ runtime ${runtimeParams}\n${rows.join('\n')}`);
      }
      expect(runtimeParams).toBe(ir.totals.params);
      if (name === 'robot18') expect(runtimeParams).toBe(ROBOT18_HAND_COUNT);
    } finally {
      net.model.dispose();
    }
  });
});
