/**
 * Reads a run folder (log.jsonl, summary.json, spec.lock.json, samples/) into the plain `RunData` the HTML
 * report is rendered from; tolerant of runs that crashed or are still going (partial last line, no summary).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { RunStatus, RunSummary, StepRecord, ValidationRecord } from '../train/index.js';
import { TdcError } from '../errors.js';

/** One training stage as the report draws it. */
export interface RunStage {
  name: string;
  /** The stage's row label (the stage name when no spec lock was found). */
  label: string;
  /** Steps the spec planned (null when no spec lock was found). */
  plannedSteps: number | null;
  /** Highest step the log holds for this stage. */
  loggedSteps: number;
  /** Global step at which the stage starts: its step s is drawn at offset + s. */
  offset: number;
}

/** One sample overlay and its head outputs. */
export interface RunSample {
  id: string;
  /** PNG path relative to the run folder. */
  file: string;
  /** `data:image/png;base64,…`, or null when the file is missing. */
  dataUri: string | null;
  /** Predicted class-presence probabilities and the true labels, by class name (empty when unknown). */
  classes: { name: string; prob: number; truth: number }[];
  /** Predicted scene probabilities and the true labels, by scene name. */
  scenes: { name: string; prob: number; truth: number }[];
}

/** The facts block at the top of the report. */
export interface RunFacts {
  specName: string | null;
  specPath: string | null;
  hash: string | null;
  tdcVersion: string | null;
  backend: string | null;
  /** How the run ended; 'running or crashed' when there is no summary.json. */
  status: RunStatus | 'running or crashed';
  message: string | null;
  /** Training seconds (the last record's `elapsed`, which continues across resumes). */
  durationSec: number | null;
  /** Global steps covered by the log. */
  steps: number;
  startedAt: string | null;
  endedAt: string | null;
  best: RunSummary['best'];
}

export interface RunData {
  runDir: string;
  facts: RunFacts;
  stages: RunStage[];
  steps: StepRecord[];
  validations: ValidationRecord[];
  summary: RunSummary | null;
  /** Segmentation classes (names and colours from the spec lock; 'class i' when unknown). */
  classes: { name: string; color: [number, number, number] | null }[];
  scenes: string[];
  samples: RunSample[];
  /** Problems met while reading (skipped log lines, unreadable files), shown in the report. */
  warnings: string[];
}

/** The parts of spec.lock.json the report uses. */
interface LockView {
  tdc?: string;
  spec?: string;
  hash?: string;
  resolved?: {
    name?: string;
    task?: { classes?: { name: string; color?: [number, number, number] }[]; scenes?: string[] };
    stages?: { name: string; label?: string; steps?: number }[];
  };
}

