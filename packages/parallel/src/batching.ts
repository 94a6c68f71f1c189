/**
 * Batch sizes. A message to a worker and back costs tens of microseconds,
 * so tiny tasks must travel in batches; large batches, though, balance
 * badly across workers and delay results. 'auto' follows joblib's scheme
 * (measure each batch, aim for a duration window) with a window suited to
 * threads instead of processes: joblib aims for 0.2–2 s because a process
 * round trip costs milliseconds; a thread round trip here costs ~50 µs, so
 * batches of 2–20 ms keep messaging under ~2 % of the time while staying
 * small enough to balance. See README for the measurements.
 */

import type { BatchWindow } from './backends/backend.js';

/** Batches faster than `min` ms grow, slower than `max` shrink, a resized batch aims at `target`. */
const THREADS_WINDOW: BatchWindow = { min: 2, max: 20, target: 5 };
/** Largest growth in one step: early timings of tiny batches are noisy. */
const MAX_GROWTH = 100;

/** Chooses the size of each batch. */
export class Batcher {
  #size: number;
  readonly #auto: boolean;

  constructor(
    setting: 'auto' | number,
    readonly workers: number,
    tune: boolean,
    readonly window: BatchWindow = THREADS_WINDOW,
  ) {
    this.#auto = setting === 'auto' && tune;
    this.#size = setting === 'auto' ? 1 : setting;
  }

  /** Size of the next batch; `remaining` (when known) caps it so the last batches spread over every worker. */
  next(remaining: number | undefined): number {
    if (!this.#auto || remaining === undefined) return this.#size;
    return Math.max(1, Math.min(this.#size, Math.ceil(remaining / (2 * this.workers))));
  }

  /** Feeds back how long a batch of `size` tasks took. */
  record(size: number, durationMs: number): void {
    // Only batches of the current size say something about it (joblib does
    // the same): older, smaller batches are still arriving after a resize.
    if (!this.#auto || size !== this.#size) return;
    const { min, max, target } = this.window;
    if (durationMs < min) {
      const factor = durationMs > 0 ? target / durationMs : MAX_GROWTH;
      this.#size = Math.max(size + 1, Math.floor(size * Math.min(MAX_GROWTH, factor)));
    } else if (durationMs > max) {
      this.#size = Math.max(1, Math.floor((size * target) / durationMs));
    }
  }
}
