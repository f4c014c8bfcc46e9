/** Public API of the command line: run it in-process, build the program, and the host it runs on. */
export { runCli, createProgram, type CommandModule } from './main.js';
export { createNodeHost, io, EXIT, setExitCode, type CliIO } from './host.js';
export { checkSpec } from './commands/check.js';
export { planBuild, applyBuild, outdated, type BuildArgs, type BuildPlan } from './commands/build.js';
export { planOutput, applyOutput, isGenerated, writeLastBuild, type FileChange, type LastBuild } from './build-output.js';
