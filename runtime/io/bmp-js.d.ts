/** Types for bmp-js 0.1 (it ships none): decode gives A, B, G, R bytes per pixel; encode writes 24-bit. */
declare module 'bmp-js' {
  interface BmpDecoded {
    width: number;
    height: number;
    /** A, B, G, R per pixel, rows top-down. */
    data: Buffer;
    bitPP: number;
    is_with_alpha?: boolean;
    palette?: { red: number; green: number; blue: number; quad: number }[];
  }
  function decode(buffer: Buffer): BmpDecoded;
  function encode(img: { data: Buffer; width: number; height: number }): { data: Buffer; width: number; height: number };
  const bmp: { decode: typeof decode; encode: typeof encode };
  export default bmp;
}
