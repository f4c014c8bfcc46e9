/** The generic training runtime: the loop, optimizers, schedules, checkpoints, logs and the run summary. */
export { Trainer, train, readWeights, loadWeights, withSeededRandom, type TrainerArgs, type StepInfo } from './trainer.js';
export {
  type Batch,
  type BatchSource,
  type StagePlan,
  type ValidationResult,
  type StageScores,
  type StageSummary,
  type RunStatus,
  type RunSummary,
  type OutputSink,
} from './types.js';
export {
  Optimizer,
  Sgd,
  Adam,
  optimizer,
  type SgdArgs,
  type AdamArgs,
  type OptimizerOptions,
  type OptimizerConfig,
  type SgdConfig,
  type AdamConfig,
  type OptimizerState,
  type SlotState,
  type Param,
} from './optimizers.js';
export {
  ConstantSchedule,
  StepSchedule,
  CosineSchedule,
  schedule,
  type Schedule,
  type ConstantScheduleArgs,
  type StepScheduleArgs,
  type CosineScheduleArgs,
} from './schedule.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  recoverCheckpointDir,
  hasCheckpoint,
  writeFileSynced,
  type CheckpointData,
  type TensorRecord,
  type FileWriter,
  type SaveCheckpointOptions,
} from './checkpoint.js';
export { RunLog, Progress, type RunLogArgs, type ProgressArgs, type LogRecord, type StepRecord, type ValidationRecord, type LogPosition } from './log.js';
export { formatSummaryTable, markdownTable, protocolCell, readSummary, unscoredStages, writeSummary } from './summary.js';
export { RunLock, checkRunDir, runDirState, setRunAside, stageCheckpointDir, savedStages, LOCK_FILE, type RunDirState } from './run-dir.js';
export { batchNormLayers, batchNormDrift, setBatchNormMomentum, formatDrift, type BatchNormDrift } from './batch-norm-stats.js';
