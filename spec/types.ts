/**
 * The shape of a tdc spec after composition (extends, --set overrides), schema validation and resolution
 * (defaults filled in, numeric expressions evaluated, loss expressions parsed). This is the contract between
 * the compiler front end (parse → validate → resolve), the semantic checks, the IR and the code generator.
 * The JSON Schema in `spec/tdc.schema.json` describes the *written* form (before defaults, where numbers may
 * still be expressions such as "2*base"); keep the two in step (`tests/spec-examples.test.ts` loads every example through tdc and validates it against the schema).
 *
 * Conventions:
 * - 2D sizes are [height, width]; 3D sizes are [x, y, z] as written in the paper (144×144×19, z = slices);
 *   runtime tensors are channels-last: 2D [B, H, W, C], 3D [B, Z, Y, X, C] (NDHWC, z = depth).
 * - Class index i in `task.classes` is the label value the segmentation head predicts for that class.
 */

/** A loss/weight expression after parsing: a small typed AST (see compiler/expr). */
export type Expr =
  | { kind: 'num'; value: number }
  | { kind: 'ref'; name: string }
  | { kind: 'neg'; operand: Expr }
  | { kind: 'bin'; op: '+' | '-' | '*' | '/'; left: Expr; right: Expr };

export type Dims = 2 | 3;
export type TaskName = 'seg' | 'class' | 'scene';

export interface TaskSpec {
  /** 2 for images, 3 for volumes. */
  dims: Dims;
  /** Network input size: 2D [height, width]; 3D [x, y, z] (the training crop, e.g. [144, 144, 19]). */
  size: number[];
  /** Number of input channels (2D: 3 for RGB, 1 for grey; 3D: equals modalities.length). */
  channels: number;
  /** 3D only: the modality names in channel order, e.g. [t1, t1ce, t2, flair]. */
  modalities?: string[];
  /** Segmentation classes; index = label id predicted by the segmentation head. Index 0 is usually background. */
  classes: ClassSpec[];
  /** Scene labels, e.g. [preparing, peeling, incising] or [HGG, LGG]. */
  scenes: string[];
  /** Evaluation regions built from classes (BraTS: WT = [ncr, ed, et]). Name → class names. */
  regions: Record<string, string[]>;
  /** Input normalisation (see runtime/data/normalize.ts); absent in older locks = 'auto'. */
  normalize?: InputNormalization;
}

/** How input intensities are normalised: auto = unit (2D) / zscore (3D). */
export type InputNormalization = 'auto' | 'unit' | 'imagenet' | 'imagenet-caffe' | 'zscore';

export interface ClassSpec {
  name: string;
  /** Value(s) in the dataset's mask files that map to this class (ids, grey levels, or BraTS labels 0/1/2/4). */
  values?: number[];
  /** RGB colour in colour-coded masks (ROBOT18) and in the palette of predicted PNG masks. */
  color?: [number, number, number];
  /** Optional loss weight for rare classes (default 1). */
  weight: number;
}

export type DataFormat = 'robot18' | 'refuge18' | 'brats18' | 'folders';

export interface AugmentSpec {
  /** Probability of a horizontal flip (2D; in 3D: x axis). */
  hflip: number;
  /** Probability of a vertical flip (2D; in 3D: y axis). */
  vflip: number;
  /** 3D only: probability of a flip along z. */
  zflip: number;
  /** Maximum absolute per-channel RGB shift, in 0..255 intensity units (0 = off). */
  rgbShift: number;
  /** Brightness factor range [lo, hi], e.g. [0.9, 1.1] ([1, 1] = off). */
  brightness: [number, number];
  /** Contrast factor range [lo, hi], e.g. [0.9, 1.1] ([1, 1] = off). */
  contrast: [number, number];
}

