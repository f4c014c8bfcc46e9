/**
 * `tdc predict [dir] inputs… -o out/`: runs a trained build on new inputs. 2D: image files → `out/<stem>.png`,
 * an indexed PNG with the class palette, at the input's size. 3D: BraTS subject folders (or one subject's
 * modality files) → `out/<subject>_pred.nii.gz`, a uint8 label map with the dataset's label values and the
 * input's geometry, predicted with overlapping sliding windows. Each mask gets a JSON of head probabilities.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';
import { BACKEND_HELP, loadTrained, THREADS_HELP, untrainedNote, type TrainedOptions } from './eval.js';
import { TdcError } from '../../../runtime/errors.js';

interface PredictOptions extends TrainedOptions {
  out: string;
  overlap?: string;
  weighting?: string;
}

export function register(program: Command): void {
  program
    .command('predict')
    .description('predict masks for images (2D) or subjects (3D) with a trained build; writes <out>/<name>.png or <subject>_pred.nii.gz + .json')
    .usage('[dir] <inputs...> -o <out> [options]')
    .argument('<inputs...>', '[build dir] then image files, subject folders, or one subject\'s modality files (.nii.gz)')
    .requiredOption('-o, --out <dir>', 'the folder the masks and JSON files are written to')
    .option('--checkpoint <which>', 'best (falls back to last) or last', 'best')
    .option('--run-dir <dir>', 'the run folder (default: <build>/run)')
    .option('--overlap <fraction>', '3D: overlap of neighbouring windows, in [0, 1)', '0.5')
    .option('--weighting <mode>', '3D: gaussian or uniform weighting of window logits', 'gaussian')
    .option('--backend <name>', BACKEND_HELP)
    .option('--threads <n>', THREADS_HELP)
    .action(async (args: string[], opts: PredictOptions) => {
      setExitCode(await predict(args, opts));
    });
}

const rel = (p: string) => relative(process.cwd(), p) || '.';

/** The first argument is the build folder when it holds a spec.lock.json; otherwise the last build is used. */
function splitArgs(args: string[]): { dir: string | undefined; inputs: string[] } {
  const first = args[0];
  if (first && existsSync(join(first, 'spec.lock.json'))) return { dir: first, inputs: args.slice(1) };
  return { dir: undefined, inputs: args };
}

/**
 * Output names: each input's file stem, except where stems collide (EndoVis frames of different sequences are
 * all frame000.png …): those get their path below the inputs' common folder, separators turned into '_'.
 */
export function outputNames(files: readonly string[]): string[] {
  const stems = files.map((f) => basename(f).replace(/\.[^.]+$/, ''));
  const count = new Map<string, number>();
  for (const s of stems) count.set(s, (count.get(s) ?? 0) + 1);
  const abs = files.map((f) => resolve(f));
  const parts = abs.map((f) => f.split(sep));
  let common = 0;
  while (parts.every((p) => common < p.length - 1 && p[common] === parts[0]![common])) common++;
  return stems.map((s, i) => (count.get(s)! > 1 ? parts[i]!.slice(common).join('_').replace(/\.[^.]+$/, '') : s));
}

async function predict(args: string[], opts: PredictOptions): Promise<number> {
  const { dir, inputs } = splitArgs(args);
  if (inputs.length === 0) throw new TdcError('no inputs to predict: give image files (2D) or subject folders / modality files (3D)', { usage: true });
  const overlap = Number(opts.overlap ?? '0.5');
  if (!(overlap >= 0 && overlap < 1)) throw new TdcError(`--overlap must be a number in [0, 1), not '${opts.overlap}'`, { usage: true });
  const weighting = opts.weighting ?? 'gaussian';
  if (weighting !== 'gaussian' && weighting !== 'uniform') throw new TdcError(`--weighting must be gaussian or uniform, not '${weighting}'`, { usage: true });
  const t = await loadTrained(dir, opts);
  const P = await import('../../../runtime/predict/index.js');
  const predictor = new P.Predictor({ model: t.model, task: t.task, sceneActivation: t.sceneActivation, window: { overlap, weighting } });
  const out = opts.out;
  const skipped = untrainedNote(t.untrained, 'its probabilities (those of its initial weights) are left out of the JSON');
  if (skipped) io.err(`${skipped}\n`);
  if (t.task.dims === 2) {
    const palette = P.maskPalette(t.task.classes);
    const names = outputNames(inputs);
    for (const [i, file] of inputs.entries()) {
      const input = await P.readImageInput(file, t.task);
      const pred = await predictor.predictImage(input.image, input.height, input.width);
      const png = join(out, `${names[i]}.png`);
      await P.writeMaskPng(png, pred.classIds, input.height, input.width, palette);
      await P.writeJson(join(out, `${names[i]}.json`), P.predictionSummary(pred, t.task, file, png, t.untrained));
      io.out(`${rel(png)}  ${input.height}×${input.width}\n`);
    }
  } else {
    // Every input a folder: one subject each. Otherwise the files are the modalities of one subject.
    const allDirs = inputs.every((f) => existsSync(f) && statSync(f).isDirectory());
    const subjects = allDirs ? await Promise.all(inputs.map((d) => P.resolveSubject([d], t.task))) : [await P.resolveSubject(inputs, t.task)];
    const values = P.classLabelValues(t.task.classes, t.data.format);
    for (const s of subjects) {
      const vol = await P.readVolumeInput(s, t.task);
      let shown = 0;
      const pred = await predictor.predictVolume(vol.volume, vol.shape, {
        onProgress: (done, total) => {
          // About ten lines per volume: enough to see it move, few enough for a log file.
          if (total >= 8 && (done === total || done - shown >= Math.ceil(total / 10))) {
            shown = done;
            io.err(`${s.subject}: ${done}/${total} windows\n`);
          }
        },
      });
      const labels = P.mapToLabelValues(pred.classIds, values);
      const nii = join(out, `${s.subject}_pred.nii.gz`);
      await P.writeLabelNifti(nii, labels, vol.reference);
      await P.writeJson(join(out, `${s.subject}.json`), P.predictionSummary(pred, t.task, s.files, nii, t.untrained));
      io.out(`${rel(nii)}  ${vol.shape.slice().reverse().join('×')}, ${pred.windows} window${pred.windows === 1 ? '' : 's'}\n`);
    }
  }
  return EXIT.ok;
}
