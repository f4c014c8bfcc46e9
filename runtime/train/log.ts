/**
 * The run's records and its live progress: `<run>/log.jsonl` and `<run>/log.csv` (one row per logged step and
 * per validation, truncated back to the checkpoint's position on resume so no step appears twice), and the
 * terminal view — a cli-progress bar per stage on a TTY, plain lines every `logEvery` steps otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import cliProgress from 'cli-progress';
import { type OutputSink, type ValidationResult } from './types.js';
import { TdcError } from '../errors.js';

/** One logged training step. */
export interface StepRecord {
  kind: 'step';
  stage: string;
  /** Steps completed in the stage (1-based index of the step just taken). */
  step: number;
  terms: Record<string, number>;
  total: number;
  lr: number;
  imagesPerSec: number;
  /** Wall-clock time, ISO 8601. */
  time: string;
  /** Seconds of training so far in this run (continues across resumes). */
  elapsed: number;
}

/** One validation pass. */
export interface ValidationRecord extends ValidationResult {
  kind: 'val';
  stage: string;
  step: number;
  time: string;
  elapsed: number;
}

export type LogRecord = StepRecord | ValidationRecord;

/** Byte lengths of the two log files, stored in checkpoints. */
export interface LogPosition {
  jsonl: number;
  csv: number;
}

export interface RunLogArgs {
  /** The run directory; the files are `log.jsonl` and `log.csv` inside it. */
  runDir: string;
  /** Every loss-term name any stage logs (CSV columns, in this order). */
  terms: string[];
  /** Extra validation metrics that get their own CSV column (all of them are in the JSONL anyway). */
  metrics: string[];
}

/** Appends records to both log files; writes are synchronous so a checkpoint's position is exact. */
export class RunLog {
  readonly jsonlPath: string;
  readonly csvPath: string;
  private readonly columns: string[];
  private readonly terms: string[];
  private readonly metrics: string[];
  private pos: LogPosition = { jsonl: 0, csv: 0 };

  constructor(args: RunLogArgs) {
    this.jsonlPath = path.join(args.runDir, 'log.jsonl');
    this.csvPath = path.join(args.runDir, 'log.csv');
    this.terms = [...args.terms];
    this.metrics = [...args.metrics];
    this.columns = ['kind', 'stage', 'step', 'time', 'elapsed', 'lr', 'images_per_s', 'total', ...this.terms, 'miou', 'mdice', ...this.metrics];
  }

  /** Starts fresh files, or (resume) cuts both back to `from` so records after the checkpoint are dropped. */
  open(from?: LogPosition): void {
    fs.mkdirSync(path.dirname(this.jsonlPath), { recursive: true });
    if (from) {
      truncateTo(this.jsonlPath, from.jsonl);
      truncateTo(this.csvPath, from.csv);
      this.pos = { ...from };
    } else {
      fs.writeFileSync(this.jsonlPath, '');
      fs.writeFileSync(this.csvPath, '');
      this.pos = { jsonl: 0, csv: 0 };
    }
    if (this.pos.csv === 0) this.appendCsv(this.columns.join(','));
  }

  position(): LogPosition {
    return { ...this.pos };
  }

  write(rec: LogRecord): void {
    const line = `${JSON.stringify(rec)}\n`;
    fs.appendFileSync(this.jsonlPath, line);
    this.pos.jsonl += Buffer.byteLength(line);
    const cells: Record<string, string> = {
      kind: rec.kind,
      stage: csvText(rec.stage),
      step: String(rec.step),
      time: rec.time,
      elapsed: num(rec.elapsed),
    };
    if (rec.kind === 'step') {
      cells.lr = num(rec.lr);
      cells.images_per_s = num(rec.imagesPerSec);
      cells.total = num(rec.total);
      for (const t of this.terms) if (t in rec.terms) cells[t] = num(rec.terms[t]!);
    } else {
      cells.miou = num(rec.miou);
      cells.mdice = num(rec.mdice);
      for (const m of this.metrics) if (rec.extra && m in rec.extra) cells[m] = num(rec.extra[m]!);
    }
    this.appendCsv(this.columns.map((c) => cells[c] ?? '').join(','));
  }

