// `tdc study`: the study file's diagnostics, checking every variant before training, the table, resuming.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStudy, studyRuns } from '../compiler/study.js';
import { runTdc } from './helpers/run-tdc.js';

const work = mkdtempSync(join(tmpdir(), 'tdc-study-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const QUICKSTART = join(__dirname, '..', 'examples', 'quickstart.yaml');

describe('study files', () => {
  it('a valid study: defaults, runs in order with the overrides in order', () => {
    const r = parseStudy('s.yaml', 'version: 1\nname: t\nspec: a.yaml\nset: [vars.n=3]\nvariants:\n  - { name: A, set: [x=1] }\n  - { name: B, rows: stages }\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.value?.seeds).toEqual([1, 2]);
    const runs = studyRuns(r.value!, ['y=2']);
    expect(runs.map((x) => [x.variant.name, x.seed])).toEqual([['A', 1], ['A', 2], ['B', 1], ['B', 2]]);
    expect(runs[1]!.overrides).toEqual(['vars.n=3', 'x=1', 'y=2', 'train.seed=2']);
  });

  it('unknown keys, twin names and a variant without a spec are coded, placed errors', () => {
    let r = parseStudy('s.yaml', 'version: 1\nname: t\nspec: a.yaml\nvariants:\n  - { name: A, sett: [] }\n');
    expect(r.diagnostics.map((d) => [d.code, d.span?.line, d.span?.col])).toEqual([['TDC0203', 5, 16]]);
    expect(r.diagnostics[0]!.hint).toBe("did you mean 'set'?");
    r = parseStudy('s.yaml', 'version: 1\nname: t\nspec: a.yaml\nvariants:\n  - { name: "A (x)" }\n  - { name: "A x" }\n');
    expect(r.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([['TDC0702', 6]]);
    r = parseStudy('s.yaml', 'version: 1\nname: t\nvariants:\n  - { name: A }\n');
    expect(r.diagnostics.map((d) => d.code)).toEqual(['TDC0703']);
    expect(r.value).toBeUndefined();
  });
});

describe('the example studies', () => {
  const dir = join(__dirname, '..', 'examples', 'studies');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('there are example studies', () => expect(files.length).toBeGreaterThanOrEqual(3));

  // Every row compiles; the only warnings are the base spec's own (unused loss terms in the single-task rows,
  // ROBOT18's 63/31 context dilations on its 16x20 map), never one that says a row's keys are ignored (TDC0525)
  // or wrong.
  it.each(files)('%s: --check compiles every variant with no unexpected warning', async (f) => {
    const study = parseStudy(f, readFileSync(join(dir, f), 'utf8'));
    expect(study.diagnostics).toEqual([]);
    const r = await runTdc(['study', f, '--check'], dir);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/every variant compiles; nothing trained \(--check\)/);
    for (const v of study.value!.variants) expect(r.out).toContain(`  ${v.name}`);
    const codes = new Set([...`${r.out}${r.err}`.matchAll(/ (?:warning|error) (TDC\d{4})/g)].map((m) => m[1]));
    for (const c of codes) expect(['TDC0514', 'TDC0520']).toContain(c);
  });

  it('a spec given by an absolute path is read from there, not joined to the study folder', async () => {
    writeFileSync(join(work, 'abs.yaml'), `version: 1\nname: abs\nspec: ${join(__dirname, '..', 'examples', 'robot18.yaml')}\nseeds: [1]\nvariants:\n  - { name: Base }\n`);
    const r = await runTdc(['study', 'abs.yaml', '--check'], work);
    expect(r.code, r.out + r.err).toBe(0);
  });

  it('--check catches a wrong row: context settings in a no-ensemble row warn TDC0525', async () => {
    const r = await runTdc(['study', 'robot18-table1.yaml', '--check', '--set', 'model.context.dilations=[1]'], dir);
    expect(r.out + r.err).toMatch(/warning TDC0525: context\.dilations is ignored/);
  });
});

describe('tdc study on a tiny quickstart', () => {
  const spec = join(work, 'quickstart.yaml');
  copyFileSync(QUICKSTART, spec);
  const common = [
    '--set', `data.root=${join(work, 'data')}`,
    '--set', `data.scenes={from: file, file: ${join(work, 'data', 'scenes.csv')}}`,
    '--set', 'data.synthesize={n: 12, seed: 3}',
    '--set', 'task.size=[32, 40]',
    '--set', 'vars.base=4',
    '--set', 'model.context.dilations=[3, 1]',
    '--set', 'model.decoder.dilations=[1, 2]',
  ];

  it('refuses a variant whose spec does not compile, before training anything', async () => {
    writeFileSync(join(work, 'bad.yaml'), 'version: 1\nname: bad\nspec: quickstart.yaml\nseeds: [1]\nvariants:\n  - { name: ok }\n  - { name: broken, set: [model.decoder.ratez=3] }\n');
    const r = await runTdc(['study', 'bad.yaml', '-o', 'out-bad', ...common], work);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/bad\.yaml:7:\d+ error TDC0701: variant 'broken' \(seed 1\)/);
    expect(existsSync(join(work, 'out-bad', 'ok'))).toBe(false);
  });

  it('trains variants × seeds, prints mean ± std rows (a row per stage where asked) and skips finished runs', async () => {
    writeFileSync(
      join(work, 'study.yaml'),
      [
        'version: 1',
        'name: tiny',
        'spec: quickstart.yaml',
        'seeds: [1, 2]',
        'variants:',
        '  - { name: Base, set: ["stages=[{name: seg, label: Base, loss: seg, steps: 2}]"] }',
        '  - { name: Full, rows: stages, set: [stages.0.steps=2, stages.1.steps=1, stages.2.steps=1] }',
        '',
      ].join('\n'),
    );
    const r = await runTdc(['study', 'study.yaml', '-o', 'out', ...common], work);
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out).toMatch(/study tiny: 2 variants × 2 seeds = 4 trainings/);
    const table = r.out.slice(r.out.lastIndexOf('| Row'));
    expect(table).toMatch(/^\| Row\s+\| IoU %\s+\| Dice %\s+\|/);
    const rows = table.split('\n').filter((l) => /^\| (?!Row|-)/.test(l)).map((l) => l.split('|')[1]!.trim());
    expect(rows).toEqual(['Base', 'Base+Class (step 1)', 'Base+Class+Sync (steps 1–2)', 'Base+Class+Sync+Scene (steps 1–3)']);
    expect(table).toMatch(/\d+\.\d\d ± \d+\.\d\d/);
    const json = JSON.parse(readFileSync(join(work, 'out', 'study.json'), 'utf8')) as { rows: { seeds: number[]; mean: Record<string, number | null> }[] };
    expect(json.rows).toHaveLength(4);
    expect(json.rows[0]!.seeds).toEqual([1, 2]);
    expect(readFileSync(join(work, 'out', 'study.html'), 'utf8')).toMatch(/<section class="study">/);
    // Generated images are at the network size, so the protocol's pooled figure is the training validation's.
    const summary = JSON.parse(readFileSync(join(work, 'out', 'Full', 'seed-1', 'run', 'summary.json'), 'utf8')) as {
      stages: { validation: { miou: number }; scores: { metrics: Record<string, number> } }[];
    };
    expect(summary.stages).toHaveLength(3);
    for (const st of summary.stages) expect(st.scores.metrics['miou_pooled']).toBeCloseTo(st.validation.miou, 6);
    // Run again: nothing is trained, the same table comes back.
    const again = await runTdc(['study', 'study.yaml', '-o', 'out', ...common], work);
    expect(again.code, again.err).toBe(0);
    expect(again.out.match(/finished earlier/g)).toHaveLength(4);
    expect(again.out.slice(again.out.lastIndexOf('| Row'))).toBe(table);
  }, 300_000);
});