export interface DataSpec {
  format: DataFormat;
  /** Dataset root, resolved relative to the spec file's folder. */
  root: string;
  /** When set and `root` does not exist, `tdc train` first writes a generated stand-in there (`tdc synth`). */
  synthesize?: { n: number; seed: number };
  /** Split rules: explicit lists of sequence/subject/file-stem names, or a validation fraction chosen by seed. */
  splits: { train?: string[]; val?: string[]; test?: string[]; valFraction?: number };
  /** Where scene labels come from: the folder layout (REFUGE18, BRATS18), or a CSV/JSON file (ROBOT18). */
  scenes: { from: 'folder' } | { from: 'file'; file: string };
  /** ROBOT18: the class → colour JSON (EndoVis labels.json format). Optional when classes carry colours. */
  labelsFile?: string;
  /** REFUGE18: the disc class covers cup + rim (nested labels) when true. */
  nestedDisc: boolean;
  augment: AugmentSpec;
  /** Random crop size for training (same axis order as task.size); absent = resize/centre as the format says. */
  crop?: number[];
  batchSize: number;
  /** Bounded cache of decoded samples (number of samples) and how many batches to prefetch. */
  cache: { samples: number; prefetch: number };
  /** What to do with a corrupt file met during training. */
  onCorrupt: 'skip' | 'stop';
}

export interface EncoderVgg16 {
  type: 'vgg16';
  /** Number of VGG16 stages used (1..5; 5 = all 13 conv layers). */
  stages: number;
  /** Width multiplier applied to 64-128-256-512-512 (1 = original VGG16). */
  width: number;
  /** Total stride of the encoder (2^number of 2×2 max-pools; pools follow the first stages). */
  outputStride: number;
  /** Optional Keras .h5 or tfjs model.json with ImageNet weights (layer names block{s}_conv{i}). */
  pretrained?: string;
  norm: 'none' | 'batch';
}

export interface EncoderAniso3d {
  type: 'aniso3d';
  /** Base number of filters. */
  filters: number;
  /** Residual blocks per stage. */
  blocks: number;
  /** In-plane down-sampling steps (each halves x and y, never z). */
  downsample: number;
  /** In-plane dilation rates of the intra-slice convolutions in successive blocks, e.g. [1, 2, 3]. */
  dilations: number[];
  pretrained?: string;
  norm: 'none' | 'batch';
}

export interface EncoderConvStack {
  type: 'convstack';
  /** One entry per stage: filters of its conv layers. */
  filters: number[];
  /** Conv layers per stage. */
  convsPerStage: number;
  /** Kernel size (3 = 3×3 in 2D, 3×3×3 in 3D unless kernel3d is given). */
  kernel: number;
  /** Total stride (2^number of down-sampling pools, in-plane only for 3D). */
  outputStride: number;
  pretrained?: string;
  norm: 'none' | 'batch';
}

/**
 * ResNet34 (basic blocks 3-4-6-3) or ResNet50 (bottleneck blocks 3-4-6-3), 2D, with Keras's layer names
 * (conv1_conv, conv{s}_block{b}_{i}_conv, …) so Keras-layout pretrained weights load by name.
 */
export interface EncoderResnet {
  type: 'resnet34' | 'resnet50';
  /** Width multiplier applied to the stem's 64 and the stages' 64-128-256-512 (1 = the published network). */
  width: number;
  /** Total stride 8, 16 or 32; below 32 the last stages keep their resolution and dilate instead (DeepLab). */
  outputStride: number;
  /** Conv biases (Keras's ResNet50 has them; torchvision's has none). */
  bias: boolean;
  /** Always batch norm after every conv. */
  norm: 'batch';
  pretrained?: string;
}

/**
 * Wang et al. 2017's anisotropic network for BraTS (WNet): residual intra-slice blocks, inter-slice fusion,
 * PReLU, one width throughout, two in-plane down-samplings (stride 4), dilations in the last level's blocks.
 */
export interface EncoderWnet {
  type: 'wnet';
  /** Channels of every conv (paper: 32). */
  filters: number;
  /** Residual blocks in each of the first two levels (paper: 2). */
  blocks: number;
  /** In-plane dilation of each residual block of the last level, in order (paper: 1, 2, 3, 3, 2, 1). */
  dilations: number[];
  /** Always batch norm. */
  norm: 'batch';
  pretrained?: string;
}

export type EncoderSpec = EncoderVgg16 | EncoderAniso3d | EncoderConvStack | EncoderResnet | EncoderWnet;

export interface ContextSpec {
  /** Task pairs, one dilated cascade each, e.g. [[seg, class], [seg, scene], [class, scene]]; [] = no context ensemble. */
  pairs: [TaskName, TaskName][];
  /** The cascade's dilation rates in order (paper: 63, 31, 15, 3, 1). In 3D they dilate in-plane only. */
  dilations: number[];
  /** Filters of every conv in the module (default: the encoder's output channels). */
  filters: number;
  /** How the pair branches combine: summed in parallel, concatenated + 1×1 conv, or run one after another. */
  combine: 'sum' | 'concat' | 'cascade';
}

