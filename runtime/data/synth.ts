/**
 * Generated stand-ins for the three datasets, written in exactly their distributed layouts, so that the whole
 * pipeline (readers, training, evaluation) runs without the real data. Content depends on the scene — which
 * classes appear, tissue colour and texture — so class presence and scene are learnable, not noise.
 *
 * - robot18: `seq_N/left_frames/frameNNN.png`, colour-coded `seq_N/labels/frameNNN.png`, `labels.json` (the
 *   EndoVis 2018 table), `scenes.csv` (`seq,start,end,scene` ranges). Instruments are shafts with a wrist and a
 *   two-pronged clasper entering from the border; organs are blobs; thread and needle are thin curves.
 * - refuge18: `Training400/{Glaucoma,Non-Glaucoma}/*.jpg` fundus photographs with vessels, optic disc and cup,
 *   `Annotation-Training400/Disc_Cup_Masks/…/*.bmp` 8-bit grey masks (0 cup, 128 rim, 255 background);
 *   glaucoma has a larger cup-to-disc ratio.
 * - brats18: `{HGG,LGG}/<subject>/<subject>_{t1,t1ce,t2,flair,seg}.nii.gz`, int16 modalities and a uint8
 *   segmentation (labels 0/1/2/4) with nested tumour regions (ET inside TC inside WT), a BraTS-like affine
 *   (LPS flips, 1 mm at 240×240×155; other sizes keep the 240×240×155 mm field of view). HGG tumours are
 *   larger and enhance (label 4 ring); LGG tumours are smaller and rarely enhance.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { encodeBmp, encodeJpeg, encodePng, writeNiftiFile } from '../io/index.js';
import { Rng } from '../rng.js';

export type SynthFormat = 'robot18' | 'refuge18' | 'brats18';

export interface SynthOptions {
  /** Number of samples (frames, images or subjects). */
  n: number;
  /** Seed of every random choice: the same seed writes the same bytes. */
  seed: number;
  /** robot18/refuge18: [height, width]; brats18: [x, y, z]. Defaults: [128, 160], [128, 128], [48, 48, 16]. */
  size?: number[];
  /**
   * robot18: the RGB colours of the classes to draw (a spec's class colours). EndoVis classes whose colour is not
   * listed are not drawn (their pixels stay background), and labels.json lists only the drawn classes, so the
   * stand-in fits a spec that uses a subset of the EndoVis table. Default: all twelve.
   */
  colors?: [number, number, number][];
}

export interface SynthResult {
  root: string;
  /** Sample ids written, in the reader's id form (`seq_1/frame000`, `Glaucoma/g0001`, `HGG/Brats18_Synth_001`). */
  ids: string[];
  /** robot18: the labels.json and scenes.csv written into the root. */
  labelsFile?: string;
  scenesFile?: string;
}

/** The EndoVis 2018 class table (the official labels.json order: index = classid). */
export const ENDOVIS_CLASSES: { name: string; color: [number, number, number] }[] = [
  { name: 'background-tissue', color: [0, 0, 0] },
  { name: 'instrument-shaft', color: [0, 255, 0] },
  { name: 'instrument-clasper', color: [0, 255, 255] },
  { name: 'instrument-wrist', color: [125, 255, 12] },
  { name: 'kidney-parenchyma', color: [255, 55, 0] },
  { name: 'covered-kidney', color: [24, 55, 125] },
  { name: 'thread', color: [187, 155, 25] },
  { name: 'clamps', color: [0, 255, 125] },
  { name: 'suturing-needle', color: [255, 255, 125] },
  { name: 'suction-instrument', color: [123, 15, 175] },
  { name: 'small-intestine', color: [124, 155, 5] },
  { name: 'ultrasound-probe', color: [12, 255, 141] },
];
export const ROBOT_SCENES = ['preparing', 'peeling', 'incising'];

export async function synthesize(format: SynthFormat, outDir: string, opts: SynthOptions): Promise<SynthResult> {
  if (!Number.isInteger(opts.n) || opts.n < 1) throw new RangeError(`synthesize: n must be a positive whole number, got ${opts.n}`);
  await fs.mkdir(outDir, { recursive: true });
  switch (format) {
    case 'robot18':
      return synthRobot18(outDir, opts);
    case 'refuge18':
      return synthRefuge18(outDir, opts);
    case 'brats18':
      return synthBrats18(outDir, opts);
  }
}

