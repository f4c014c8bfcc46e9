/** Reading run folders (finished, crashed, empty) into RunData, rendering the HTML, and the `tdc report` command. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli } from '../compiler/cli/main.js';
import { defaultRunDir, formatDuration, loadRunData, renderReport } from '../runtime/report/index.js';
import { FIXTURE_STAGES, writeFixtureRun } from './report-fixture.js';
import { TdcError } from '../runtime/errors.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'tdc-report-html-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function fresh(name: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (s) => (out += s), err: (s) => (err += s), color: false });
  return { code, out, err };
}

describe('loadRunData', () => {
  test('a finished run: stages with offsets from the lock, records, summary and samples', async () => {
    const dir = fresh('done');
    const facts = writeFixtureRun(dir, { samples: 2 });
    const run = await loadRunData(dir);
    expect(run.warnings).toEqual([]);
    expect(run.steps).toHaveLength(facts.stepRecords);
    expect(run.validations).toHaveLength(facts.valRecords);
    expect(run.stages.map((s) => [s.name, s.label, s.offset, s.loggedSteps, s.plannedSteps])).toEqual(
      FIXTURE_STAGES.map((s, k) => [s.name, s.label, 20 * k, 20, 20]),
    );
    expect(run.facts).toMatchObject({ status: 'completed', specName: 'robot18 <test> & "quotes"', hash: 'sha256:0123456789abcdef', backend: 'cpu', steps: 80 });
    // 80 steps of 1.5 s: the last record's elapsed time.
    expect(run.facts.durationSec).toBeCloseTo(120, 9);
    // JSON writes NaN as null; it comes back as NaN.
    expect(Number.isNaN(run.validations[0]!.iou[3])).toBe(true);
    expect(run.classes.map((c) => c.name)).toEqual(['background', 'shaft', 'clasper', 'kidney <parenchyma>']);
    expect(run.samples).toHaveLength(2);
    expect(run.samples[0]!.dataUri).toMatch(/^data:image\/png;base64,iVBORw0KGgo/);
    expect(run.samples[0]!.classes.map((c) => [c.name, c.prob, c.truth])).toEqual([
      ['background', 0.99, 1],
      ['shaft', 0.8, 1],
      ['clasper', 0.3, 1],
      ['kidney <parenchyma>', 0.6, 0],
    ]);
  });

  test('a crashed run: partial last line skipped with a warning, no summary, stages from the log', async () => {
    const dir = fresh('crashed');
    const facts = writeFixtureRun(dir, { stages: 2, truncateLastLine: true, summary: false });
    rmSync(path.join(dir, 'checkpoints'), { recursive: true });
    const run = await loadRunData(dir);
    expect(run.facts.status).toBe('running or crashed');
    expect(run.summary).toBeNull();
    // The fixture's last line is the second stage's final validation.
    expect(run.validations).toHaveLength(facts.valRecords - 1);
    expect(run.steps).toHaveLength(facts.stepRecords);
    expect(run.warnings).toHaveLength(1);
    expect(run.warnings[0]).toMatch(/log\.jsonl line \d+ is not valid JSON \(the last line, cut off/);
    // Without a lock: stage order and offsets come from the log itself.
    expect(run.stages.map((s) => [s.name, s.label, s.offset, s.plannedSteps])).toEqual([
      ['base', 'base', 0, null],
      ['cls', 'cls', 20, null],
    ]);
    expect(run.classes.map((c) => c.name)).toEqual(['class 0', 'class 1', 'class 2', 'class 3']);
    const html = renderReport(run);
    expect(html).toContain('running or crashed');
    expect(html).toContain('unfinished: validation at step 10');
    expect(html).toContain('No sample overlays in this run.');
  });

  test('malformed records are skipped one by one', async () => {
    const dir = fresh('malformed');
    writeFileSync(
      path.join(dir, 'log.jsonl'),
      [
        '{"kind":"step","stage":"a","step":1,"terms":{"seg":1},"total":1,"lr":0.1,"imagesPerSec":1,"time":"t","elapsed":1}',
        'garbage',
        '{"kind":"step","step":2}',
        '{"kind":"other","stage":"a","step":3}',
        '{"kind":"step","stage":"a","step":4,"terms":{"seg":0.5},"total":0.5,"lr":0.1,"imagesPerSec":1,"time":"t","elapsed":2}',
        '',
      ].join('\n'),
    );
    const run = await loadRunData(dir);
    expect(run.steps.map((s) => s.step)).toEqual([1, 4]);
    expect(run.warnings).toEqual([
      'log.jsonl line 2 is not valid JSON; skipped',
      'log.jsonl line 3 has no stage/step; skipped',
      'log.jsonl line 4 is neither a step nor a validation record; skipped',
    ]);
    expect(renderReport(run)).toContain('No validation in this run yet.');
  });

  test('a missing, a non-folder and an empty run folder are one-line ReportErrors', async () => {
    await expect(loadRunData(path.join(tmp, 'nope'))).rejects.toThrow(TdcError);
    const file = path.join(tmp, 'file.txt');
    writeFileSync(file, 'x');
    await expect(loadRunData(file)).rejects.toThrow(/is not a folder/);
    const empty = fresh('empty');
    writeFileSync(path.join(empty, 'log.jsonl'), '');
    const err = await loadRunData(empty).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TdcError);
    expect((err as Error).message).toMatch(/holds no training run yet/);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('renderReport', () => {
  test('escapes every text from the run and embeds no external resource', async () => {
    const dir = fresh('html');
    writeFixtureRun(dir, { samples: 2 });
    const html = renderReport(await loadRunData(dir));
    expect(html).toContain('robot18 &lt;test&gt; &amp; &quot;quotes&quot;');
    expect(html).toContain('kidney &lt;parenchyma&gt;');
    expect(html).not.toContain('<test>');
    expect(html).not.toMatch(/<script|<link|@import|url\(|src="http|href="http/i);
    // The stage table holds the paper's rows with class and scene accuracy.
    const table = html.split('<section class="stages">')[1]!.split('</section>')[0]!;
    for (const s of FIXTURE_STAGES) expect(table).toContain(`<strong>${s.label.replace(/</g, '&lt;')}</strong>`);
    expect(table).toContain('<th>Class acc.</th><th>Scene acc.</th>');
    // Final row: stage 4 ends at base = 0.3 + 0.3 + 0.1 = 0.7; mDice 0.78; class acc 0.75; scene acc 0.8.
    expect(table).toMatch(/Base\+Class\+Sync\+Scene<\/strong><\/td><td class="num">20<\/td><td class="num">0\.7000<\/td><td class="num">0\.7800<\/td><td class="num">0\.7500<\/td><td class="num">0\.8000<\/td>/);
    // One chart per term plus total, learning rate and validation.
    expect(html.match(/<svg /g)).toHaveLength(1 + 4 + 1 + 1);
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(2);
    // NaN IoU of the absent class shows as a dash.
    expect(html).toMatch(/kidney &lt;parenchyma&gt;<\/td><td class="num">–<\/td><td class="num">–<\/td>/);
  });

  test('durations read as a human would write them', () => {
    expect(formatDuration(12.34)).toBe('12.3 s');
    expect(formatDuration(3725.4)).toBe('1 h 2 min 5 s');
    expect(formatDuration(125)).toBe('2 min 5 s');
    expect(formatDuration(NaN)).toBe('–');
  });
});

describe('tdc report', () => {
  test('writes <run>/report.html and prints its path', async () => {
    const dir = fresh('cli');
    writeFixtureRun(dir, { samples: 1 });
    const r = await cli('report', dir);
    expect(r).toEqual({ code: 0, out: `${path.join(dir, 'report.html')}\n`, err: '' });
    expect(readFileSync(path.join(dir, 'report.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
  });

  test('a build folder stands for the run inside it', async () => {
    const build = fresh('cli-build');
    writeFixtureRun(path.join(build, 'run'));
    const r = await cli('report', build);
    expect(r).toEqual({ code: 0, out: `${path.join(build, 'run', 'report.html')}\n`, err: '' });
  });

  test('a missing or empty run folder is one line and exit 1', async () => {
    const missing = await cli('report', path.join(tmp, 'no-such-run'));
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`tdc: no run folder at ${path.join(tmp, 'no-such-run')}\n`);
    const empty = fresh('cli-empty');
    const r = await cli('report', empty);
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toHaveLength(2);
    expect(r.err).toMatch(/^tdc: .* holds no training run yet/);
    expect(existsSync(path.join(empty, 'report.html'))).toBe(false);
  });

  test('without an argument: the run of the last build, or one line saying there is none', async () => {
    const project = fresh('project');
    await expect(defaultRunDir(project)).rejects.toThrow(/no build recorded here/);
    mkdirSync(path.join(project, '.tdc'));
    writeFileSync(path.join(project, '.tdc', 'last-build.json'), JSON.stringify({ dir: 'out/robot18', spec: 'robot18.yaml' }));
    expect(await defaultRunDir(project)).toBe(path.join(project, 'out', 'robot18', 'run'));
    const saved = process.cwd();
    try {
      process.chdir(project);
      const none = await cli('report');
      expect(none.code).toBe(1);
      expect(none.err).toMatch(/^tdc: no run folder at .*out[\\/]robot18[\\/]run\n$/);
      writeFixtureRun(path.join(project, 'out', 'robot18', 'run'));
      const ok = await cli('report');
      expect(ok.code).toBe(0);
      expect(ok.out).toBe(`${path.join(project, 'out', 'robot18', 'run', 'report.html')}\n`);
      rmSync(path.join(project, '.tdc', 'last-build.json'));
      const noBuild = await cli('report');
      expect(noBuild.code).toBe(1);
      expect(noBuild.err).toMatch(/^tdc: no run given and no build recorded here .*\n$/);
    } finally {
      process.chdir(saved);
    }
  });
});