export interface AsppSpec {
  type: 'aspp';
  /** Dilation of each parallel branch (DeepLab's atrous rates); 1 is a 1×1 conv (DeepLab convention). */
  dilations: number[];
  filters: number;
  /** Add the image-pooling branch (global average pool → 1×1 conv → broadcast). */
  imagePooling: boolean;
}

/** U-Net decoder: from the latent space back up through every encoder pooling, joining each stage's skip. */
export interface UnetSpec {
  type: 'unet';
  /** Convolutions (3×3, 3D [1,3,3], + ReLU) per level after the skip concatenation. */
  convs: number;
}

export type DecoderSpec = AsppSpec | UnetSpec;

export interface HeadsSpec {
  seg: { upsample: 'bilinear' | 'trilinear' | 'nearest' };
  class: { hidden: number; dropout: number };
  scene: { hidden: number; dropout: number };
}

export interface ModelSpec {
  encoder: EncoderSpec;
  context: ContextSpec;
  decoder: DecoderSpec;
  heads: HeadsSpec;
}

export type LossTermSpec =
  | {
      name: string;
      type: 'seg';
      ce: number;
      iou: number;
      classWeights: boolean;
      /** Soft IoU sums per image then averaged over the batch (eq. 1's sum over x), or pooled over the batch. */
      iouReduction: 'per-image' | 'batch';
    }
  | { name: string; type: 'bce'; head: 'class' | 'scene' }
  | { name: string; type: 'softmax_ce'; head: 'scene' }
  | {
      name: string;
      type: 'sync';
      /** hard: the paper's boolean presence (volume > 0); soft: max probability over pixels (differentiable). */
      presence: 'hard' | 'soft';
      /** seg->class: gradient into the class branch only (paper); both: also corrects the segmentation. */
      direction: 'seg->class' | 'both';
    };

export interface OptimizerSpec {
  type: 'sgd' | 'adam';
  momentum: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export type ScheduleSpec =
  | { type: 'constant'; lr: number }
  /** values[i] is used from step i*every on; the last value stays. Paper: [1e-4, 5e-5, 2e-5] every 50. */
  | { type: 'step'; values: number[]; every: number }
  | { type: 'cosine'; lr: number; minLr: number };

export interface StageSpec {
  name: string;
  /** Parsed total-loss expression over term names and weight names. */
  loss: Expr;
  /** The expression as written (for headers, logs and diagnostics). */
  lossText: string;
  /** Number of optimizer steps. */
  steps: number;
  /** 'init' = fresh weights (or pretrained encoder); 'previous' = the previous stage's final weights. */
  from: 'init' | 'previous';
  /** Parts frozen during this stage: encoder, context, decoder, seg, class, scene. */
  freeze: string[];
  /** Optional per-stage schedule override. */
  schedule?: ScheduleSpec;
  /** Row label in the summary and studies, e.g. "Base+Class" (as the paper's Tables 1, 3, 6 name the steps). */
  label: string;
}

export interface TrainSpec {
  seed: number;
  /** Validate every N steps (0 = at the end of each stage only). */
  validateEvery: number;
  /** Write a checkpoint every N steps. */
  checkpointEvery: number;
  /** Log a line every N steps. */
  logEvery: number;
  /** Validation metric that selects the best checkpoint. */
  bestMetric: 'miou' | 'mdice';
  /** Batch-norm momentum, PyTorch convention (weight of the new batch's statistics). */
  bnMomentum: number;
}

/** The resolved spec. */
export interface Spec {
  version: 1;
  name: string;
  description?: string;
  task: TaskSpec;
  data: DataSpec;
  model: ModelSpec;
  losses: LossTermSpec[];
  /** Named loss weights (w1, w2, …) after evaluation. */
  weights: Record<string, number>;
  /** Named numbers usable in expressions (e.g. base: 64). */
  vars: Record<string, number>;
  optimizer: OptimizerSpec;
  schedule: ScheduleSpec;
  train: TrainSpec;
  stages: StageSpec[];
}

/** A location in a spec file. Lines and columns are 1-based; `end` is exclusive. */
export interface Span {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  /** 0-based character offsets into the file's text. */
  offset: number;
  endOffset: number;
}