// ---------------------------------------------------------------------------------------------------------
// drawing helpers (label maps; the image is painted from the label map afterwards)

type Canvas = { w: number; h: number; labels: Int32Array };

/** Pixels within `r` of the segment (x0, y0)–(x1, y1). */
function segment(c: Canvas, x0: number, y0: number, x1: number, y1: number, r: number, cls: number): void {
  const minX = Math.max(0, Math.floor(Math.min(x0, x1) - r));
  const maxX = Math.min(c.w - 1, Math.ceil(Math.max(x0, x1) + r));
  const minY = Math.max(0, Math.floor(Math.min(y0, y1) - r));
  const maxY = Math.min(c.h - 1, Math.ceil(Math.max(y0, y1) + r));
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy || 1;
  for (let y = minY; y <= maxY; y++) {
    for (let x = minX; x <= maxX; x++) {
      const t = Math.min(1, Math.max(0, ((x - x0) * dx + (y - y0) * dy) / len2));
      const ex = x0 + t * dx - x;
      const ey = y0 + t * dy - y;
      if (ex * ex + ey * ey <= r * r) c.labels[y * c.w + x] = cls;
    }
  }
}

/** A rotated ellipse, optionally with a wobbly (organ-like) outline. */
function ellipse(c: Canvas, cx: number, cy: number, rx: number, ry: number, theta: number, cls: number, wobble = 0, phase = 0): void {
  const r = Math.max(rx, ry) * (1 + wobble);
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(c.h - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(c.w - 1, Math.ceil(cx + r)); x++) {
      const u = ((x - cx) * cos + (y - cy) * sin) / rx;
      const v = (-(x - cx) * sin + (y - cy) * cos) / ry;
      const a = Math.atan2(v, u);
      const limit = 1 + wobble * Math.sin(3 * a + phase) * Math.cos(2 * a - phase);
      if (u * u + v * v <= limit * limit) c.labels[y * c.w + x] = cls;
    }
  }
}

/** A smooth random field in about [-1, 1]: a few plane waves (cheap, seeded, tileable enough for texture). */
function smoothField(rng: Rng, waves: number, scale: number): (x: number, y: number) => number {
  const ws = Array.from({ length: waves }, () => ({
    kx: rng.uniform(-1, 1) * scale,
    ky: rng.uniform(-1, 1) * scale,
    p: rng.uniform(0, 2 * Math.PI),
  }));
  return (x, y) => ws.reduce((s, w) => s + Math.sin(w.kx * x + w.ky * y + w.p), 0) / Math.sqrt(waves);
}

const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

// ---------------------------------------------------------------------------------------------------------
// ROBOT18

/** Per-scene appearance and which classes tend to appear (probabilities). */
const ROBOT_SCENE_LOOK: { tissue: [number, number, number]; texture: number; classes: Record<string, number> }[] = [
  // preparing: pink tissue, organs still covered, plain graspers
  { tissue: [190, 95, 90], texture: 14, classes: { 'covered-kidney': 0.9, 'small-intestine': 0.6, 'kidney-parenchyma': 0.2, instrument: 0.9, 'ultrasound-probe': 0.1 } },
  // peeling: darker red, exposed kidney, clamps
  { tissue: [150, 55, 50], texture: 24, classes: { 'kidney-parenchyma': 0.9, 'covered-kidney': 0.4, clamps: 0.7, instrument: 1, 'suction-instrument': 0.4 } },
  // incising: brownish, suturing (thread, needle), suction
  { tissue: [120, 70, 45], texture: 34, classes: { 'kidney-parenchyma': 0.7, thread: 0.8, 'suturing-needle': 0.7, instrument: 1, 'suction-instrument': 0.6, 'ultrasound-probe': 0.3 } },
];

const ROBOT_CLASS_LOOK: Record<string, [number, number, number]> = {
  'instrument-shaft': [70, 72, 80],
  'instrument-clasper': [175, 175, 185],
  'instrument-wrist': [120, 118, 125],
  'kidney-parenchyma': [140, 40, 35],
  'covered-kidney': [215, 175, 120],
  thread: [235, 230, 210],
  clamps: [60, 110, 200],
  'suturing-needle': [220, 220, 230],
  'suction-instrument': [40, 40, 45],
  'small-intestine': [225, 150, 130],
  'ultrasound-probe': [30, 30, 30],
};