/** Reads everything the report shows from `runDir`; rejects with TdcError when there is no run there. */
export async function loadRunData(runDir: string): Promise<RunData> {
  const stat = await fs.stat(runDir).catch(() => null);
  if (!stat) throw new TdcError(`no run folder at ${runDir}`);
  if (!stat.isDirectory()) throw new TdcError(`${runDir} is not a folder`);
  const warnings: string[] = [];
  const logText = await readText(path.join(runDir, 'log.jsonl'));
  const summaryText = await readText(path.join(runDir, 'summary.json'));
  if ((logText === null || logText.trim() === '') && summaryText === null) {
    throw new TdcError(`${runDir} holds no training run yet (no log.jsonl records and no summary.json)`);
  }

  const { steps, validations } = parseLog(logText ?? '', warnings);
  let summary: RunSummary | null = null;
  if (summaryText !== null) {
    try {
      summary = JSON.parse(summaryText) as RunSummary;
    } catch {
      warnings.push('summary.json is not valid JSON; ignored');
    }
  }
  const lock = await readLock(runDir, warnings);
  const resolved = lock?.resolved;

  const stages = buildStages(steps, validations, summary, resolved?.stages);
  const classCount = Math.max(resolved?.task?.classes?.length ?? 0, ...validations.map((v) => v.iou?.length ?? 0));
  const classes = Array.from({ length: classCount }, (_, i) => {
    const c = resolved?.task?.classes?.[i];
    return { name: c?.name ?? `class ${i}`, color: c?.color && c.color.length === 3 ? c.color : null };
  });
  const scenes = resolved?.task?.scenes ?? [];
  const samplesJson = await readSamplesJson(runDir, warnings);
  const samples = await readSamples(runDir, samplesJson, warnings);

  const records = [...steps, ...validations];
  const last = records.reduce<StepRecord | ValidationRecord | null>((a, r) => (a === null || r.elapsed >= a.elapsed ? r : a), null);
  const times = records.map((r) => r.time).filter((t) => typeof t === 'string').sort();
  const offsetOf = new Map(stages.map((s) => [s.name, s.offset]));
  const globalSteps = records.map((r) => (offsetOf.get(r.stage) ?? 0) + r.step);
  const facts: RunFacts = {
    specName: resolved?.name ?? null,
    specPath: lock?.spec ?? null,
    hash: lock?.hash ?? null,
    tdcVersion: lock?.tdc ?? null,
    backend: samplesJson?.backend ?? (summary as { backend?: string } | null)?.backend ?? null,
    status: summary?.status ?? 'running or crashed',
    message: summary?.message ?? null,
    durationSec: last ? last.elapsed : null,
    steps: globalSteps.length ? Math.max(...globalSteps) : 0,
    startedAt: times[0] ?? null,
    endedAt: times[times.length - 1] ?? null,
    best: summary?.best ?? null,
  };
  return { runDir, facts, stages, steps, validations, summary, classes, scenes, samples, warnings };
}

/** Parses log.jsonl; a line that is cut off (a crash mid-write) or malformed is skipped with a warning. */
export function parseLog(text: string, warnings: string[]): { steps: StepRecord[]; validations: ValidationRecord[] } {
  const steps: StepRecord[] = [];
  const validations: ValidationRecord[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      const where = i === lines.length - 1 ? ' (the last line, cut off: did the run crash while writing?)' : '';
      warnings.push(`log.jsonl line ${i + 1} is not valid JSON${where}; skipped`);
      return;
    }
    const r = (rec ?? {}) as { [K in keyof StepRecord | keyof ValidationRecord]?: unknown };
    if (typeof r.stage !== 'string' || typeof r.step !== 'number') {
      warnings.push(`log.jsonl line ${i + 1} has no stage/step; skipped`);
      return;
    }
    const elapsed = typeof r.elapsed === 'number' ? r.elapsed : 0;
    if (r.kind === 'step' && r.terms && typeof r.terms === 'object') {
      steps.push({ ...(r as StepRecord), total: num(r.total), lr: num(r.lr), imagesPerSec: num(r.imagesPerSec), terms: numRecord(r.terms), elapsed });
    } else if (r.kind === 'val') {
      validations.push({
        ...(r as ValidationRecord),
        iou: Array.isArray(r.iou) ? r.iou.map(num) : [],
        dice: Array.isArray(r.dice) ? r.dice.map(num) : [],
        miou: num(r.miou),
        mdice: num(r.mdice),
        extra: numRecord(r.extra && typeof r.extra === 'object' ? r.extra : {}),
        elapsed,
      });
    } else {
      warnings.push(`log.jsonl line ${i + 1} is neither a step nor a validation record; skipped`);
    }
  });
  return { steps, validations };
}

