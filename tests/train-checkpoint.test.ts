// Atomic checkpoints: round trip, a crash in the middle of writing leaves the previous complete checkpoint,
// and recovery from what a crash between the directory renames leaves behind.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  hasCheckpoint,
  loadCheckpoint,
  recoverCheckpointDir,
  saveCheckpoint,
  writeFileSynced,
  type CheckpointData,
} from '../runtime/train/checkpoint.js';
import { TdcError } from '../runtime/errors.js';

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'tdc-train-ckpt-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function data(tag: number): CheckpointData {
  return {
    weights: [
      { name: 'conv/kernel', shape: [2, 3], dtype: 'float32', values: Float32Array.from([1, 2, 3, 4, 5, 6].map((x) => x * tag + 0.125)) },
      { name: 'counter', shape: [], dtype: 'int32', values: Int32Array.from([tag]) },
      { name: 'bn/moving_mean', shape: [3], dtype: 'float32', values: Float32Array.from([Number.MIN_VALUE, -0, 3.4e38]) },
    ],
    optimizer: {
      config: { type: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0 },
      steps: { '0': tag },
      slots: [{ key: '0', slot: 'momentum', shape: [2, 3], values: Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, tag]) }],
    },
    state: { stageIndex: 1, step: tag, data: { epoch: 2, cursor: tag, rng: 12345 } },
    lockJson: `{"name":"robot18","tag":${tag}}\n`,
  };
}

describe('checkpoints', () => {
  it('round-trips weights (bit-exact), optimizer state, trainer state and the lock file', async () => {
    const dir = path.join(root, 'last');
    await saveCheckpoint(dir, data(7));
    expect(await hasCheckpoint(dir)).toBe(true);
    const back = await loadCheckpoint(dir);
    const want = data(7);
    expect(back.weights.map((w) => [w.name, w.shape, w.dtype, Array.from(w.values)])).toEqual(
      want.weights.map((w) => [w.name, w.shape, w.dtype, Array.from(w.values)]),
    );
    expect(Object.is(back.weights[2]!.values[1], -0)).toBe(true);
    expect(back.weights[1]!.values).toBeInstanceOf(Int32Array);
    expect(back.optimizer!.config).toEqual(want.optimizer!.config);
    expect(back.optimizer!.steps).toEqual(want.optimizer!.steps);
    expect(Array.from(back.optimizer!.slots[0]!.values)).toEqual(Array.from(want.optimizer!.slots[0]!.values));
    expect(back.state).toEqual(want.state);
    expect(back.lockJson).toBe(want.lockJson);
    expect((await fs.readdir(root)).sort()).toEqual(['last']);
  });

  it('a crash in the middle of writing keeps the previous complete checkpoint', async () => {
    const dir = path.join(root, 'last');
    await saveCheckpoint(dir, data(1));
    let written = 0;
    const crashing = async (file: string, bytes: Uint8Array | string) => {
      if (written === 2) throw new Error('simulated crash while writing ' + path.basename(file));
      written++;
      await writeFileSynced(file, bytes);
    };
    await expect(saveCheckpoint(dir, data(2), { writeFile: crashing })).rejects.toThrow(/simulated crash/);
    expect(written).toBe(2); // two files of the new checkpoint did reach the disk (in the temp dir)
    const back = await loadCheckpoint(dir);
    expect(back.state).toEqual(data(1).state);
    expect(Array.from(back.weights[0]!.values)).toEqual(Array.from(data(1).weights[0]!.values));
    expect(back.lockJson).toBe(data(1).lockJson);
  });

  it('a crash in every possible file position never damages the previous checkpoint', async () => {
    const dir = path.join(root, 'last');
    await saveCheckpoint(dir, data(1));
    for (let crashAt = 0; crashAt < 6; crashAt++) {
      let n = 0;
      const crashing = async (file: string, bytes: Uint8Array | string) => {
        if (n++ === crashAt) {
          // Half a file, as a power loss would leave it.
          await fs.writeFile(file, typeof bytes === 'string' ? bytes.slice(0, 3) : bytes.subarray(0, 3));
          throw new Error('crash');
        }
        await writeFileSynced(file, bytes);
      };
      await expect(saveCheckpoint(dir, data(2), { writeFile: crashing })).rejects.toThrow('crash');
      expect((await loadCheckpoint(dir)).state).toEqual(data(1).state);
    }
  });

  it('recovers from a crash between the renames (only <dir>.old left) and removes temp dirs', async () => {
    const dir = path.join(root, 'last');
    await saveCheckpoint(dir, data(3));
    await fs.rename(dir, `${dir}.old`); // the state after "rename old away", before "rename new into place"
    await fs.mkdir(`${dir}.tmp-99999`);
    await fs.writeFile(path.join(`${dir}.tmp-99999`, 'weights.bin'), 'partial');
    expect(await hasCheckpoint(dir)).toBe(false);
    await recoverCheckpointDir(dir);
    expect((await loadCheckpoint(dir)).state).toEqual(data(3).state);
    expect((await fs.readdir(root)).sort()).toEqual(['last']);
  });

  it('recovery removes a stale .old beside a complete checkpoint', async () => {
    const dir = path.join(root, 'last');
    await saveCheckpoint(dir, data(4));
    await saveCheckpoint(`${dir}.old`, data(3));
    await recoverCheckpointDir(dir);
    expect((await loadCheckpoint(dir)).state).toEqual(data(4).state);
    expect((await fs.readdir(root)).sort()).toEqual(['last']);
  });

  it('a damaged checkpoint is a one-line TdcError, not a stack trace', async () => {
    const dir = path.join(root, 'last');
    await saveCheckpoint(dir, data(5));
    await fs.truncate(path.join(dir, 'weights.bin'), 10);
    const err = await loadCheckpoint(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TdcError);
    expect((err as Error).message).toMatch(/weights\.bin is truncated/);
    expect((err as Error).message).not.toContain('\n');
    await fs.rm(path.join(dir, 'state.json'));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/state\.json is missing/);
  });
});
