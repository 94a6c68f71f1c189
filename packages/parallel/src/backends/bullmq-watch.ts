/**
 * The fallback for a lost BullMQ event. A pool learns that a batch finished
 * from QueueEvents' "completed"/"failed" events, read from a Redis stream.
 * An event can be lost: the stream is trimmed (BullMQ keeps ~10,000 events;
 * a busy queue shared by many pools passes that quickly), Redis restarts
 * without its data, or the events connection dies silently (a NAT or a
 * proxy dropping it) and nothing ever arrives. Waiting for the event alone,
 * the call would then hang forever.
 *
 * So a batch that has heard nothing for a while asks Redis for its job's
 * state, first after FIRST_CHECK_MS, then at doubling intervals up to
 * MAX_CHECK_MS (a long batch costs one small request a minute): completed or
 * failed settles it from the job itself (its return value or failure
 * reason), a job that is gone is an error naming the likely cause, and one
 * still waiting or running is asked again later. The jobs stay in Redis
 * after they finish until the pool has read them (see bullmq.ts).
 */
import type { Job, Queue } from 'bullmq';

/** The first look at a silent batch's job. */
export const FIRST_CHECK_MS = 3_000;
/** The longest wait between two looks. */
export const MAX_CHECK_MS = 60_000;
/** How often the watch wakes to see whether a batch is due a look. */
const TICK_MS = 500;

/** A job added and not yet answered, as the backend keeps it. */
export interface WatchedJob {
  resolve(returnvalue: unknown): void;
  reject(error: Error): void;
  /** When to look at the job's state next (ms since the epoch); unset until the job is added. */
  checkAtMs?: number;
  /** The wait before the look after the next one. */
  waitMs?: number;
  /** A look is under way. */
  checking?: boolean;
}

export interface JobWatchOptions {
  queue: Queue;
  /** bullmq's Job class (bullmq is loaded on first use). */
  Job: typeof Job;
  /** The backend's jobs not yet answered, by job id. */
  pending: Map<string, WatchedJob>;
  /** The error of a job that failed outside its tasks (the same as for a "failed" event). */
  failure(jobId: string, reason: string): Error;
  /** The error of a job that is gone from Redis unanswered. */
  gone(jobId: string): Error;
}

export class JobWatch {
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: JobWatchOptions) {}

  /** Starts watching `jobId` (once it is added: a job not yet added has no state to ask). */
  added(jobId: string): void {
    const job = this.options.pending.get(jobId);
    if (job === undefined) return;
    job.checkAtMs = Date.now() + FIRST_CHECK_MS;
    job.waitMs = FIRST_CHECK_MS;
    // Unref'd: the pool's Redis connections keep the process alive while a call waits, not this timer.
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS).unref();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const { pending } = this.options;
    if (pending.size === 0) return this.close();
    const now = Date.now();
    for (const [jobId, job] of pending) {
      if (job.checkAtMs !== undefined && job.checkAtMs <= now && !job.checking) void this.#look(jobId, job);
    }
  }

  /** Asks the job's state and settles the batch from it, or plans the next look. */
  async #look(jobId: string, job: WatchedJob): Promise<void> {
    const { queue, Job, failure, gone } = this.options;
    job.checking = true;
    try {
      const state = await queue.getJobState(jobId);
      if (state === 'completed' || state === 'failed') {
        const found = await Job.fromId(queue, jobId);
        if (found === undefined) job.reject(gone(jobId));
        else if (state === 'completed') job.resolve(found.returnvalue);
        else job.reject(failure(jobId, found.failedReason));
        return;
      }
      if (state === 'unknown') {
        job.reject(gone(jobId));
        return;
      }
    } catch {
      // Redis unreachable now (restarting?): looked at again later, like a job still running.
    } finally {
      job.checking = false;
    }
    job.waitMs = Math.min((job.waitMs ?? FIRST_CHECK_MS) * 2, MAX_CHECK_MS);
    job.checkAtMs = Date.now() + job.waitMs;
  }
}
