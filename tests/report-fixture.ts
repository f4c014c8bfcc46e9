/** Synthetic run folders for the report tests: the files `tdc train` writes, with known, countable contents. */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { encodePng } from '../runtime/io/index.js';
import { overlayPanels, displayRgb } from '../runtime/report/samples.js';
import { classPalette } from '../runtime/io/palette.js';

export const FIXTURE_CLASSES = [
  { name: 'background', color: [0, 0, 0] as [number, number, number] },
  { name: 'shaft', color: [0, 255, 0] as [number, number, number] },
  { name: 'clasper', color: [0, 0, 255] as [number, number, number] },
  { name: 'kidney <parenchyma>', color: [255, 0, 0] as [number, number, number] },
];
export const FIXTURE_SCENES = ['preparing', 'peeling', 'incising'];

/** Stage plan of the fixture: name, label, planned steps, terms logged. */
export const FIXTURE_STAGES = [
  { name: 'base', label: 'Base', steps: 20, terms: ['seg'] },
  { name: 'cls', label: 'Base+Class', steps: 20, terms: ['seg', 'class'] },
  { name: 'sync', label: 'Base+Class+Sync', steps: 20, terms: ['seg', 'class', 'sync'] },
  { name: 'scene', label: 'Base+Class+Sync+Scene', steps: 20, terms: ['seg', 'class', 'sync', 'scene'] },
];

export interface FixtureOptions {
  /** Stop after this many stages (a crashed run); the default runs all. */
  stages?: number;
  /** Cut the last log line in half (a crash mid-write). */
  truncateLastLine?: boolean;
  /** Write summary.json (a finished run). */
  summary?: boolean;
  /** Number of sample PNGs (with samples.json). */
  samples?: number;
  logEvery?: number;
  validateEvery?: number;
}

/** What the fixture holds, for the assertions. */
export interface FixtureFacts {
  stepRecords: number;
  valRecords: number;
  /** Step records per stage. */
  stepsPerStage: Record<string, number>;
  /** Step records per term (over all stages). */
  pointsPerTerm: Record<string, number>;
}