function drawRobotFrame(rng: Rng, w: number, h: number, scene: number, drawn: ReadonlySet<number>): { labels: Int32Array; rgb: Uint8Array } {
  const id = (name: string): number => ENDOVIS_CLASSES.findIndex((c) => c.name === name);
  const c: Canvas = { w, h, labels: new Int32Array(w * h) };
  const look = ROBOT_SCENE_LOOK[scene]!;
  const p = (name: string): boolean => rng.next() < (look.classes[name] ?? 0);
  const s = Math.min(w, h);
  for (const organ of ['small-intestine', 'covered-kidney', 'kidney-parenchyma']) {
    if (p(organ)) {
      ellipse(c, rng.uniform(0.2, 0.8) * w, rng.uniform(0.3, 0.8) * h, rng.uniform(0.15, 0.3) * s, rng.uniform(0.1, 0.22) * s, rng.uniform(0, Math.PI), id(organ), 0.15, rng.uniform(0, 6));
    }
  }
  if (p('thread')) {
    const y0 = rng.uniform(0.2, 0.8) * h;
    const amp = rng.uniform(0.05, 0.15) * h;
    const ph = rng.uniform(0, 6);
    let px = 0;
    let py = y0;
    for (let x = 2; x <= w; x += 2) {
      const y = y0 + amp * Math.sin((x / w) * 6 + ph);
      segment(c, px, py, x, y, 0.8, id('thread'));
      px = x;
      py = y;
    }
  }
  if (p('clamps')) {
    const cx = rng.uniform(0.2, 0.8) * w;
    const cy = rng.uniform(0.2, 0.8) * h;
    segment(c, cx - 0.04 * s, cy, cx + 0.04 * s, cy, 0.025 * s, id('clamps'));
  }
  if (p('suturing-needle')) {
    const cx = rng.uniform(0.3, 0.7) * w;
    const cy = rng.uniform(0.3, 0.7) * h;
    const r = 0.07 * s;
    for (let a = 0; a < Math.PI; a += 0.2) {
      segment(c, cx + r * Math.cos(a), cy + r * Math.sin(a), cx + r * Math.cos(a + 0.2), cy + r * Math.sin(a + 0.2), 1, id('suturing-needle'));
    }
  }
  if (p('ultrasound-probe')) {
    ellipse(c, rng.uniform(0.3, 0.7) * w, rng.uniform(0.2, 0.5) * h, 0.12 * s, 0.06 * s, rng.uniform(0, Math.PI), id('ultrasound-probe'));
  }
  // Instruments enter from the left/right/top border and end in wrist + two-pronged clasper.
  const tools = p('instrument') ? 1 + rng.int(2) : 0;
  for (let t = 0; t < tools; t++) {
    const side = rng.int(3);
    const [x0, y0] = side === 0 ? [0, rng.uniform(0.1, 0.9) * h] : side === 1 ? [w - 1, rng.uniform(0.1, 0.9) * h] : [rng.uniform(0.1, 0.9) * w, 0];
    const tx = rng.uniform(0.3, 0.7) * w;
    const ty = rng.uniform(0.3, 0.7) * h;
    const ang = Math.atan2(ty - y0, tx - x0);
    const r = rng.uniform(0.035, 0.05) * s;
    segment(c, x0, y0, tx, ty, r, id('instrument-shaft'));
    const wx = tx + Math.cos(ang) * 0.08 * s;
    const wy = ty + Math.sin(ang) * 0.08 * s;
    segment(c, tx, ty, wx, wy, r * 0.9, id('instrument-wrist'));
    for (const spread of [-0.35, 0.35]) {
      segment(c, wx, wy, wx + Math.cos(ang + spread) * 0.09 * s, wy + Math.sin(ang + spread) * 0.09 * s, r * 0.45, id('instrument-clasper'));
    }
  }
  if (p('suction-instrument')) {
    segment(c, w - 1, rng.uniform(0.5, 1) * h, rng.uniform(0.4, 0.7) * w, rng.uniform(0.3, 0.6) * h, 0.03 * s, id('suction-instrument'));
  }
  // Classes the spec does not have fall back to background (drawn after the shapes so the random sequence, and so
  // the other classes' shapes, do not depend on the subset).
  for (let i = 0; i < c.labels.length; i++) if (!drawn.has(c.labels[i]!)) c.labels[i] = 0;
  const tex = smoothField(rng, 6, 0.15);
  const fine = smoothField(rng, 4, 0.6);
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const cls = c.labels[i]!;
      const name = ENDOVIS_CLASSES[cls]!.name;
      const base = cls === 0 ? look.tissue : ROBOT_CLASS_LOOK[name]!;
      const t = cls === 0 ? look.texture * tex(x, y) + 8 * fine(x, y) : 10 * fine(x, y);
      // A soft vignette, as endoscope light falls off towards the border.
      const vx = (x / w - 0.5) * 2;
      const vy = (y / h - 0.5) * 2;
      const light = 1 - 0.25 * (vx * vx + vy * vy);
      for (let k = 0; k < 3; k++) rgb[i * 3 + k] = clamp255((base[k]! + t) * light + rng.uniform(-4, 4));
    }
  }
  return { labels: c.labels, rgb };
}

