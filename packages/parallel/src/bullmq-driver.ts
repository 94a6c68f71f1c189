/**
 * BullMQ, an optional peer dependency, loaded on first use by a 'bullmq'
 * pool or a larder-worker: a missing package is a LARDER_MISSING_DRIVER
 * error saying what to install, not an import failure at startup.
 */
import { ParallelError } from './errors.js';

export type BullMQ = typeof import('bullmq');

let loading: Promise<BullMQ> | undefined;

/** The bullmq module; rejects with LARDER_MISSING_DRIVER when it is not installed. */
export function loadBullmq(): Promise<BullMQ> {
  return (loading ??= import('bullmq').catch((cause: unknown) => {
    loading = undefined;
    const code = (cause as { code?: unknown } | null)?.code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw cause;
    throw new ParallelError('LARDER_MISSING_DRIVER', "backend 'bullmq' and larder-worker need the bullmq package (with ioredis): npm i bullmq ioredis", { cause });
  }));
}

/** Redis pub/sub channel on which pools tell workers that a call stopped (its running batches should stop). */
export function cancelChannel(queue: string): string {
  return `larder:${queue}:cancel`;
}
