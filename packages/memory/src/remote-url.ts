/**
 * The `redis://…` and `postgres://…` settings of the `index` and `leases`
 * options: parsed and checked once at the boundary (a typo is a
 * `LARDER_OPTION` error when the Memory is made, not a warning later), and the
 * per-location namespace that scopes larder's keys and rows on a server that
 * other programs (BullMQ, other caches) and other locations share.
 *
 * Namespace. By default it is derived from the location: the first 16 hex
 * digits of SHA-256 over the location's absolute path (or its URL), so every
 * process and machine that names the location the same way shares one
 * namespace. Machines that mount a shared folder at different paths name it
 * with `?namespace=NAME` on the URL (letters, digits, `.`, `_`, `-`).
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { MemoryError } from './errors.js';

/** What the `index` option takes as a string, for messages. */
export const INDEX_URIS = '"redis://…", "postgres://…" or "sqlite://path" (or an IndexStore or a keyv instance)';

/** Which server a URL names. */
export type RemoteKind = 'redis' | 'postgres';

/** A checked `redis://` or `postgres://` setting. */
export interface RemoteUrl {
  kind: RemoteKind;
  /** The connection URL without larder's own `namespace` parameter (what the driver receives). */
  url: string;
  /** `?namespace=` when given; otherwise derived from the location ({@link namespaceOf}). */
  namespace: string | undefined;
  /** The URL with any password replaced by `***`, for messages. */
  display: string;
}

const SCHEMES: Record<string, RemoteKind> = { 'redis:': 'redis', 'rediss:': 'redis', 'postgres:': 'postgres', 'postgresql:': 'postgres' };
const NAMESPACE = /^[A-Za-z0-9._-]{1,100}$/;

/** A URL with its password hidden. */
function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  return copy.href;
}

/**
 * Parses the `index` or `leases` option string `value` (`what` names the option in errors).
 * Returns undefined for a string of another scheme (the caller handles `sqlite://`).
 */
export function parseRemoteUrl(value: string, what: string): RemoteUrl | undefined {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(value)?.[0].toLowerCase();
  const kind = scheme === undefined ? undefined : SCHEMES[scheme];
  if (kind === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new MemoryError('LARDER_OPTION', `${what} must be a valid ${kind} URL such as "${kind === 'redis' ? 'redis://host:6379/0' : 'postgres://user@host:5432/db'}", got ${JSON.stringify(value)}`, { cause: error });
  }
  if (url.hostname === '') throw new MemoryError('LARDER_OPTION', `${what} must name a host, got ${JSON.stringify(redact(url))}`);
  if (kind === 'redis' && url.pathname !== '' && url.pathname !== '/' && !/^\/\d+$/.test(url.pathname)) {
    throw new MemoryError('LARDER_OPTION', `${what}: the path of a Redis URL is the database number (redis://host:6379/0), got ${JSON.stringify(url.pathname)}`);
  }
  // A parameter nobody reads is a mistake: a misspelt namespace would give this machine a namespace of
  // its own (a cache not shared, without a word). Redis takes none but namespace; PostgreSQL passes
  // its own (sslmode, application_name...) to pg, so there only namespace's near-misses are refused.
  const names = [...url.searchParams.keys()];
  if (names.filter((name) => name === 'namespace').length > 1) throw new MemoryError('LARDER_OPTION', `${what}: namespace is given more than once in ${JSON.stringify(redact(url))}`);
  for (const name of names) {
    if (name === 'namespace') continue;
    if (kind === 'redis') throw new MemoryError('LARDER_OPTION', `${what}: a Redis URL takes no parameter but namespace, got ${JSON.stringify(name)} in ${JSON.stringify(redact(url))}`);
    if (editDistance(name.toLowerCase(), 'namespace') <= 2) throw new MemoryError('LARDER_OPTION', `${what}: unknown parameter ${JSON.stringify(name)} (namespace?) in ${JSON.stringify(redact(url))}`);
  }
  let namespace: string | undefined;
  if (url.searchParams.has('namespace')) {
    namespace = url.searchParams.get('namespace') ?? '';
    if (!NAMESPACE.test(namespace)) {
      throw new MemoryError('LARDER_OPTION', `${what}: namespace must be 1 to 100 of [A-Za-z0-9._-], got ${JSON.stringify(namespace)}`);
    }
    url.searchParams.delete('namespace');
  }
  return { kind, url: url.href, namespace, display: redact(url) };
}

/**
 * `url` as a checked {@link RemoteUrl} of `kind` (a store's own `url` option: a string is parsed
 * and checked like the Memory options; `?namespace=` in it is ignored, the store takes `namespace`).
 */
export function remoteOf(url: string | RemoteUrl, kind: RemoteKind, what: string): RemoteUrl {
  if (typeof url !== 'string') return url;
  const remote = parseRemoteUrl(url, what);
  if (remote?.kind !== kind) throw new MemoryError('LARDER_OPTION', `${what} must be a ${kind === 'redis' ? '"redis://…" or "rediss://…"' : '"postgres://…" or "postgresql://…"'} URL, got ${JSON.stringify(url)}`);
  return remote;
}

/** `namespace` when it is 1 to 100 of [A-Za-z0-9._-] (a store's `namespace` option); otherwise a LARDER_OPTION error. */
export function checkNamespace(namespace: unknown, what: string): string {
  if (typeof namespace === 'string' && NAMESPACE.test(namespace)) return namespace;
  throw new MemoryError('LARDER_OPTION', `${what} namespace must be 1 to 100 of [A-Za-z0-9._-], got ${typeof namespace === 'string' ? JSON.stringify(namespace) : String(namespace)}`);
}

/**
 * The namespace of a location: `?namespace=` when given, else a digest of the location
 * (an absolute folder path, or a URL such as `s3://bucket/prefix`, taken as it is).
 */
export function namespaceOf(remote: RemoteUrl, location: string): string {
  if (remote.namespace !== undefined) return remote.namespace;
  const id = /^[a-z][a-z0-9+.-]*:\/\//i.test(location) ? location : resolve(location);
  return createHash('sha256').update(id).digest('hex').slice(0, 16);
}

/**
 * Imports an optional peer dependency on first use. A missing one is a
 * `LARDER_MISSING_DRIVER` error saying what to install.
 */
export async function loadDriver<T>(name: '@keyv/redis' | 'pg', use: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new MemoryError('LARDER_MISSING_DRIVER', `${use} needs the optional package ${name}, which is not installed: npm install ${name}`, { cause: error });
  }
}

/** Levenshtein distance between two short strings. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}