  private appendCsv(line: string): void {
    const text = `${line}\n`;
    fs.appendFileSync(this.csvPath, text);
    this.pos.csv += Buffer.byteLength(text);
  }
}

function truncateTo(file: string, size: number): void {
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, '');
    if (size > 0) throw new TdcError(`cannot resume: the log file ${file} is missing`);
    return;
  }
  fs.truncateSync(file, size);
}

/** Full precision; NaN and Infinity are written as such (readable, and parseFloat reads them back). */
function num(v: number): string {
  return String(v);
}

function csvText(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** What the terminal shows after each step. */
export interface ProgressStep {
  step: number;
  terms: Record<string, number>;
  total: number;
  lr: number;
  imagesPerSec: number;
}

export interface ProgressArgs {
  sink: OutputSink;
  /** Plain-line mode prints every `logEvery` steps (and a stage's last step). */
  logEvery: number;
}

/** Progress for a human: one bar per stage on a TTY, one line per logged step otherwise. */
export class Progress {
  private readonly sink: OutputSink;
  private readonly logEvery: number;
  private bar: cliProgress.SingleBar | null = null;
  private stage = '';
  private steps = 0;
  private pending: string[] = [];

  constructor(args: ProgressArgs) {
    this.sink = args.sink;
    this.logEvery = Math.max(1, args.logEvery);
  }

  startStage(name: string, label: string, index: number, count: number, steps: number, startStep: number): void {
    this.stage = name;
    this.steps = steps;
    const head = `stage ${index + 1}/${count} '${name}' (${label}): ${steps} steps${startStep > 0 ? `, resuming at step ${startStep}` : ''}`;
    this.line(head);
    if (this.sink.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.sink.stream,
          format: '{stage} [{bar}] {value}/{total} | {terms} | lr {lr} | {ips} img/s | ETA {eta_formatted}',
          barsize: 24,
          hideCursor: null,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(steps, startStep, { stage: name, terms: '', lr: '', ips: '' });
    }
  }

  step(p: ProgressStep): void {
    const terms = [`total ${fmt(p.total)}`, ...Object.entries(p.terms).map(([k, v]) => `${k} ${fmt(v)}`)].join(' ');
    if (this.bar) {
      this.bar.update(p.step, { stage: this.stage, terms, lr: p.lr.toExponential(2), ips: p.imagesPerSec.toFixed(1) });
    } else if (p.step % this.logEvery === 0 || p.step === this.steps) {
      this.line(`[${this.stage} ${p.step}/${this.steps}] ${terms} lr ${p.lr.toExponential(2)} ${p.imagesPerSec.toFixed(1)} img/s`);
    }
  }

  validation(step: number, v: ValidationResult): void {
    const extra = Object.entries(v.extra ?? {}).map(([k, x]) => ` ${k} ${metric(x)}`).join('');
    const text = `[${this.stage} ${step}/${this.steps}] validation: mIoU ${metric(v.miou)} mDice ${metric(v.mdice)}${extra}`;
    // A line written under a live bar would be overdrawn; keep it until the bar is finished.
    if (this.bar) this.pending.push(text);
    else this.line(text);
  }

  /** A `warning: …` line (kept until the bar is finished, like validation lines). */
  warning(text: string): void {
    const line = `warning: ${text}`;
    if (this.bar) this.pending.push(line);
    else this.line(line);
  }

  endStage(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
    for (const t of this.pending) this.line(t);
    this.pending = [];
  }

  /** A line outside any bar (closes the current bar first). */
  message(text: string): void {
    this.endStage();
    this.line(text);
  }

  private line(text: string): void {
    this.sink.stream.write(`${text}\n`);
  }
}

/** A validation metric: NaN means undefined on this validation set (e.g. HD95 of a region absent from every case). */
function metric(v: number): string {
  return Number.isNaN(v) ? 'n/a' : fmt(v);
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2);
}
