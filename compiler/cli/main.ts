/** The `tdc` command line: a commander program whose subcommands live one per file in ./commands. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { TdcError } from '../../runtime/errors.js';
import { EXIT, io, setExitCode, type CliIO } from './host.js';

/**
 * Each command module exports `register(program)`. To add a command, add one line to COMMANDS. A module is loaded
 * only when its command runs (all of them for help, an unknown command or none), so `tdc check` loads the
 * check's code alone; still import heavy dependencies (tfjs) inside your action with `await import(...)`.
 */
export interface CommandModule {
  register(program: Command): void;
}
export const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  build: () => import('./commands/build.js'),
  check: () => import('./commands/check.js'),
  eval: () => import('./commands/eval.js'),
  explain: () => import('./commands/explain.js'),
  export: () => import('./commands/export.js'),
  init: () => import('./commands/init.js'),
  inspect: () => import('./commands/inspect.js'),
  metrics: () => import('./commands/metrics.js'),
  pack: () => import('./commands/pack.js'),
  predict: () => import('./commands/predict.js'),
  report: () => import('./commands/report.js'),
  study: () => import('./commands/study.js'),
  synth: () => import('./commands/synth.js'),
  train: () => import('./commands/train.js'),
};

const VERSION = '0.1.0';

/**
 * The program, with the command `argv` (the arguments after `tdc`) names registered, or every command when it names
 * none of them (`tdc --help`, `tdc help build`, a misspelt command that commander then suggests a name for).
 */
export async function createProgram(argv: readonly string[] = []): Promise<Command> {
  const named = argv.find((a) => !a.startsWith('-'));
  const names = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  const modules = await Promise.all(names.map((n) => COMMANDS[n]!()));
  const program = new Command('tdc')
    .description('tdc, the task-decomposition compiler: YAML specs of multi-task segmentation networks → TensorFlow.js')
    .version(VERSION)
    // Settings made before .command() are inherited by every subcommand.
    .exitOverride()
    .showHelpAfterError('(run tdc --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  for (const c of modules) c.register(program);
  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after `tdc`) and returns the exit code. Tests pass `testIO` to capture
 * output (and may pass their own program to exercise the error handling); the code path is otherwise the one a
 * user hits. Never throws, never prints a stack trace unless
 * TDC_DEBUG=1.
 */
export async function runCli(argv: readonly string[], testIO?: Partial<CliIO>, makeProgram: (argv: readonly string[]) => Promise<Command> = createProgram): Promise<number> {
  const saved = { ...io };
  Object.assign(io, testIO ?? {}, { exitCode: 0 });
  try {
    await (await makeProgram(argv)).parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through exitOverride with code 0; everything else commander rejects is usage.
      setExitCode(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
    } else if (e instanceof TdcError) {
      // The one user-facing error type: its message is one line, its exit status says usage (2) or failure (1).
      io.err(`tdc: ${e.message}\n`);
      if (process.env.TDC_DEBUG === '1' && e.stack) io.err(`${e.stack}\n`);
      setExitCode(e.exitCode);
    } else {
      // Anything else (a file system error, a bug): still one line, the stack only with TDC_DEBUG=1.
      const message = e instanceof Error ? e.message : String(e);
      io.err(`tdc: ${message.split('\n')[0]}\n`);
      if (process.env.TDC_DEBUG === '1' && e instanceof Error && e.stack) io.err(`${e.stack}\n`);
      setExitCode(EXIT.specErrors);
    }
  }
  const code = io.exitCode;
  Object.assign(io, saved);
  return code;
}

/** True when this module is the program being run (bin/tdc.js or main.js itself), not imported by a test. */
function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    const real = realpathSync(arg);
    return real === fileURLToPath(import.meta.url) || /[\\/]bin[\\/]tdc(\.js)?$/.test(real);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await runCli(process.argv.slice(2));
}
