/**
 * The one error type a user sees from tdc's library and CLI: a one-line message, the diagnostic code when the
 * problem has one (a dataset problem's TDC06xx), the file at fault, and whether it is a usage mistake (exit
 * status 2) or a problem with the input or the run (1). `runCli` maps it; anything else thrown is a bug.
 * No tfjs here: `tdc check` loads this module.
 */
import type { Code } from '../spec/diagnostics.js';

export interface TdcErrorOptions {
  /** The diagnostic code of the problem, when it has one. */
  code?: Code;
  /** The file (or folder) at fault. */
  file?: string;
  /** A mistake in the command line rather than in the input or the run (exit status 2). */
  usage?: boolean;
}

export class TdcError extends Error {
  override readonly name = 'TdcError';
  readonly code?: Code;
  readonly file?: string;
  /** The CLI's exit status for it: 2 for usage mistakes, else 1. */
  readonly exitCode: 1 | 2;

  constructor(message: string, opts: TdcErrorOptions = {}) {
    super(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
    if (opts.code) this.code = opts.code;
    if (opts.file !== undefined) this.file = opts.file;
    this.exitCode = opts.usage ? 2 : 1;
  }

  /** The message without the leading `<file>: ` that file errors carry. */
  get problem(): string {
    return this.file !== undefined && this.message.startsWith(`${this.file}: `) ? this.message.slice(this.file.length + 2) : this.message;
  }
}
