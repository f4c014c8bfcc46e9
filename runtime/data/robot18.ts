/**
 * The ROBOT18 (EndoVis 2018) layout: `<root>/seq_N/left_frames/frameNNN.png` with colour-coded
 * `<root>/seq_N/labels/frameNNN.png`, a class → colour table, and scene labels from a CSV or JSON file.
 *
 * Scene file formats (the spec's `data.scenes.file`), frames given as `5`, `005`, `frame005` or `frame005.png`,
 * sequences as `seq_1` or `1`, scenes by name (from task.scenes) or index:
 * - CSV per frame:    `seq,frame,scene`      e.g. `seq_1,0,preparing`
 * - CSV per range:    `seq,start,end,scene`  (start and end inclusive) e.g. `seq_1,0,49,preparing`
 *   A header row (any column names) is optional; `#` lines are comments. Rows of both kinds may be mixed.
 * - JSON: an array of objects with the same keys, e.g. `[{"seq": "seq_1", "start": 0, "end": 49, "scene": "peeling"}]`.
 * Per-frame rows win over ranges; a frame no row covers gets scene -1 (reported by `scanDataset`).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DataSpec, TaskSpec } from '../../spec/types.js';
import { finish2d, isDir, listDir, loadImage, parseCsv, requireRoot, sceneIndex, splitHeader, toChannels } from './common.js';
import { type DatasetReader, type LoadOptions, type Sample, type SampleDescriptor, dataError } from './types.js';

/** One entry of an EndoVis `labels.json`. */
export interface EndoVisLabel {
  name: string;
  color: [number, number, number];
  classid: number;
}

const rgbKey = (r: number, g: number, b: number): number => (r << 16) | (g << 8) | b;

/**
 * Colour → class id. The spec's class colours come first (index i = class i). A labels.json entry maps to the
 * spec class whose `values` contain its classid, else to the class of the same name; an entry matching no
 * class is an error, since its pixels could not be labelled.
 */
export async function colorTable(task: TaskSpec, labelsFile?: string): Promise<Map<number, number>> {
  const table = new Map<number, number>();
  if (labelsFile) {
    let entries: EndoVisLabel[];
    try {
      entries = JSON.parse(await fs.readFile(labelsFile, 'utf8')) as EndoVisLabel[];
      if (!Array.isArray(entries)) throw new Error('expected an array of {name, color, classid}');
    } catch (e) {
      throw dataError('bad-labels-file', `${labelsFile}: cannot read the label table (${(e as Error).message})`, labelsFile);
    }
    for (const e of entries) {
      if (!Array.isArray(e.color) || e.color.length !== 3) {
        throw dataError('bad-labels-file', `${labelsFile}: entry '${e.name}' has no [r, g, b] color`, labelsFile);
      }
      let cls = task.classes.findIndex((c) => c.values?.includes(e.classid));
      if (cls < 0) cls = task.classes.findIndex((c) => c.name === e.name);
      if (cls < 0) {
        throw dataError('bad-labels-file', `${labelsFile}: class '${e.name}' (id ${e.classid}) is not a class of the spec`, labelsFile);
      }
      table.set(rgbKey(e.color[0], e.color[1], e.color[2]), cls);
    }
  }
  task.classes.forEach((c, i) => {
    if (c.color) table.set(rgbKey(c.color[0], c.color[1], c.color[2]), i);
  });
  return table;
}

/** Frame number from `5`, `005`, `frame005`, `frame005.png`. */
export function frameNumber(s: string | number): number {
  if (typeof s === 'number') return s;
  const m = /(\d+)(?:\.\w+)?$/.exec(s.trim());
  return m ? Number(m[1]) : NaN;
}

function seqName(s: string | number): string {
  const v = String(s).trim();
  return /^\d+$/.test(v) ? `seq_${Number(v)}` : v;
}

/** Scene lookup built from a scene file: (seq, frame) → scene index. */
export interface SceneTable {
  lookup(seq: string, frame: number): number;
}