async function synthRobot18(root: string, opts: SynthOptions): Promise<SynthResult> {
  const [h, w] = opts.size ?? [128, 160];
  const wanted = opts.colors?.map((c) => c.join());
  const drawn = new Set(ENDOVIS_CLASSES.flatMap((c, i) => (i === 0 || !wanted || wanted.includes(c.color.join()) ? [i] : [])));
  const nSeq = Math.min(opts.n, Math.max(2, Math.ceil(opts.n / 4)));
  const perSeq = Array.from({ length: nSeq }, (_, i) => Math.floor(opts.n / nSeq) + (i < opts.n % nSeq ? 1 : 0));
  const ids: string[] = [];
  const sceneRows = ['seq,start,end,scene'];
  for (let sIdx = 0; sIdx < nSeq; sIdx++) {
    const seq = `seq_${sIdx + 1}`;
    await fs.mkdir(path.join(root, seq, 'left_frames'), { recursive: true });
    await fs.mkdir(path.join(root, seq, 'labels'), { recursive: true });
    const count = perSeq[sIdx]!;
    // A surgery moves through its phases: the sequence is cut into up to three contiguous scene ranges,
    // starting at a different phase per sequence so that every scene occurs even in tiny sets.
    const parts = Math.min(3, count);
    let start = 0;
    for (let part = 0; part < parts; part++) {
      const end = start + Math.floor(count / parts) + (part < count % parts ? 1 : 0) - 1;
      const scene = (sIdx + part) % 3;
      sceneRows.push(`${seq},${start},${end},${ROBOT_SCENES[scene]}`);
      for (let f = start; f <= end; f++) {
        const rng = new Rng(hash(opts.seed, sIdx, f));
        const { labels, rgb } = drawRobotFrame(rng, w, h, scene, drawn);
        const colour = new Uint8Array(w * h * 3);
        for (let i = 0; i < labels.length; i++) colour.set(ENDOVIS_CLASSES[labels[i]!]!.color, i * 3);
        const name = `frame${String(f).padStart(3, '0')}`;
        await fs.writeFile(path.join(root, seq, 'left_frames', `${name}.png`), encodePng({ width: w, height: h, channels: 3, data: rgb }));
        await fs.writeFile(path.join(root, seq, 'labels', `${name}.png`), encodePng({ width: w, height: h, channels: 3, data: colour }));
        ids.push(`${seq}/${name}`);
      }
      start = end + 1;
    }
  }
  const labelsFile = path.join(root, 'labels.json');
  const scenesFile = path.join(root, 'scenes.csv');
  const table = ENDOVIS_CLASSES.map((c, i) => ({ name: c.name, color: c.color, classid: i })).filter((c) => drawn.has(c.classid));
  await fs.writeFile(labelsFile, JSON.stringify(table, null, 2) + '\n');
  await fs.writeFile(scenesFile, sceneRows.join('\n') + '\n');
  return { root, ids: ids.sort(), labelsFile, scenesFile };
}

// ---------------------------------------------------------------------------------------------------------
// REFUGE18

