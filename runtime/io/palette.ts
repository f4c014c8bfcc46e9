/** Class colours shared by the written mask PNGs, the sample overlays and the report's legend, so all agree. */

export type Rgb = [number, number, number];

/**
 * Used for classes whose spec gives no colour: index 0 (background by convention) is black, the rest are
 * well-separated hues (Kelly's colours of maximum contrast), cycled when there are more classes.
 */
export const DEFAULT_PALETTE: readonly Rgb[] = [
  [0, 0, 0],
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
  [250, 190, 212],
  [0, 128, 128],
  [220, 190, 255],
  [170, 110, 40],
  [255, 250, 200],
  [128, 0, 0],
  [170, 255, 195],
  [128, 128, 0],
  [255, 215, 180],
  [0, 0, 128],
];

/** The colour of every class: its own when given, else the default palette's entry for its index. */
export function classPalette(classes: readonly { color?: readonly number[] | null }[]): Rgb[] {
  return classes.map((c, i) => {
    if (c.color && c.color.length === 3) return [c.color[0]!, c.color[1]!, c.color[2]!];
    if (i === 0) return [0, 0, 0];
    // Skip entry 0 when cycling so no foreground class is black.
    return [...DEFAULT_PALETTE[1 + ((i - 1) % (DEFAULT_PALETTE.length - 1))]!] as Rgb;
  });
}

/** `#rrggbb` for CSS. */
export function rgbHex(c: readonly number[]): string {
  return `#${c.map((v) => Math.max(0, Math.min(255, Math.round(v))).toString(16).padStart(2, '0')).join('')}`;
}
