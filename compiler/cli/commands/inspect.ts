/** `tdc inspect <file>`: prints the header facts of an image or volume (NIfTI, PNG, JPEG, BMP) as JSON. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { EXIT, io, setExitCode } from '../host.js';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('print format, size, spacing, datatype, affine, value range and labels of an image or volume as JSON')
    .argument('<file>', 'a .nii / .nii.gz volume or a PNG, JPEG or BMP image')
    .action(async (file: string) => {
      let bytes: Uint8Array;
      try {
        bytes = await readFile(file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
        io.err(`tdc: cannot read '${file}': ${why}\n`);
        setExitCode(EXIT.usage);
        return;
      }
      // Imported here so that the command list in main.ts stays cheap to load.
      const { inspectFile } = await import('../../../runtime/io/index.js');
      io.out(`${toJson(inspectFile(bytes, file))}\n`);
    });
}

/**
 * Indented JSON with flat arrays and flat objects kept on one line, so affines read as matrices and a label
 * list reads one label per line. (The report holds no strings with commas or brackets but the file name.)
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2)
    .replace(/\[\s+([^[\]{}"]*?)\s+\]/g, (_m, inner: string) => `[${inner.split(/,\s+/).join(', ')}]`)
    .replace(/\{\s+("[^{}]*?)\s+\}/g, (_m, inner: string) => `{ ${inner.split(/,\n\s+/).join(', ')} }`);
}
