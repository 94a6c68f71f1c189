/**
 * TypeScript task modules stripped once, by the pool, for all its workers.
 *
 * Where Node strips types natively (22.18+, 23.6+), a worker's first import of
 * a `.ts` file initialises Node's type stripper (amaro, SWC compiled to wasm):
 * 60–100 ms of CPU in every worker, most of a pool's cold start. The parent
 * has that stripper running already (it imported the task module itself), so
 * it strips the task module once with `module.stripTypeScriptTypes` and sends
 * the JavaScript with the first batches; each worker serves it to its module
 * loader through a `module.registerHooks` load hook, and never starts a
 * stripper of its own.
 *
 * The text a worker runs is byte for byte what Node's loader would have made
 * of the file: the same stripper in the same mode ('strip': types become
 * whitespace), with the `//# sourceURL=` line the loader appends. A
 * function's text is part of its cache identity, so this is what keeps
 * `memory.cache()` entries shared between the parent and the workers. The
 * hook serves a source only when the file the worker's loader reads is the
 * one the parent stripped (a file changed since, or a format other than an
 * ES module, goes through Node's own stripper as before), and never under
 * node_modules, where Node refuses to strip types.
 */
import { fileURLToPath } from 'node:url';

/** A TypeScript module's text as read from disk, and the JavaScript Node's loader makes of it. */
export interface StrippedSource {
  source: string;
  js: string;
}

/** Stripped modules by file URL. */
export type StrippedSources = Record<string, StrippedSource>;

/** What this file needs of `node:module` beyond @types/node 20's declarations. */
interface ModuleApi {
  stripTypeScriptTypes?: (code: string, options: { mode: 'strip'; sourceUrl: string }) => string;
  registerHooks?: (hooks: { load: LoadHook }) => unknown;
}
type LoadResult = { format?: string | null; source?: string | ArrayBuffer | ArrayBufferView | null; shortCircuit?: boolean };
type LoadHook = (url: string, context: object, nextLoad: (url: string, context: object) => LoadResult) => LoadResult;

// Through getBuiltinModule: ES imports of node:module and node:fs run their lazy getters in every worker (entry-script.ts).
const moduleApi = process.getBuiltinModule('node:module') as unknown as ModuleApi;
const { readFileSync } = process.getBuiltinModule('node:fs');

/** `.ts` and `.mts` (Node strips neither `.tsx` nor anything under node_modules). */
const STRIPPABLE = /^file:\/\/(?!.*\/node_modules\/).*\.m?ts$/;
/** Relative imports of TypeScript files: `from './x.ts'`, `import './x.ts'`, `import('./x.ts')`. */
const RELATIVE_IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*(['"])(\.{1,2}\/[^'"\n]+?\.m?ts)\1/g;
/** Enough for any task module's own files; the rest load as before. */
const MAX_FILES = 64;

/** What this process stripped, by URL: a later pool over an unchanged file reads it but strips nothing. */
const strippedBefore = new Map<string, StrippedSource>();

/**
 * Whether this process can strip task modules for its workers: Node itself
 * (not Deno or Bun) stripping types in 'strip' mode, as its loader does when
 * neither `--experimental-transform-types` nor `--enable-source-maps` changes
 * the output, with `module.stripTypeScriptTypes` and `module.registerHooks`.
 */
export function canStripForWorkers(): boolean {
  if ('deno' in process.versions || 'bun' in process.versions) return false;
  if ((process.features as { typescript?: unknown }).typescript !== 'strip') return false;
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled) return false;
  return typeof moduleApi.stripTypeScriptTypes === 'function' && typeof moduleApi.registerHooks === 'function';
}

/**
 * The stripped sources of the TypeScript module at `moduleUrl` and of the
 * TypeScript files it imports by relative path, transitively. A file that
 * cannot be read or stripped is left out: the worker's own loader meets it
 * and reports it as it always did.
 */
export function stripForWorkers(moduleUrl: string): StrippedSources {
  const out: StrippedSources = {};
  const pending = [moduleUrl.replace(/[?#].*$/, '')];
  for (let url = pending.pop(); url !== undefined && Object.keys(out).length < MAX_FILES; url = pending.pop()) {
    if (url in out || !STRIPPABLE.test(url)) continue;
    let stripped: StrippedSource;
    try {
      // Decoded as the loader decodes a file (UTF-8, a byte order mark dropped).
      const source = new TextDecoder().decode(readFileSync(fileURLToPath(url)));
      const known = strippedBefore.get(url);
      stripped = known?.source === source ? known : { source, js: withoutExperimentalWarning(() => moduleApi.stripTypeScriptTypes!(source, { mode: 'strip', sourceUrl: url })) };
    } catch {
      continue;
    }
    strippedBefore.set(url, stripped);
    out[url] = stripped;
    for (const match of stripped.js.matchAll(RELATIVE_IMPORT)) pending.push(new URL(match[2]!, url).href);
  }
  return out;
}

/**
 * `module.stripTypeScriptTypes` warns that it is experimental, once per
 * process. The user asked for nothing experimental (their loader strips the
 * same way without a word), so larder's own call stays quiet; any other
 * warning passes.
 */
function withoutExperimentalWarning<T>(run: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const message = typeof warning === 'string' ? warning : warning.message;
    if (message.startsWith('stripTypeScriptTypes is an experimental feature')) return;
    return (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return run();
  } finally {
    process.emitWarning = emitWarning;
  }
}

const served = new Map<string, StrippedSource>();
let hooked = false;

/**
 * Worker side: this thread's loader takes the JavaScript in `sources`
 * instead of stripping those files itself (once the hook is registered,
 * loading any other module costs one Map lookup more).
 */
export function serveStrippedSources(sources: StrippedSources): void {
  for (const [url, stripped] of Object.entries(sources)) served.set(url, stripped);
  if (hooked) return;
  hooked = true;
  moduleApi.registerHooks!({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context);
      const stripped = served.get(url);
      if (!stripped || loaded.format !== 'module-typescript') return loaded;
      served.delete(url);
      // Only the file the parent stripped: one edited since is stripped here, as Node would.
      if (decode(loaded.source) !== stripped.source) return loaded;
      return { format: 'module', source: stripped.js, shortCircuit: true };
    },
  });
}

function decode(source: LoadResult['source']): string | undefined {
  if (typeof source === 'string') return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return new TextDecoder().decode(source as Uint8Array);
  return undefined;
}
