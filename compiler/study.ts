/**
 * The study front end (`tdc study`): a study file's YAML → a checked `Study` (its variants, seeds and overrides)
 * with diagnostics at the study file's nodes, and the list of runs it asks for. Pure: the CLI reads the files,
 * compiles every run's spec before training any, trains, and prints the table.
 */
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import type { Span } from '../spec/types.js';
import studySchema from '../spec/tdc-study.schema.json' with { type: 'json' };
import type { Diagnostic, Result } from '../spec/diagnostics.js';
import { parseYaml, type SpanIndex } from './parse/index.js';
import { VALIDATOR_OPTIONS } from './validate/schema.js';
import { validateDocument } from './validate/index.js';

export interface StudyVariant {
  name: string;
  /** A spec file (as written, relative to the study file) instead of the study's `spec`. */
  extends?: string;
  set: string[];
  rows: 'final' | 'stages';
  /** Where the variant is written (for diagnostics about its spec). */
  span?: Span;
}

export interface Study {
  file: string;
  name: string;
  description?: string;
  /** The base spec as written (relative to the study file). */
  spec?: string;
  seeds: number[];
  set: string[];
  variants: StudyVariant[];
}

/** One training the study asks for. */
export interface StudyRun {
  variant: StudyVariant;
  /** Index of the variant in the study (row order). */
  index: number;
  seed: number;
  /** The spec file as written in the study (relative to the study file). */
  specFile: string;
  /** Every override in order: the study's, the variant's, the command line's, then train.seed. */
  overrides: string[];
}

let validator: ValidateFunction | undefined;

function studyValidator(): ValidateFunction {
  if (!validator) {
    const require = createRequire(import.meta.url);
    const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
    validator = new Ajv2020(VALIDATOR_OPTIONS).compile(studySchema);
  }
  return validator;
}

/** Parses and checks a study file's text. The value is undefined when there are errors. */
export function parseStudy(file: string, text: string): Result<Study | undefined> & { spans?: SpanIndex } {
  const parsed = parseYaml(file, text);
  const spans = parsed.value.spans;
  if (parsed.value.data === undefined || parsed.diagnostics.some((d) => d.severity === 'error')) {
    return { value: undefined, diagnostics: parsed.diagnostics, spans };
  }
  const validated = validateDocument({ file, data: parsed.value.data, spans }, studyValidator(), 'the study', 'see examples/studies/');
  const diagnostics: Diagnostic[] = [...parsed.diagnostics, ...validated.diagnostics];
  if (validated.value === undefined) return { value: undefined, diagnostics, spans };
  const d = validated.value as {
    name: string;
    description?: string;
    spec?: string;
    seeds: number[];
    set: string[];
    variants: { name: string; extends?: string; set: string[]; rows: 'final' | 'stages' }[];
  };
  const seen = new Map<string, number>();
  const variants: StudyVariant[] = d.variants.map((v, i) => {
    const first = seen.get(v.name) ?? seen.get(`slug:${variantSlug(v.name)}`);
    seen.set(`slug:${variantSlug(v.name)}`, i);
    if (first !== undefined) {
      diagnostics.push({
        code: 'TDC0702',
        severity: 'error',
        message: `variant '${v.name}' is named like variant ${first + 1} ('${d.variants[first]!.name}'; both would train in ${variantSlug(v.name)}/)`,
        span: spans.get(['variants', i, 'name']),
        hint: 'variant names are the table rows and must be unique',
      });
    } else seen.set(v.name, i);
    if (v.extends === undefined && d.spec === undefined) {
      diagnostics.push({
        code: 'TDC0703',
        severity: 'error',
        message: `variant '${v.name}' has no spec: the study has no 'spec' and the variant no 'extends'`,
        span: spans.get(['variants', i]),
        hint: 'add spec: <file> at the top of the study, or extends: <file> to the variant',
      });
    }
    const span = spans.get(['variants', i, 'name']);
    return { name: v.name, ...(v.extends !== undefined ? { extends: v.extends } : {}), set: v.set, rows: v.rows, ...(span ? { span } : {}) };
  });
  const study: Study = { file, name: d.name, seeds: d.seeds, set: d.set, variants, ...(d.description ? { description: d.description } : {}), ...(d.spec ? { spec: d.spec } : {}) };
  return { value: diagnostics.some((x) => x.severity === 'error') ? undefined : study, diagnostics, spans };
}

/** The runs of a study, variant by variant and seed by seed; `cliSet` are the command line's `--set`s. */
export function studyRuns(study: Study, cliSet: readonly string[] = []): StudyRun[] {
  const runs: StudyRun[] = [];
  study.variants.forEach((variant, index) => {
    for (const seed of study.seeds) {
      runs.push({
        variant,
        index,
        seed,
        specFile: variant.extends ?? study.spec!,
        overrides: [...study.set, ...variant.set, ...cliSet, `train.seed=${seed}`],
      });
    }
  });
  return runs;
}

/** A variant's folder name: its name with everything but letters, digits, + . - replaced by '_'. */
export function variantSlug(name: string): string {
  return name.replace(/[^A-Za-z0-9+.-]+/g, '_').replace(/^_+|_+$/g, '') || 'variant';
}
