/**
 * How tdc prints a size, in every command: in the order of the spec's `task.size`, which is 2D height×width and
 * 3D x×y×z. Tensors hold 2D maps as [H, W] and volumes as [Z, Y, X] (NIfTI's x-fastest voxel order), so a 3D
 * tensor shape is printed reversed; a trailing channel count stays last (X×Y×Z×C).
 */
export function sizeText(tensorShape: readonly number[], opts: { dims: 2 | 3; channels?: boolean }): string {
  const spatial = opts.channels ? tensorShape.slice(0, -1) : [...tensorShape];
  const ordered = opts.dims === 3 ? spatial.reverse() : spatial;
  return [...ordered, ...(opts.channels ? tensorShape.slice(-1) : [])].join('×');
}

/** The axis letters of sizeText's order: 'H×W' or 'X×Y×Z' (with '×C' when channels are printed). */
export function sizeAxes(opts: { dims: 2 | 3; channels?: boolean }): string {
  return `${opts.dims === 3 ? 'X×Y×Z' : 'H×W'}${opts.channels ? '×C' : ''}`;
}
