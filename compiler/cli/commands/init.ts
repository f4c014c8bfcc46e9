/**
 * `tdc init [name] [--dims 2|3] [-o file]`: writes a commented starter spec (2D: a small convstack net on
 * generated ROBOT18-style frames; 3D: an aniso3d net on generated BRATS-style volumes) that checks and trains as is.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';

export interface InitOptions {
  dims: '2' | '3';
  out?: string;
  force?: boolean;
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const SCHEMA_URL = 'https://tdc.dev/schema/tdc.schema.json';

export function register(program: Command): void {
  program
    .command('init')
    .description('write a commented starter spec that tdc check accepts and tdc train trains on generated data')
    .argument('[name]', 'spec name (letters, digits, - and _; starts with a letter)', 'starter')
    .addOption(new Option('--dims <dims>', '2: images (ROBOT18-style frames); 3: volumes (BRATS-style MRI)').choices(['2', '3']).default('2'))
    .option('-o, --out <file>', 'where to write the spec (default: <name>.yaml)')
    .option('--force', 'overwrite an existing file')
    .action((name: string, opts: InitOptions) => {
      if (!NAME.test(name)) {
        io.err(`tdc: '${name}' is not a valid spec name (letters, digits, - and _; starts with a letter)\n`);
        setExitCode(EXIT.usage);
        return;
      }
      const file = opts.out ?? `${name}.yaml`;
      if (existsSync(file) && !opts.force) {
        io.err(`tdc: ${file} already exists; pass --force to overwrite it\n`);
        setExitCode(EXIT.specErrors);
        return;
      }
      mkdirSync(dirname(resolve(file)), { recursive: true });
      const dims = opts.dims === '3' ? 3 : 2;
      writeFileSync(file, starterSpec(name, dims, schemaRef(file)));
      io.out(`wrote ${file} (${dims}D); next: tdc check ${file} && tdc explain ${file} && tdc build ${file}\n`);
    });
}

/**
 * The schema reference for yaml-language-server: this installation's spec/tdc.schema.json relative to the new
 * file (so hover and completion work offline), or the published URL when the file cannot be found.
 */
export function schemaRef(file: string): string {
  // Walk up to tdc's package root (from compiler/cli/commands or dist/compiler/cli/commands): its spec/ holds the
  // schema the validator uses, rather than a build copy.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    const schema = join(dir, 'spec', 'tdc.schema.json');
    if (existsSync(schema) && isTdcPackage(join(dir, 'package.json'))) {
      return relative(dirname(resolve(file)), schema).split('\\').join('/');
    }
  }
  return SCHEMA_URL;
}

function isTdcPackage(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'tdc';
  } catch {
    return false;
  }
}

/** The starter spec's text: every section present, each with a comment saying what it controls. */
export function starterSpec(name: string, dims: 2 | 3, schema: string = SCHEMA_URL): string {
  const body = dims === 2 ? STARTER_2D : STARTER_3D;
  return body.replaceAll('{{name}}', name).replace('{{schema}}', schema);
}

const STARTER_2D = `# yaml-language-server: $schema={{schema}}
# A tdc starter spec (2D): a small multi-task network on generated ROBOT18-style frames. It passes tdc check and
# trains in a few minutes on a CPU. Hover a key in VS Code (YAML extension) for its meaning; the reference is
# docs/spec-reference.md. Next: tdc check, tdc explain, tdc build, tdc train, tdc report.
version: 1
name: {{name}}
description: A small 2D task-decomposition network on generated ROBOT18-style data.

vars:
  base: 8                     # filters of the first encoder stage; the others are multiples ("2*base")

task:
  dims: 2
  size: [64, 80]              # network input [height, width]; keep it divisible by the encoder's output_stride
  channels: 3                 # RGB
  classes:                    # index = predicted label id; colours are the mask colours (EndoVis labels.json)
    - { name: background, color: [0, 0, 0] }
    - { name: shaft, color: [0, 255, 0] }
    - { name: clasper, color: [0, 255, 255] }
    - { name: kidney, color: [255, 55, 0] }
  scenes: [preparing, peeling, incising]   # scene labels of the scene head

data:
  format: robot18             # robot18 | refuge18 | brats18 | folders
  root: .tdc/data/{{name}}    # relative to this file; point it at your EndoVis 2018 copy for real data
  synthesize: { n: 32, seed: 7 }   # while root does not exist, tdc train first writes a generated stand-in there
  scenes: { from: file, file: .tdc/data/{{name}}/scenes.csv }
  splits: { val_fraction: 0.25 }
  augment: { hflip: 0.5 }
  batch_size: 4

model:
  # Encoder: three conv stages (8, 16, 32 filters) and two poolings: a 16x20 latent map.
  encoder: { type: convstack, filters: [base, "2*base", "4*base"], convs_per_stage: 2, kernel: 3, output_stride: 4 }
  # Context ensemble (paper III-B): one cascade of dilated convs per task pair; rates must fit the latent map.
  context: { pairs: [[seg, class], [seg, scene], [class, scene]], dilations: [7, 3, 1], combine: sum }
  # Segmentation decoder (paper III-D, IV-B): ASPP, then bilinear up-sampling to the input size.
  decoder: { type: aspp, dilations: [1, 2, 4], filters: "2*base", image_pooling: true }
  heads:
    seg: { upsample: bilinear }
    class: { hidden: 32 }     # class presence: global average pool + dense, multi-label
    scene: { hidden: 32 }

losses:                       # loss terms by name (paper III-A, sync III-C); the stages combine them
  seg: { type: seg, ce: 1, iou: 1 }        # cross-entropy + (1 - IoU)
  class: { type: bce, head: class }
  scene: { type: bce, head: scene }
  sync: { type: sync, presence: hard, direction: seg->class }   # classes in the seg output vs the class head

weights: { w1: 0.5, w2: 0.2, w3: 0.1 }   # L = seg + w1*class + w2*scene + w3*sync

optimizer: { type: adam }
schedule: { type: constant, lr: 2e-3 }

train: { seed: 42, validate_every: 20, checkpoint_every: 20, log_every: 5 }

stages:                       # trained in order (paper III-E); each stage starts from the previous weights
  - { name: seg+class, label: Base+Class, from: init, loss: "seg + w1*class", steps: 40 }
  - { name: sync, label: Base+Class+Sync, loss: "seg + w1*class + w3*sync", steps: 30 }
  - { name: scene, label: Base+Class+Sync+Scene, loss: "seg + w1*class + w2*scene + w3*sync", steps: 30 }
`;

