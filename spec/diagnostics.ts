/**
 * One diagnostic shape for every compiler stage, and the closed list of diagnostic codes.
 * Stages never throw for user errors: they return `{ value, diagnostics }` (see `Result`).
 */
import type { Span } from './types.js';

export type Severity = 'error' | 'warning' | 'info';

/**
 * Every code tdc can print, each with one sentence. Ranges:
 * TDC01xx YAML syntax · TDC02xx schema · TDC03xx composition (extends, --set) ·
 * TDC04xx expressions · TDC05xx semantic checks · TDC06xx dataset checks · TDC07xx studies · TDC09xx usage / CLI.
 * Keep this object the single place codes are defined; docs and tests read it.
 */
export const CODES = {
  // TDC01xx YAML syntax
  TDC0101: 'The file is not valid YAML (a syntax error).',
  TDC0102: 'A key appears twice in the same mapping.',
  TDC0103: 'A tab is used for indentation; YAML indents with spaces.',
  TDC0104: 'A YAML tag is not known and was read as plain text (warning).',
  TDC0105: 'The document is empty or is not a mapping of keys to values.',
  TDC0106: 'The file is not text (it holds binary data): a spec is a YAML text file.',
  TDC0107: 'YAML aliases expand the document beyond a safe size (an alias bomb).',
  // TDC02xx schema
  TDC0201: 'A value has the wrong type.',
  TDC0202: 'A required key is missing.',
  TDC0203: 'A key is not allowed here (unknown key).',
  TDC0204: 'A value is not one of the allowed choices.',
  TDC0205: 'A number is out of its allowed range.',
  TDC0206: 'A list has too few or too many items.',
  TDC0207: 'A name or text does not have the required form.',
  TDC0208: 'A list has a repeated item where items must be unique.',
  TDC0209: 'An object has too few keys (an empty section).',
  // TDC03xx composition
  TDC0301: 'Files extend each other in a cycle.',
  TDC0302: 'The file named by extends cannot be read.',
  TDC0303: 'A --set override is not of the form path=value.',
  TDC0304: 'A --set override names a path the spec does not have.',
  TDC0305: 'A --set override value is not valid YAML.',
  // TDC09xx usage / CLI
  TDC0901: 'The spec file cannot be read.',
  // TDC04xx expressions
  TDC0401: 'An expression cannot be read: a syntax error or an unexpected character.',
  TDC0402: 'An expression names something that is not defined.',
  TDC0403: 'An expression divides by zero.',
  TDC0404: 'vars / weights refer to each other in a cycle.',
  TDC0405: 'An evaluated number is not valid where it is used (must be a whole number, positive, …).',
  TDC0406: 'A name is defined twice among vars, weights and loss terms.',
  // TDC05xx semantic checks
  TDC0501: 'Two classes have the same name.',
  TDC0502: 'Two scenes have the same name.',
  TDC0503: 'Fewer than two segmentation classes.',
  TDC0504: 'No scene labels, or a scene loss that needs more scenes than there are.',
  TDC0505: 'A sync loss term without the segmentation and class terms it compares.',
  TDC0506: 'A stage loss names something that is neither a loss term nor a weight/var.',
  TDC0507: 'A stage loss is not linear in the loss terms (a term multiplies or divides a term).',
  TDC0508: 'A stage loss uses a head the model does not have.',
  TDC0509: 'A region names an unknown class.',
  TDC0510: "The first stage cannot start 'from: previous'.",
  TDC0511: "The input size is not divisible by the encoder's total stride.",
  TDC0512: 'The training crop does not fit the input size or the encoder.',
  TDC0513: 'For 3D, channels must equal the number of modalities.',
  TDC0514: 'A dilation rate puts every off-centre tap outside the feature map (the conv degenerates to 1x1).',
  TDC0515: 'A pretrained weight file was not found (training would start from random weights).',
  TDC0516: 'A number is out of its valid range (schedule every, steps, rates, stride, …).',
  TDC0517: 'The encoder, upsampling or size does not match the task dimensionality (2D / 3D).',
  TDC0518: 'A stage freezes an unknown part of the model.',
  TDC0519: 'Context pairs repeat a pair or pair a task with itself.',
  TDC0520: 'A loss term is defined but never used by any stage.',
  TDC0521: 'Two classes share a mask value or colour (a pixel could belong to either).',
  TDC0522: 'Two stages have the same name (logs, checkpoints and --resume name stages).',
  TDC0523: 'A stage loss gives a loss term a negative weight (training would maximise that loss).',
  TDC0524: 'task.normalize does not fit the input (ImageNet modes need 3 channels; 3D volumes are z-scored).',
  TDC0525: 'A spec value is ignored: nothing in the network uses it (warning).',
  // TDC06xx dataset checks (runtime/data/scan.ts)
  TDC0601: 'The dataset folder does not exist.',
  TDC0602: 'The dataset folder holds no samples of the declared format.',
  TDC0603: 'An image has no mask, or a volume misses a modality or its segmentation (a missing pair).',
  TDC0604: 'An image and its mask (or the volumes of one subject) differ in size.',
  TDC0605: 'A mask holds a value or colour that belongs to no class.',
  TDC0606: 'A data file is corrupt or cannot be decoded.',
  TDC0607: 'The scene file or the class colour table cannot be used.',
  TDC0608: 'A sample has no scene label (warning).',
  TDC0609: 'A split names a sequence, subject or stem that is not in the dataset.',
  TDC0610: 'A split is empty, or a class never occurs in the training split (warning).',
  TDC0611: 'A file has the wrong number of dimensions (e.g. a 4D NIfTI where a 3D volume is expected).',
  // TDC07xx studies (tdc study)
  TDC0701: "A study variant's spec does not compile (its own diagnostics are printed above).",
  TDC0702: 'Two study variants have the same name (or the same folder name).',
  TDC0703: 'A study variant has no spec: neither the study nor the variant names one.',
} as const satisfies Record<string, string>;

export type Code = keyof typeof CODES;

export interface Diagnostic {
  code: Code;
  severity: Severity;
  message: string;
  /** Where the problem is; absent only for problems that have no place in a file (e.g. a missing file). */
  span?: Span;
  /** A suggestion the user can act on ("did you mean 'dilations'?"). */
  hint?: string;
}

export interface Result<T> {
  value: T;
  diagnostics: Diagnostic[];
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}