function drawFundus(rng: Rng, w: number, h: number, glaucoma: boolean): { rgb: Uint8Array; grey: Uint8Array } {
  const s = Math.min(w, h);
  const grey = new Uint8Array(w * h).fill(255);
  const disc: Canvas = { w, h, labels: new Int32Array(w * h) };
  const cx = w / 2 + rng.uniform(-0.12, 0.12) * w;
  const cy = h / 2 + rng.uniform(-0.1, 0.1) * h;
  const rx = rng.uniform(0.09, 0.12) * s;
  const ry = rx * rng.uniform(1.0, 1.15);
  const theta = rng.uniform(-0.3, 0.3);
  // Cup-to-disc ratio: the glaucoma sign the scene head should pick up.
  const cdr = glaucoma ? rng.uniform(0.6, 0.8) : rng.uniform(0.3, 0.45);
  ellipse(disc, cx, cy, rx, ry, theta, 1, 0.04, rng.uniform(0, 6));
  ellipse(disc, cx + rng.uniform(-0.05, 0.05) * rx, cy, rx * cdr, ry * cdr, theta, 2);
  const vessels: Canvas = { w, h, labels: new Int32Array(w * h) };
  for (let v = 0; v < 6; v++) {
    let a = rng.uniform(0, 2 * Math.PI);
    let px = cx;
    let py = cy;
    const width = rng.uniform(0.006, 0.012) * s;
    for (let step = 0; step < 14; step++) {
      a += rng.uniform(-0.3, 0.3);
      const nx = px + Math.cos(a) * 0.04 * s;
      const ny = py + Math.sin(a) * 0.04 * s;
      segment(vessels, px, py, nx, ny, width, 1);
      px = nx;
      py = ny;
    }
  }
  const tex = smoothField(rng, 6, 0.08);
  const rgb = new Uint8Array(w * h * 3);
  const fr = 0.48 * s;
  const tint = glaucoma ? 0 : 10;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const d = Math.hypot(x - w / 2, y - h / 2) / fr;
      const lab = disc.labels[i]!;
      grey[i] = lab === 2 ? 0 : lab === 1 ? 128 : 255;
      let col: [number, number, number];
      if (d > 1) col = [4, 2, 2];
      else {
        const light = 1 - 0.45 * d * d;
        col = [(190 + tint) * light, 85 * light, 35 * light];
        if (vessels.labels[i]) col = [col[0] * 0.7, col[1] * 0.45, col[2] * 0.5];
        if (lab === 1) col = [235, 185, 110];
        if (lab === 2) col = [250, 230, 175];
        const t = 10 * tex(x, y);
        col = [col[0] + t, col[1] + t * 0.6, col[2] + t * 0.3];
      }
      for (let k = 0; k < 3; k++) rgb[i * 3 + k] = clamp255(col[k]! + rng.uniform(-3, 3));
    }
  }
  return { rgb, grey };
}

async function synthRefuge18(root: string, opts: SynthOptions): Promise<SynthResult> {
  const [h, w] = opts.size ?? [128, 128];
  const ids: string[] = [];
  const counters = { Glaucoma: 0, 'Non-Glaucoma': 0 };
  for (let i = 0; i < opts.n; i++) {
    // Alternate classes so even n = 2 has both scenes (REFUGE's training set is 40 glaucoma / 360 normal).
    const glaucoma = i % 2 === 0;
    const folder = glaucoma ? 'Glaucoma' : 'Non-Glaucoma';
    const idx = ++counters[folder];
    const name = `${glaucoma ? 'g' : 'n'}${String(idx).padStart(4, '0')}`;
    const imgDir = path.join(root, 'Training400', folder);
    const maskDir = path.join(root, 'Annotation-Training400', 'Disc_Cup_Masks', folder);
    await fs.mkdir(imgDir, { recursive: true });
    await fs.mkdir(maskDir, { recursive: true });
    const { rgb, grey } = drawFundus(new Rng(hash(opts.seed, i)), w, h, glaucoma);
    await fs.writeFile(path.join(imgDir, `${name}.jpg`), encodeJpeg({ width: w, height: h, channels: 3, data: rgb }, 95));
    await fs.writeFile(path.join(maskDir, `${name}.bmp`), encodeBmp({ width: w, height: h, channels: 1, data: grey }));
    ids.push(`${folder}/${name}`);
  }
  return { root, ids: ids.sort() };
}

// ---------------------------------------------------------------------------------------------------------
// BRATS18

/** Mean intensity per tissue: [background-brain, edema (2), necrosis/non-enhancing (1), enhancing (4)]. */
const BRATS_LOOK: Record<string, number[]> = {
  t1: [420, 360, 260, 400],
  t1ce: [430, 380, 220, 1100],
  t2: [380, 900, 1000, 650],
  flair: [300, 850, 500, 600],
};

