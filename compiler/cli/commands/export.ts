/**
 * `tdc export [run-dir|build-dir] --format tfjs`: writes a trained checkpoint as a standard tfjs Layers model
 * (model.json + weights.bin) that plain `tf.loadLayersModel` loads without any tdc code.
 */
import { existsSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';
import { resolveBuildDir } from '../build-loader.js';
import { TdcError } from '../../../runtime/errors.js';

export interface ExportOptions {
  format: string;
  out?: string;
  checkpoint?: 'best' | 'last';
  verify: boolean;
  backend?: string;
}

const HELP_AFTER = `
The exported model has one input (2D [batch, height, width, channels]; 3D [batch, z, y, x, channels]) and three
outputs in this order: seg logits [batch, ...size, classes], class logits [batch, classes], scene logits
[batch, scenes] (apply softmax / sigmoid yourself). tdc's custom layers are written as standard ones:
dilated convs as Conv2D/Conv3D with dilationRate, batch norm as BatchNormalization (3D: inside TimeDistributed),
global pooling as GlobalAveragePooling2D (3D: AveragePooling3D over the volume), up-sampling as UpSampling2D
(3D: per z slice, inside TimeDistributed).
Limits: a resize by a non-integer factor, or one along z in 3D, has no standard tfjs layer; such a model is
refused with a one-line reason rather than exported wrong. Conv3D with dilation runs forward in tfjs (inference)
but has no gradient, so the exported 3D model is for prediction, not for further training in tfjs.
Unless --no-verify, the written files are loaded back and compared with the tdc model on a random input
(relative difference ≤ 1e-5).`;

export function register(program: Command): void {
  program
    .command('export')
    .description('write a trained model as a standard tfjs Layers model (model.json + weights.bin) for plain tf.loadLayersModel')
    .argument('[dir]', 'a run folder (with best/ or checkpoints/last/) or a build folder (its run/); default: the last tdc build')
    .addOption(new Option('--format <format>', 'output format').choices(['tfjs']).default('tfjs'))
    .option('-o, --out <dir>', 'output folder (default: <run>/export/tfjs)')
    .addOption(new Option('--checkpoint <which>', 'which checkpoint (default: best when there is one, else last)').choices(['best', 'last']))
    .option('--no-verify', 'skip loading the written files back and comparing outputs')
    .option('--backend <name>', 'tfjs backend for the verification: tensorflow, native, wasm or cpu (also TDC_BACKEND)')
    .addHelpText('after', HELP_AFTER)
    .action(async (dir: string | undefined, opts: ExportOptions) => {
      await exportCommand(dir, opts);
    });
}

/** The run folder and checkpoint folder an export reads, from the command line's folder argument. */
export function resolveCheckpoint(dirArg: string | undefined, which: 'best' | 'last' | undefined, cwd = process.cwd()): {
  runDir: string;
  checkpointDir: string;
  which: 'best' | 'last';
} {
  let runDir: string;
  const arg = dirArg ? resolve(cwd, dirArg) : undefined;
  if (arg && !existsSync(arg)) throw new TdcError(`no such folder '${dirArg}'`, { usage: true });
  if (arg && !statSync(arg).isDirectory()) throw new TdcError(`'${dirArg}' is not a folder; give a run or build folder`, { usage: true });
  if (arg && !existsSync(join(arg, 'spec.lock.json'))) runDir = arg;
  else runDir = join(resolveBuildDir(dirArg, cwd), 'run');
  const rel = relative(cwd, runDir) || '.';
  const dirs = { best: join(runDir, 'best'), last: join(runDir, 'checkpoints', 'last') };
  const complete = (d: string) => existsSync(join(d, 'state.json'));
  const chosen = which ?? (complete(dirs.best) ? 'best' : 'last');
  if (!complete(dirs[chosen])) {
    const none = !complete(dirs.best) && !complete(dirs.last);
    throw new TdcError(
      none
        ? `no checkpoint in ${rel} (neither best/ nor checkpoints/last/); run tdc train first`
        : `no ${chosen} checkpoint in ${rel}; try --checkpoint ${chosen === 'best' ? 'last' : 'best'}`,
    );
  }
  return { runDir, checkpointDir: dirs[chosen], which: chosen };
}

async function exportCommand(dirArg: string | undefined, opts: ExportOptions): Promise<void> {
  if (opts.format !== 'tfjs') throw new TdcError(`unknown export format '${opts.format}' (only tfjs)`, { usage: true });
  const { runDir, checkpointDir, which } = resolveCheckpoint(dirArg, opts.checkpoint);
  const outDir = resolve(opts.out ?? join(runDir, 'export', 'tfjs'));
  const rel = (p: string) => relative(process.cwd(), p) || '.';

  const tf = await import('@tensorflow/tfjs');
  const { loadCheckpoint, loadWeights } = await import('../../../runtime/train/index.js');
  const { buildNetwork } = await import('../../../runtime/layers/index.js');
  const { lowerModel } = await import('../../../spec/ir/index.js');
  const { exportTfjs } = await import('../../../runtime/export/index.js');
  const { selectBackend } = await import('../../../runtime/backend/index.js');
  try {
    await selectBackend(opts.backend ? { prefer: opts.backend } : {});
  } catch (e) {
    throw new TdcError(e instanceof Error ? e.message : String(e), { usage: true });
  }

  let model: import('@tensorflow/tfjs').LayersModel | undefined;
  try {
    const ckpt = await loadCheckpoint(checkpointDir);
    if (!ckpt.lockJson) throw new TdcError(`checkpoint ${rel(checkpointDir)} has no spec.lock.json; it cannot be rebuilt`);
    let spec: import('../../../spec/types.js').Spec;
    try {
      spec = (JSON.parse(ckpt.lockJson) as { resolved: import('../../../spec/types.js').Spec }).resolved;
    } catch {
      throw new TdcError(`checkpoint ${rel(checkpointDir)} has an unreadable spec.lock.json`);
    }
    // The checkpoint's own resolved spec rebuilds the network it was saved from, whatever the build folder holds now.
    model = buildNetwork(lowerModel(spec).value, { seed: spec.train.seed, name: spec.name }).model;
    loadWeights(model, ckpt.weights, rel(checkpointDir));
    const result = await exportTfjs(model, {
      outDir,
      metadata: {
        tdc: {
          spec: spec.name,
          checkpoint: which,
          outputs: ['seg', 'class', 'scene'],
          classes: spec.task.classes.map((c) => c.name),
          scenes: spec.task.scenes,
          layout: spec.task.dims === 2 ? 'NHWC' : 'NDHWC',
        },
      },
    });
    if (opts.verify) {
      const { diff, scale } = await verifyExport(tf, model, outDir);
      // float32 sums in a different order differ by a few ulps of the largest activation, so the bound is relative.
      if (!(diff <= 1e-5 * Math.max(1, scale))) {
        throw new TdcError(`the exported model's outputs differ from the tdc model's by ${diff.toExponential(2)}; please report this`);
      }
      io.out(`verified: plain tf.loadLayersModel reproduces the outputs (max difference ${diff.toExponential(1)})\n`);
    }
    io.out(
      `exported ${which} checkpoint of ${spec.name} (${result.weights} weights, ${(result.bytes / 1e6).toFixed(2)} MB) → ${rel(result.files[0]!)}\n`,
    );
  } catch (e) {
    if (e instanceof TdcError) throw new TdcError(`cannot export: ${e.message}`);
    throw e;
  } finally {
    model?.dispose();
  }
}

/**
 * Loads the written model.json + weights.bin with stock tfjs and runs both models on one random input: the largest
 * output difference and the largest output magnitude.
 */
async function verifyExport(
  tf: typeof import('@tensorflow/tfjs'),
  model: import('@tensorflow/tfjs').LayersModel,
  outDir: string,
): Promise<{ diff: number; scale: number }> {
  const { readFile } = await import('node:fs/promises');
  const json = JSON.parse(await readFile(join(outDir, 'model.json'), 'utf8')) as import('@tensorflow/tfjs').io.ModelJSON;
  const handler: import('@tensorflow/tfjs').io.IOHandler = {
    load: () =>
      tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const buffers = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(join(outDir, p))));
        const bytes = Buffer.concat(buffers);
        return [manifest.flatMap((g) => g.weights), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)];
      }),
  };
  const loaded = await tf.loadLayersModel(handler);
  try {
    return tf.tidy(() => {
      const shape = [1, ...(model.inputs[0]!.shape.slice(1) as number[])];
      const x = tf.randomUniform(shape, 0, 1, 'float32', 7);
      const a = model.predict(x) as import('@tensorflow/tfjs').Tensor[];
      const b = loaded.predict(x) as import('@tensorflow/tfjs').Tensor[];
      const diff = Math.max(...a.map((t, i) => tf.max(tf.abs(tf.sub(t, b[i]!))).dataSync()[0]!));
      const scale = Math.max(...a.map((t) => tf.max(tf.abs(t)).dataSync()[0]!));
      return { diff, scale };
    });
  } finally {
    loaded.dispose();
  }
}