/** Writes a run folder at `dir`; deterministic values (no randomness). */
export function writeFixtureRun(dir: string, opts: FixtureOptions = {}): FixtureFacts {
  const logEvery = opts.logEvery ?? 5;
  const validateEvery = opts.validateEvery ?? 10;
  const nStages = opts.stages ?? FIXTURE_STAGES.length;
  mkdirSync(path.join(dir, 'checkpoints', 'last'), { recursive: true });
  const lock = {
    tdc: '0.1.0',
    spec: 'examples/robot18.yaml',
    hash: 'sha256:0123456789abcdef',
    resolved: {
      name: 'robot18 <test> & "quotes"',
      task: { dims: 2, classes: FIXTURE_CLASSES.map((c) => ({ ...c, weight: 1 })), scenes: FIXTURE_SCENES },
      stages: FIXTURE_STAGES.map((s) => ({ name: s.name, label: s.label, steps: s.steps })),
    },
  };
  writeFileSync(path.join(dir, 'checkpoints', 'last', 'spec.lock.json'), JSON.stringify(lock));
  const lines: string[] = [];
  const facts: FixtureFacts = { stepRecords: 0, valRecords: 0, stepsPerStage: {}, pointsPerTerm: {} };
  let elapsed = 0;
  const t0 = Date.parse('2026-11-25T10:00:00Z');
  const summaryStages: unknown[] = [];
  for (let k = 0; k < nStages; k++) {
    const st = FIXTURE_STAGES[k]!;
    facts.stepsPerStage[st.name] = 0;
    for (let s = 1; s <= st.steps; s++) {
      elapsed += 1.5;
      const time = new Date(t0 + elapsed * 1000).toISOString();
      if (s % logEvery === 0 || s === st.steps) {
        const terms: Record<string, number> = {};
        st.terms.forEach((t, i) => (terms[t] = 1 / (1 + 0.05 * (k * 20 + s)) + 0.1 * i));
        const total = Object.values(terms).reduce((a, b) => a + b, 0);
        lines.push(JSON.stringify({ kind: 'step', stage: st.name, step: s, terms, total, lr: 1e-4 * (s <= 10 ? 1 : 0.5), imagesPerSec: 3.2, time, elapsed }));
        facts.stepRecords++;
        facts.stepsPerStage[st.name]!++;
        for (const t of st.terms) facts.pointsPerTerm[t] = (facts.pointsPerTerm[t] ?? 0) + 1;
      }
      if (s % validateEvery === 0 || s === st.steps) {
        const base = 0.3 + 0.1 * k + 0.005 * s;
        const v = {
          iou: [0.9, base, base - 0.1, NaN],
          dice: [0.95, base + 0.1, base, NaN],
          miou: base,
          mdice: base + 0.08,
          extra: { class_acc: 0.6 + 0.05 * k, scene_acc: 0.5 + 0.1 * k },
        };
        lines.push(JSON.stringify({ kind: 'val', stage: st.name, step: s, ...v, time, elapsed }));
        facts.valRecords++;
        if (s === st.steps) summaryStages.push({ name: st.name, label: st.label, steps: s, validation: v });
      }
    }
  }
  let text = `${lines.join('\n')}\n`;
  if (opts.truncateLastLine) {
    const last = lines[lines.length - 1]!;
    text = `${lines.slice(0, -1).join('\n')}\n${last.slice(0, Math.floor(last.length / 2))}`;
  }
  writeFileSync(path.join(dir, 'log.jsonl'), text);
  if (opts.summary ?? nStages === FIXTURE_STAGES.length) {
    writeFileSync(
      path.join(dir, 'summary.json'),
      JSON.stringify({
        status: 'completed',
        exitCode: 0,
        stageIndex: nStages,
        step: 0,
        stages: summaryStages,
        best: { stage: FIXTURE_STAGES[nStages - 1]!.name, step: 20, metric: 'miou', value: 0.7 },
        runDir: dir,
      }),
    );
  }
  const nSamples = opts.samples ?? 0;
  if (nSamples > 0) {
    mkdirSync(path.join(dir, 'samples'), { recursive: true });
    const entries = [];
    for (let i = 0; i < nSamples; i++) {
      const H = 24;
      const W = 32;
      const image = new Float32Array(H * W * 3);
      const truth = new Int32Array(H * W);
      const pred = new Int32Array(H * W);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const p = y * W + x;
          image[p * 3] = x / W;
          image[p * 3 + 1] = y / H;
          image[p * 3 + 2] = 0.5;
          truth[p] = x > 8 + i && x < 20 && y > 6 ? 1 + ((x + i) % 3) : 0;
          pred[p] = x > 10 && x < 22 && y > 5 ? 1 + ((y + i) % 3) : 0;
        }
      }
      const png = overlayPanels({ rgb: displayRgb(image, H * W, 3, 2), height: H, width: W, truth, pred, palette: classPalette(FIXTURE_CLASSES), alpha: 0.5, backgroundClass: 0 });
      const file = `samples/seq_${i}_frame00${i}.png`;
      writeFileSync(path.join(dir, file), encodePng({ width: png.width, height: png.height, channels: 3, data: png.data }));
      entries.push({ id: `seq_${i}/frame00${i}`, file, classProbs: [0.99, 0.8, 0.3, 0.6], classTrue: [1, 1, 1, 0], sceneProbs: [0.7, 0.2, 0.1], sceneTrue: [1, 0, 0] });
    }
    writeFileSync(
      path.join(dir, 'samples', 'samples.json'),
      JSON.stringify({ backend: 'cpu', classes: FIXTURE_CLASSES.map((c) => c.name), scenes: FIXTURE_SCENES, samples: entries }),
    );
  }
  return facts;
}