async function synthBrats18(root: string, opts: SynthOptions): Promise<SynthResult> {
  const [X, Y, Z] = opts.size ?? [48, 48, 16];
  const spacing = [240 / X, 240 / Y, 155 / Z];
  // BraTS volumes are stored LPS-like: x and y flipped, origin at the far corner of y.
  const affine = [
    [-spacing[0]!, 0, 0, 0],
    [0, -spacing[1]!, 0, (Y - 1) * spacing[1]!],
    [0, 0, spacing[2]!, 0],
    [0, 0, 0, 1],
  ];
  const ids: string[] = [];
  const n = X * Y * Z;
  for (let i = 0; i < opts.n; i++) {
    const hgg = i % 2 === 0;
    const folder = hgg ? 'HGG' : 'LGG';
    const subject = `Brats18_Synth_${String(i + 1).padStart(3, '0')}`;
    const dir = path.join(root, folder, subject);
    await fs.mkdir(dir, { recursive: true });
    const rng = new Rng(hash(opts.seed, i));
    const seg = new Uint8Array(n);
    const tissue = new Int8Array(n).fill(-1);
    // Brain ellipsoid filling most of the field of view; tumour ellipsoids nested inside it.
    const brain = { cx: X / 2, cy: Y / 2, cz: Z / 2, rx: 0.4 * X, ry: 0.45 * Y, rz: 0.45 * Z };
    const tcx = brain.cx + rng.uniform(-0.15, 0.15) * X;
    const tcy = brain.cy + rng.uniform(-0.15, 0.15) * Y;
    const tcz = brain.cz + rng.uniform(-0.1, 0.1) * Z;
    const wt = (hgg ? rng.uniform(0.16, 0.22) : rng.uniform(0.1, 0.15)) * X;
    const tc = wt * rng.uniform(0.5, 0.65);
    const enhancing = hgg || rng.next() < 0.2;
    const wtz = wt * (Z / X) * 1.3;
    const field = smoothField(rng, 5, 0.25);
    for (let z = 0; z < Z; z++) {
      for (let y = 0; y < Y; y++) {
        for (let x = 0; x < X; x++) {
          const idx = x + X * (y + Y * z);
          const b = ((x - brain.cx) / brain.rx) ** 2 + ((y - brain.cy) / brain.ry) ** 2 + ((z - brain.cz) / brain.rz) ** 2;
          if (b > 1) continue;
          tissue[idx] = 0;
          const dx = (x - tcx) / wt;
          const dy = (y - tcy) / (wt * 0.85);
          const dz = (z - tcz) / wtz;
          const r = Math.sqrt(dx * dx + dy * dy + dz * dz) * (1 + 0.1 * field(x, y + z));
          if (r <= 1) {
            const rc = r * (wt / tc);
            if (rc <= 1) {
              // TC: enhancing rim (ET, label 4) around a necrotic core (label 1).
              const et = enhancing && rc > 0.6;
              seg[idx] = et ? 4 : 1;
              tissue[idx] = et ? 3 : 2;
            } else {
              seg[idx] = 2;
              tissue[idx] = 1;
            }
          }
        }
      }
    }
    for (const m of ['t1', 't1ce', 't2', 'flair']) {
      const look = BRATS_LOOK[m]!;
      const data = new Int16Array(n);
      const tex = smoothField(rng, 5, 0.3);
      for (let idx = 0; idx < n; idx++) {
        const t = tissue[idx]!;
        if (t < 0) continue;
        const x = idx % X;
        const y = Math.floor(idx / X) % Y;
        // Brain voxels are never exactly 0: the reader's z-score uses non-zero as the brain mask.
        data[idx] = Math.max(1, Math.round(look[t]! * (1 + 0.08 * tex(x, y)) + rng.normal() * 20));
      }
      await writeNiftiFile(path.join(dir, `${subject}_${m}.nii.gz`), { dims: [X, Y, Z], spacing, affine, datatype: 'int16', data });
    }
    await writeNiftiFile(path.join(dir, `${subject}_seg.nii.gz`), { dims: [X, Y, Z], spacing, affine, datatype: 'uint8', data: seg });
    ids.push(`${folder}/${subject}`);
  }
  return { root, ids: ids.sort() };
}

/** Seed for sample i (independent streams per sample, so n does not change the earlier samples). */
function hash(seed: number, ...parts: number[]): number {
  let r = new Rng(seed >>> 0);
  for (const p of parts) r = new Rng((r.nextUint32() ^ Math.imul(p + 1, 0x9e3779b1)) >>> 0);
  return r.nextUint32();
}
