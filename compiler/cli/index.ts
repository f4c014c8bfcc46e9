/** Public API of the command line: run it in-process, build the program, and the host it runs on. */
export { runCli, createProgram, type CommandModule } from './main.js';
export { createNodeHost, io, EXIT, setExitCode, type CliIO } from './host.js';
export { checkSpec } from './commands/check.js';
