/**
 * What a cached function says: joblib's verbose lines (Calling, the
 * underscore-padded done line, Loading, "function changed") and its warnings
 * (a corrupt or unreadable entry, a result not stored, a location that is not
 * a cache), each kind once per function (the Memory's rule).
 */
import { MemoryWarning, type MemoryErrorCode } from './errors.js';
import type { FunctionIdentity } from './key.js';
import { callingLines, doneLine, loadingLine } from './verbose.js';
import type { WarnOnce } from './cache-location.js';

/** Where a cached function's words go: the Memory's log and its once-per-kind warnings. */
export interface ReportSink {
  warn: WarnOnce;
  log(message: string): void;
  /** performance.now() when the Memory was created: joblib's Loading lines count from it. */
  createdAt: number;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class CallReporter {
  constructor(
    private readonly identity: FunctionIdentity,
    readonly verbose: number,
    private readonly sink: ReportSink,
    /** False for a pass-through Memory, which prints nothing (as joblib's NotMemorizedFunc). */
    private readonly talks: boolean,
  ) {}

  /** The `[Memory] Calling name(args)` lines before a computation. */
  calling(argsText: string): void {
    if (this.talks && this.verbose >= 1) this.sink.log(callingLines(this.identity.name, argsText));
  }

  /** The `name - 0.1s, 0.0min` line after a computation. */
  done(computeMs: number): void {
    if (this.talks && this.verbose >= 1) this.sink.log(doneLine(this.identity.name, computeMs));
  }

  /** The Loading line of a hit (verbose >= 2; the file's path from 10). */
  loading(argsText: string, path: () => string): void {
    if (this.verbose < 2) return;
    this.sink.log(loadingLine(this.identity.name, argsText, performance.now() - this.sink.createdAt, this.verbose >= 10 ? path() : undefined));
  }

  /** At verbose >= 1: other bodies of this name have entries, which are kept. */
  changed(others: { bodies: number; entries: number }): void {
    if (others.bodies === 0) return;
    const { bodies, entries } = others;
    this.sink.log(`[Memory] Function ${this.identity.name} has changed since it was cached (its source or version): computing its own entries; the ${entries} ${entries === 1 ? 'entry' : 'entries'} of ${bodies} other ${bodies === 1 ? 'body' : 'bodies'} are kept`);
  }

  /** The location is not a larder cache: calls compute and store nothing. */
  refused(refusal: Error): void {
    this.sink.warn('location', new MemoryWarning('LARDER_NOT_A_CACHE', `${refusal.message.replace(/^\[larder\/memory\] /, '')} Cached functions compute their results and store nothing there.`, { cause: refusal }));
  }

  /** A computed result that was returned without being stored. */
  notStored(error: unknown, why: 'unsupported' | 'io' | 'path'): void {
    // An 'io' failure without a system error code is not the disk's: a getter of the result or a
    // Proxy's trap threw while it was encoded, or a remote store refused it. Say only what is known.
    const systemError = typeof (error as { code?: unknown } | null)?.code === 'string' && /^E[A-Z]+$/.test((error as { code: string }).code);
    const what = why === 'unsupported' ? 'cannot be stored (store-fs takes plain data: objects, arrays, Map, Set, typed arrays, Date, bigint...)'
      : why === 'path' ? 'could not be written'
        : systemError ? 'could not be written (disk full, read-only location or permissions?)' : 'could not be stored';
    this.warn('LARDER_NOT_STORED', `the result of ${this.identity.name} ${what}; it was returned without caching. ${messageOf(error)}`, error);
  }

  /** At verbose >= 1: another writer stored the entry first (a store shared by machines); theirs stays. */
  lostRace(key: string, replacing: boolean): void {
    if (!this.talks || this.verbose < 1) return;
    const what = replacing ? 'was replaced or removed by another writer while this call computed' : 'was stored by another writer while this call computed';
    this.sink.log(`[Memory] ${this.identity.name}: the entry ${key} ${what}; that entry stays, and this call returns its own result`);
  }

  /** An entry that exists but cannot be used: `unreadable` (left as it is) or corrupt (recomputed and overwritten). */
  badEntry(key: string, error: unknown, unreadable: boolean): void {
    if (unreadable) {
      const code = (error as { code?: unknown }).code;
      const why = typeof code === 'string' ? code : 'an I/O error';
      const hint = code === 'EMFILE' || code === 'ENFILE' ? ' Too many files are open: close MappedArrays you no longer need, or raise the limit (ulimit -n).' : '';
      this.warn('LARDER_ENTRY_UNREADABLE', `the cached result ${key} of ${this.identity.name} could not be read (${why}); the call computed its value and the entry was left as it is.${hint} ${messageOf(error)}`, error);
      return;
    }
    this.warn('LARDER_ENTRY_CORRUPT', `the cached result ${key} of ${this.identity.name} is corrupt or unreadable; it is treated as a miss, recomputed and overwritten. ${messageOf(error)}`, error);
  }

  private warn(code: MemoryErrorCode, message: string, cause: unknown): void {
    this.sink.warn(this.identity.folder, new MemoryWarning(code, message, { cause }));
  }
}
