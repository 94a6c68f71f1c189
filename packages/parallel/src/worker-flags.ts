/**
 * The Node flags and the TypeScript loader a pool's workers start with.
 *
 * Workers get the parent's flags minus three kinds:
 * - flags `new Worker()` rejects (per-process options such as `--title`, and
 *   V8 options such as `--max-old-space-size`, `--stack-size`, `--expose-gc`):
 *   V8 options are process-wide, so workers already run under them (a parent
 *   started with `--max-old-space-size=8192` gives its workers the same heap
 *   limit, and `gc` where the parent has it) and nothing is lost by dropping
 *   them. Which flags Node rejects is learnt from Node itself (the
 *   `ERR_WORKER_INVALID_EXEC_ARGV` error names them), not from a list that
 *   would age with each Node release;
 * - tsx's own preloads: on Node 20 their hooks do not reach worker threads,
 *   yet loading them costs each worker hundreds of ms at start; a worker
 *   registers tsx itself when it needs it;
 * - Node's built-in export conditions given as user conditions
 *   (`--conditions=import`, as vitest's forks run): forced on every
 *   resolution, they make `require()` pick ESM entry points, and under tsx a
 *   `require()` of a JSON file then goes through tsx's ESM transform.
 *   Custom conditions (`--conditions=larder-source`) are kept.
 */

/** Conditions Node sets by itself for each kind of resolution. */
const BUILT_IN_CONDITIONS = new Set(['import', 'require', 'node', 'default', 'module-sync', 'node-addons']);
const PRELOAD = /^(?:--(?:require|import|loader|experimental-loader)|-r)$/;
const PRELOAD_INLINE = /^--(?:require|import|loader|experimental-loader)=/;
const TSX_PATH = /(?:^tsx(?:\/|$))|[/\\]tsx[/\\]/;
const CONDITION = /^(?:--conditions|-C)$/;
const CONDITION_INLINE = /^(?:--conditions|-C)=(.*)$/;

/**
 * The parent's flags a worker needs: `execArgv` without tsx's preloads and
 * without built-in conditions. Flags Node rejects in workers are removed
 * later, by {@link withoutRejectedFlags}, from Node's own report.
 */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]!;
    const next = execArgv[i + 1];
    if (PRELOAD.test(flag) && next !== undefined && TSX_PATH.test(next)) {
      i++;
      continue;
    }
    if (PRELOAD_INLINE.test(flag) && TSX_PATH.test(flag.slice(flag.indexOf('=') + 1))) continue;
    if (CONDITION.test(flag) && next !== undefined) {
      i++;
      if (!BUILT_IN_CONDITIONS.has(next)) out.push(flag, next);
      continue;
    }
    const inline = CONDITION_INLINE.exec(flag);
    if (inline && BUILT_IN_CONDITIONS.has(inline[1]!)) continue;
    out.push(flag);
  }
  return out;
}

/** Whether the parent runs tsx's loader (the `tsx` CLI, `--import tsx`, `--require tsx/cjs`...). */
export function parentUsesTsx(execArgv: readonly string[]): boolean {
  return execArgv.some((flag, i) => (PRELOAD.test(flag) && TSX_PATH.test(execArgv[i + 1] ?? '')) || (PRELOAD_INLINE.test(flag) && TSX_PATH.test(flag.slice(flag.indexOf('=') + 1))));
}

/**
 * The flags named by an `ERR_WORKER_INVALID_EXEC_ARGV` error
 * ("Initiated Worker with invalid execArgv flags: --a=1, --b"), or none when
 * the message is not that one.
 */
export function rejectedFlags(error: unknown): string[] {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return [];
  const listed = /flags:\s*(.+)$/s.exec((error as Error).message)?.[1];
  return listed ? listed.split(/,\s*/).map((flag) => flag.trim()).filter(Boolean) : [];
}

/**
 * `execArgv` without the flags Node reported as rejected. A reported flag
 * written without `=` takes the next element with it when that element is
 * its value (execArgv holds only options and their values, so an element
 * not starting with `-` after an option is that option's value).
 */
export function withoutRejectedFlags(execArgv: readonly string[], rejected: readonly string[]): string[] {
  const names = new Set(rejected.map((flag) => flag.split('=')[0]!));
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]!;
    if (!rejected.includes(flag) && !names.has(flag.split('=')[0]!)) {
      out.push(flag);
      continue;
    }
    const next = execArgv[i + 1];
    if (!flag.includes('=') && next !== undefined && !next.startsWith('-')) i++;
  }
  return out;
}

const accepted = new Map<string, string[]>();

/**
 * Calls `start(flags)` (which creates the workers and throws Node's
 * `ERR_WORKER_INVALID_EXEC_ARGV` when a flag is refused) with `execArgv`,
 * dropping what Node reports as rejected and trying again. Node reports
 * several flags at once, but stops at the first per-process option written
 * without `=`, hence the loop. What was accepted is remembered for the
 * process, so later pools start at once.
 */
export function startWithAcceptedFlags<T>(execArgv: readonly string[], start: (flags: string[]) => T): T {
  const key = execArgv.join('\0');
  let flags = accepted.get(key) ?? [...execArgv];
  for (;;) {
    try {
      const started = start(flags);
      accepted.set(key, flags);
      return started;
    } catch (error) {
      const rejected = rejectedFlags(error);
      const next = withoutRejectedFlags(flags, rejected);
      // No progress: not a flag problem, or one we cannot name; let it surface.
      if (next.length === flags.length) throw error;
      flags = next;
    }
  }
}

/** How workers import TypeScript task modules: through tsx, or natively. */
export type WorkerTypeScript = 'tsx' | 'native';

const TYPESCRIPT_FILE = /\.(?:ts|mts|cts)$/;

/** Whether this is Deno or Bun, which run TypeScript natively and ignore Node's flags. */
export function isDenoOrBun(): boolean {
  return 'deno' in process.versions || 'bun' in process.versions;
}

/**
 * The loader workers use for TypeScript: the parent's. A function's text is
 * part of its cache identity, and tsx's output differs from native type
 * stripping's, so a parent under tsx and workers stripping types natively
 * would never share cache entries. Workers strip types natively when the
 * parent does: Deno, Bun, or Node with type stripping (22.18+, 23.6+, or
 * `--experimental-strip-types`) running a TypeScript entry script without tsx.
 * Anything else (tsx, vitest, a .js entry) keeps tsx in the workers.
 */
export function workerTypeScript(execArgv: readonly string[] = process.execArgv, entry: string | undefined = process.argv[1]): WorkerTypeScript {
  if (isDenoOrBun()) return 'native';
  if (parentUsesTsx(execArgv)) return 'tsx';
  const stripsTypes = Boolean((process.features as { typescript?: unknown }).typescript);
  return stripsTypes && entry !== undefined && TYPESCRIPT_FILE.test(entry) ? 'native' : 'tsx';
}
