/** The one error type the file readers and writers throw for a bad or unsupported file. */

/**
 * A file that cannot be read as the format it claims to be (bad magic, truncated data, broken gzip, …).
 * The message is always one line, `<file>: <what is wrong>`, so the CLI can print it as is.
 */
export class FormatError extends Error {
  /** The file name (or label) the caller passed in. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string) {
    const oneLine = problem.replace(/\s*[\r\n]+\s*/g, ' ').trim();
    super(`${file}: ${oneLine}`);
    this.name = 'FormatError';
    this.file = file;
    this.problem = oneLine;
  }
}

/** Runs `fn`, turning any non-FormatError a third-party decoder throws into a one-line FormatError. */
export function guard<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FormatError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new FormatError(file, `${what}: ${msg}`);
  }
}
