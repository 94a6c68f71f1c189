/**
 * A wake-up signal between one waiting loop and whatever feeds it (the
 * dispatch loop and finished batches; iterate()'s consumer and delivered
 * results). A wake() that comes while the loop is busy is remembered, so the
 * loop's next wait() returns at once instead of sleeping through it; many
 * wakes before a wait() count as one, since the loop re-reads all its state
 * each time round.
 */

const AWAKE: Promise<void> = Promise.resolve();

/** One waiter, any number of wakers. */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  /** Wakes the waiting loop, or the next wait() if the loop is busy. */
  wake(): void {
    const resolve = this.#resolve;
    if (resolve === undefined) {
      this.#pending = true;
      return;
    }
    this.#resolve = undefined;
    resolve();
  }

  /** Resolves at the next wake(), or at once if one came since the last wait(). */
  wait(): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return AWAKE;
    }
    return new Promise<void>((resolve) => (this.#resolve = resolve));
  }
}
