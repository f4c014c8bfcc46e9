/** Seeded weight initializers: every layer of a network draws its own seed from one base seed, never Math.random. */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../rng.js';

/** The kernel initializers tdc uses; both are fan-based, so the variance is right for any kernel rank. */
export type KernelInit = 'glorotUniform' | 'heNormal';

/** Builds a seeded tfjs initializer (its config carries the seed, so a saved layer re-initializes the same way). */
export function makeInitializer(kind: KernelInit, seed: number): ReturnType<typeof tf.initializers.zeros> {
  switch (kind) {
    case 'glorotUniform':
      return tf.initializers.glorotUniform({ seed });
    case 'heNormal':
      return tf.initializers.heNormal({ seed });
  }
}

/**
 * Hands out one seed per layer. Layers must not share a seed: identical seeds give identical (correlated) kernels
 * in layers of equal shape, which would make parallel branches start as copies of each other.
 */
export class SeedSequence {
  private readonly rng: Rng;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /** The next per-layer seed, a non-negative 31-bit integer (tfjs stringifies seeds for seedrandom). */
  next(): number {
    return this.rng.nextUint32() >>> 1;
  }
}