export async function readSceneFile(file: string, task: TaskSpec): Promise<SceneTable> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw dataError('bad-scene-file', `${file}: scene file not found`, file);
  }
  type Row = { seq: string | number; frame?: string | number; start?: string | number; end?: string | number; scene: string | number };
  let rows: Row[];
  if (/\.json$/i.test(file)) {
    try {
      rows = JSON.parse(text) as Row[];
      if (!Array.isArray(rows)) throw new Error('expected an array');
    } catch (e) {
      throw dataError('bad-scene-file', `${file}: invalid JSON scene file (${(e as Error).message})`, file);
    }
  } else {
    // A data row has a frame number (or a start and an end); a first row without is a header, however named.
    const { rows: table } = splitHeader(parseCsv(text), (r) => r.length >= 3 && r.slice(1, -1).every((f) => !Number.isNaN(frameNumber(f))));
    rows = table.map((r, i) => {
      if (r.length === 3) return { seq: r[0]!, frame: r[1]!, scene: r[2]! };
      if (r.length === 4) return { seq: r[0]!, start: r[1]!, end: r[2]!, scene: r[3]! };
      throw dataError('bad-scene-file', `${file}: row ${i + 1} has ${r.length} fields; expected seq,frame,scene or seq,start,end,scene`, file);
    });
  }
  const frames = new Map<string, number>();
  const ranges: { seq: string; start: number; end: number; scene: number }[] = [];
  rows.forEach((r, i) => {
    const where = `row ${i + 1}`;
    const scene = sceneIndex(task, String(r.scene), where, file);
    if (r.frame !== undefined) {
      const f = frameNumber(r.frame);
      if (Number.isNaN(f)) throw dataError('bad-scene-file', `${file}: ${where}: bad frame '${r.frame}'`, file);
      frames.set(`${seqName(r.seq)}#${f}`, scene);
    } else {
      const start = frameNumber(r.start ?? '');
      const end = frameNumber(r.end ?? '');
      if (Number.isNaN(start) || Number.isNaN(end)) {
        throw dataError('bad-scene-file', `${file}: ${where}: needs frame, or start and end`, file);
      }
      ranges.push({ seq: seqName(r.seq), start, end, scene });
    }
  });
  return {
    lookup(seq, frame) {
      const direct = frames.get(`${seq}#${frame}`);
      if (direct !== undefined) return direct;
      const r = ranges.find((x) => x.seq === seq && frame >= x.start && frame <= x.end);
      return r ? r.scene : -1;
    },
  };
}

export interface Robot18ReaderArgs {
  /** The resolved data spec (root, labelsFile, scenes). */
  data: DataSpec;
  /** The resolved task (size, classes, scenes). */
  task: TaskSpec;
}

export class Robot18Reader implements DatasetReader {
  readonly format = 'robot18' as const;
  private table?: Promise<Map<number, number>>;

  constructor(readonly args: Robot18ReaderArgs) {}

  async list(): Promise<SampleDescriptor[]> {
    const { data, task } = this.args;
    await requireRoot(data.root);
    const scenes = data.scenes.from === 'file' ? await readSceneFile(path.resolve(data.scenes.file), task) : undefined;
    const out: SampleDescriptor[] = [];
    for (const seq of await listDir(data.root)) {
      const frameDir = path.join(data.root, seq, 'left_frames');
      if (!(await isDir(frameDir))) continue;
      for (const f of await listDir(frameDir)) {
        if (!/\.png$/i.test(f)) continue;
        out.push({
          id: `${seq}/${f.replace(/\.png$/i, '')}`,
          group: seq,
          files: { image: path.join(frameDir, f), mask: path.join(data.root, seq, 'labels', f) },
          scene: scenes ? scenes.lookup(seq, frameNumber(f)) : -1,
        });
      }
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async load(d: SampleDescriptor, opts?: LoadOptions): Promise<Sample> {
    const { task, data } = this.args;
    this.table ??= colorTable(task, data.labelsFile ? path.resolve(data.labelsFile) : undefined);
    const table = await this.table;
    const [img, lab] = await Promise.all([loadImage(d.files.image!), loadImage(d.files.mask!, `the mask of ${d.files.image}`)]);
    if (img.width !== lab.width || img.height !== lab.height) {
      throw dataError(
        'size-mismatch',
        `${d.files.mask}: label is ${lab.height}×${lab.width} but its frame ${d.files.image} is ${img.height}×${img.width} (height×width)`,
        d.files.mask,
      );
    }
    const h = img.height;
    const w = img.width;
    const mask = new Int32Array(w * h);
    for (let p = 0; p < w * h; p++) {
      const s = p * lab.channels;
      const r = lab.data[s]!;
      const g = lab.channels >= 3 ? lab.data[s + 1]! : r;
      const b = lab.channels >= 3 ? lab.data[s + 2]! : r;
      const cls = table.get(rgbKey(r, g, b));
      if (cls === undefined) {
        throw dataError(
          'unknown-value',
          `${d.files.mask}: colour (${r}, ${g}, ${b}) at pixel (${p % w}, ${Math.floor(p / w)}) is not in the class colour table`,
          d.files.mask,
        );
      }
      mask[p] = cls;
    }
    return finish2d(d, toChannels(img, task.channels), mask, h, w, task, opts?.nativeSize);
  }
}

export function robot18Reader(args: Robot18ReaderArgs): Robot18Reader {
  return new Robot18Reader(args);
}