/** Stage order and offsets: from the spec lock when present (planned steps), else from the log and summary. */
function buildStages(
  steps: StepRecord[],
  validations: ValidationRecord[],
  summary: RunSummary | null,
  planned: { name: string; label?: string; steps?: number }[] | undefined,
): RunStage[] {
  const logged = new Map<string, number>();
  for (const r of [...steps, ...validations]) logged.set(r.stage, Math.max(logged.get(r.stage) ?? 0, r.step));
  const labels = new Map<string, string>();
  for (const s of summary?.stages ?? []) labels.set(s.name, s.label);
  const order: { name: string; label: string; plannedSteps: number | null }[] = [];
  for (const p of planned ?? []) order.push({ name: p.name, label: p.label ?? labels.get(p.name) ?? p.name, plannedSteps: typeof p.steps === 'number' ? p.steps : null });
  const seen = new Set(order.map((s) => s.name));
  // Stages the lock does not know (or all of them, without a lock) in order of first appearance.
  for (const name of [...(summary?.stages ?? []).map((s) => s.name), ...[...steps, ...validations].sort((a, b) => a.elapsed - b.elapsed).map((r) => r.stage)]) {
    if (seen.has(name)) continue;
    seen.add(name);
    order.push({ name, label: labels.get(name) ?? name, plannedSteps: null });
  }
  let offset = 0;
  return order.map((s) => {
    const loggedSteps = logged.get(s.name) ?? 0;
    const stage: RunStage = { ...s, loggedSteps, offset };
    offset += s.plannedSteps ?? Math.max(loggedSteps, summary?.stages.find((x) => x.name === s.name)?.steps ?? 0);
    return stage;
  });
}

async function readText(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
}

/** spec.lock.json is written beside each checkpoint, and by `tdc build` one folder above the run. */
async function readLock(runDir: string, warnings: string[]): Promise<LockView | null> {
  const candidates = ['checkpoints/last/spec.lock.json', 'best/spec.lock.json', 'spec.lock.json', '../spec.lock.json'];
  for (const rel of candidates) {
    const text = await readText(path.join(runDir, rel));
    if (text === null) continue;
    try {
      const v = JSON.parse(text) as LockView & LockView['resolved'];
      // Accept a bare resolved spec too.
      return v.resolved ? v : { resolved: v };
    } catch {
      warnings.push(`${rel} is not valid JSON; ignored`);
    }
  }
  return null;
}

/** What `writeSampleOverlays` writes to samples/samples.json. */
export interface SamplesJson {
  backend?: string;
  classes?: string[];
  scenes?: string[];
  samples?: { id: string; file: string; classProbs?: number[]; classTrue?: number[]; sceneProbs?: number[]; sceneTrue?: number[] }[];
}

async function readSamplesJson(runDir: string, warnings: string[]): Promise<SamplesJson | null> {
  const text = await readText(path.join(runDir, 'samples', 'samples.json'));
  if (text === null) return null;
  try {
    return JSON.parse(text) as SamplesJson;
  } catch {
    warnings.push('samples/samples.json is not valid JSON; the PNG files in samples/ are shown without head outputs');
    return null;
  }
}

async function readSamples(runDir: string, json: SamplesJson | null, warnings: string[]): Promise<RunSample[]> {
  let entries = json?.samples;
  if (!Array.isArray(entries)) {
    const files = await fs.readdir(path.join(runDir, 'samples')).catch(() => [] as string[]);
    entries = files.filter((f) => f.toLowerCase().endsWith('.png')).sort().map((f) => ({ id: f.replace(/\.png$/i, ''), file: `samples/${f}` }));
  }
  const out: RunSample[] = [];
  for (const e of entries) {
    if (typeof e?.file !== 'string') continue;
    let dataUri: string | null = null;
    try {
      const bytes = await fs.readFile(path.join(runDir, e.file));
      dataUri = `data:image/png;base64,${bytes.toString('base64')}`;
    } catch {
      warnings.push(`sample image ${e.file} is missing`);
    }
    const pair = (names: string[] | undefined, probs: number[] | undefined, truth: number[] | undefined) =>
      (probs ?? []).map((p, i) => ({ name: names?.[i] ?? String(i), prob: num(p), truth: num(truth?.[i]) }));
    out.push({
      id: String(e.id),
      file: e.file,
      dataUri,
      classes: pair(json?.classes, e.classProbs, e.classTrue),
      scenes: pair(json?.scenes, e.sceneProbs, e.sceneTrue),
    });
  }
  return out;
}

/** JSON has no NaN: the trainer's records hold null there, and hand-edited files may hold strings. */
function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
}

function numRecord(r: object): Record<string, number> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, num(v)]));
}
