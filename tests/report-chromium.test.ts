/**
 * The report in a real browser: headless Debian Chromium loads a report built from a synthetic run folder, a
 * probe script (added to a copy of the page only) records what the browser drew and decoded, and `--dump-dom`
 * hands it back. A screenshot is kept in tests/artifacts/report.png. Fails, never skips, when Chromium cannot
 * run: `node scripts/ensure-test-deps.mjs` installs it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, test } from 'vitest';
import { writeReport } from '../runtime/report/write.js';
import { FIXTURE_STAGES, writeFixtureRun, type FixtureFacts } from './report-fixture.js';

/** Debian's Chromium; TDC_CHROMIUM points elsewhere (e.g. to check that a missing browser fails the test). */
const CHROMIUM = process.env.TDC_CHROMIUM ?? '/usr/bin/chromium';
const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = path.join(here, 'artifacts');
const tmp = mkdtempSync(path.join(tmpdir(), 'tdc-report-chromium-'));
const SAMPLES = 4;
/** Fixture overlays: three 32×24 panels with two 4-pixel gaps. */
const SAMPLE_SIZE = [3 * 32 + 2 * 4, 24];

/** Runs after load: writes into the DOM what only a browser knows (decoded image sizes, drawn path lengths). */
const PROBE = `<script>
window.addEventListener('load', () => {
  for (const img of document.querySelectorAll('img')) {
    img.setAttribute('data-natural', img.complete ? img.naturalWidth + 'x' + img.naturalHeight : 'incomplete');
  }
  for (const p of document.querySelectorAll('svg.chart path.line')) {
    p.setAttribute('data-length', String(p.getTotalLength()));
  }
  for (const s of document.querySelectorAll('svg.chart')) {
    const r = s.getBoundingClientRect();
    s.setAttribute('data-box', Math.round(r.width) + 'x' + Math.round(r.height));
  }
  document.body.setAttribute('data-probe', 'done');
});
</script>`;

function chromium(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const base = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--hide-scrollbars',
    `--user-data-dir=${path.join(tmp, 'profile')}`,
  ];
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM, [...base, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`chromium failed (${err.message.split('\n')[0]}); stderr: ${stderr.slice(-500)}`));
      else resolve({ stdout, stderr });
    });
  });
}

interface Prepared {
  facts: FixtureFacts;
  reportFile: string;
  dom: string;
}

/**
 * Builds the report and loads it once; every test awaits this, so a missing or broken Chromium fails each test
 * (a failing beforeAll would only mark them skipped).
 */
async function prepare(): Promise<Prepared> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run 'node scripts/ensure-test-deps.mjs' (or apt-get install -y chromium)`);
  }
  const runDir = path.join(tmp, 'run');
  const facts = writeFixtureRun(runDir, { samples: SAMPLES });
  const reportFile = await writeReport(runDir);
  const probed = path.join(tmp, 'probed.html');
  writeFileSync(probed, readFileSync(reportFile, 'utf8').replace('</body>', `${PROBE}\n</body>`));
  const dom = (await chromium(['--virtual-time-budget=5000', '--dump-dom', pathToFileURL(probed).href])).stdout;
  return { facts, reportFile, dom };
}
let prepared: Promise<Prepared> | null = null;
const ready = (): Promise<Prepared> => (prepared ??= prepare());

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Attributes of every element with the given tag and class, in document order. */
function elements(html: string, tag: string, cls: string): Record<string, string>[] {
  const re = new RegExp(`<${tag}\\b[^>]*class="${cls}"[^>]*>`, 'g');
  return [...html.matchAll(re)].map((m) => Object.fromEntries([...m[0].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])));
}

describe('the report in headless Chromium', () => {
  test('the probe ran after load', async () => {
    const { dom } = await ready();
    expect(dom).toContain('data-probe="done"');
  });

  test('every chart is drawn with the expected number of points per series', async () => {
    const { dom, facts } = await ready();
    const svgs = [...dom.matchAll(/<svg\b[^>]*class="chart"[^>]*>[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    const terms = Object.keys(facts.pointsPerTerm);
    expect(terms).toEqual(['seg', 'class', 'sync', 'scene']);
    expect(svgs).toHaveLength(1 + terms.length + 2);
    const expected: [string, number][][] = [
      [['total', facts.stepRecords]],
      ...terms.map((t) => [[t, facts.pointsPerTerm[t]!]] as [string, number][]),
      [['lr', facts.stepRecords]],
      [['mIoU', facts.valRecords], ['mDice', facts.valRecords], ['Class acc.', facts.valRecords], ['Scene acc.', facts.valRecords]],
    ];
    svgs.forEach((svg, i) => {
      const box = /data-box="(\d+)x(\d+)"/.exec(svg);
      expect(box, 'chart laid out').not.toBeNull();
      expect(Number(box![1])).toBeGreaterThan(300);
      expect(Number(box![2])).toBeGreaterThan(150);
      const paths = elements(svg, 'path', 'line');
      expect(paths.map((p) => [p['data-series'], Number(p['data-points'])])).toEqual(expected[i]);
      for (const p of paths) {
        const coords = [...p.d!.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)];
        expect(coords).toHaveLength(Number(p['data-points']));
        expect(Number(p['data-length'])).toBeGreaterThan(10);
      }
    });
    // Losses are drawn one piece per stage the term is logged in.
    const seg = elements(svgs[1]!, 'path', 'line')[0]!;
    expect(seg.d!.match(/M/g)).toHaveLength(FIXTURE_STAGES.length);
    // Stage starts are marked in every chart.
    for (const svg of svgs) expect(elements(svg, 'line', 'marker')).toHaveLength(FIXTURE_STAGES.length);
  });

  test('every sample image decoded at its size', async () => {
    const { dom } = await ready();
    const imgs = [...dom.matchAll(/<img\b[^>]*>/g)].map((m) => /data-natural="([^"]*)"/.exec(m[0])?.[1]);
    expect(imgs).toEqual(Array(SAMPLES).fill(`${SAMPLE_SIZE[0]}x${SAMPLE_SIZE[1]}`));
  });

  test('a screenshot is kept as a test artefact and shows a drawn page', async () => {
    const { reportFile } = await ready();
    mkdirSync(artifacts, { recursive: true });
    // The artefact folder ignores itself, so screenshots are never committed.
    writeFileSync(path.join(artifacts, '.gitignore'), '*\n');
    const shot = path.join(artifacts, 'report.png');
    rmSync(shot, { force: true });
    await chromium(['--window-size=1280,3400', `--screenshot=${shot}`, pathToFileURL(reportFile).href]);
    const png = PNG.sync.read(readFileSync(shot));
    expect([png.width, png.height]).toEqual([1280, 3400]);
    // Not a blank page: many distinct colours (text, chart lines, overlays).
    const colours = new Set<number>();
    for (let i = 0; i < png.data.length; i += 4 * 7) colours.add((png.data[i]! << 16) | (png.data[i + 1]! << 8) | png.data[i + 2]!);
    expect(colours.size).toBeGreaterThan(200);
  });
});
