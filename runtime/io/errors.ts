/** The error the file readers and writers throw for a bad or unsupported file. */
import { TdcError } from '../errors.js';

/**
 * A file that cannot be read as the format it claims to be (bad magic, truncated data, broken gzip, …): a
 * one-line `<file>: <what is wrong>` TdcError naming the file. The dataset readers wrap it as a TDC0606 data error.
 */
export function formatError(file: string, problem: string): TdcError {
  return new TdcError(`${file}: ${problem}`, { file });
}

/** Runs `fn`, turning anything else a third-party decoder throws into a one-line format error. */
export function guard<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TdcError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw formatError(file, `${what}: ${msg}`);
  }
}