const STARTER_3D = `# yaml-language-server: $schema={{schema}}
# A tdc starter spec (3D): a small anisotropic network on generated BRATS-style MRI volumes (4 modalities,
# 4 labels, HGG/LGG). It passes tdc check and trains in a few minutes on a CPU. Hover a key in VS Code (YAML
# extension) for its meaning; the reference is docs/spec-reference.md. Next: tdc check, tdc explain, tdc build,
# tdc train, tdc report.
version: 1
name: {{name}}
description: A small 3D task-decomposition network on generated BRATS-style volumes.

task:
  dims: 3
  size: [32, 32, 8]           # network input [x, y, z]; z = slices; x and y divisible by 2^downsample
  channels: 4                 # one per modality
  modalities: [t1, t1ce, t2, flair]
  classes:                    # index = predicted label; values = the label values in the *_seg.nii.gz files
    - { name: background, values: [0] }
    - { name: ncr, values: [1] }     # necrotic and non-enhancing tumour core
    - { name: ed, values: [2] }      # peritumoral edema
    - { name: et, values: [4] }      # enhancing tumour (BraTS has no label 3)
  scenes: [HGG, LGG]          # the grade, read from the parent folder
  regions:                    # evaluation regions (Dice / HD95 per region)
    WT: [ncr, ed, et]
    TC: [ncr, et]
    ET: [et]

data:
  format: brats18             # {HGG,LGG}/<subject>/<subject>_{t1,t1ce,t2,flair,seg}.nii.gz
  root: .tdc/data/{{name}}    # relative to this file; point it at your BraTS 2018 copy for real data
  synthesize: { n: 8, seed: 7 }    # while root does not exist, tdc train first writes generated volumes there
  scenes: { from: folder }
  splits: { val_fraction: 0.25 }
  augment: { hflip: 0.5, vflip: 0.5, zflip: 0.5 }
  crop: [32, 32, 8]           # random training crop, same axis order as task.size
  batch_size: 1

model:
  # Encoder: anisotropic residual blocks; two in-plane poolings (x, y halve, z kept) leave an 8x8x8 latent map.
  encoder: { type: aniso3d, filters: 8, blocks: 1, downsample: 2, dilations: [2], norm: batch }
  # Context ensemble (paper III-B): dilated cascades, in-plane dilation only; rates must fit the 8x8 map.
  context: { pairs: [[seg, class], [seg, scene], [class, scene]], dilations: [3, 1], combine: sum }
  # Segmentation decoder (paper III-D, IV-B): ASPP, then trilinear up-sampling to the input size.
  decoder: { type: aspp, dilations: [1, 2], filters: 16, image_pooling: true }
  heads:
    seg: { upsample: trilinear }
    class: { hidden: 16 }
    scene: { hidden: 16 }

losses:                       # loss terms by name (paper III-A, sync III-C); the stages combine them
  seg: { type: seg, ce: 1, iou: 1 }
  class: { type: bce, head: class }
  scene: { type: bce, head: scene }
  sync: { type: sync, presence: hard, direction: seg->class }

weights: { w1: 0.5, w2: 0.2, w3: 0.1 }   # L = seg + w1*class + w2*scene + w3*sync

optimizer: { type: adam }
schedule: { type: constant, lr: 1e-3 }

train: { seed: 42, validate_every: 10, checkpoint_every: 10, log_every: 5, best_metric: mdice }

stages:                       # trained in order (paper III-E); each stage starts from the previous weights
  - { name: seg+class, label: Base+Class, from: init, loss: "seg + w1*class", steps: 10 }
  - { name: sync, label: Base+Class+Sync, loss: "seg + w1*class + w3*sync", steps: 5 }
  - { name: scene, label: Base+Class+Sync+Scene, loss: "seg + w1*class + w2*scene + w3*sync", steps: 5 }
`;
