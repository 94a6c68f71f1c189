/**
 * The options of backend 'bullmq' (`connection`, `queue`, `store`, `s3`) and of
 * `larder-worker` (`--connection`, `--queue`): one validation for both
 * sides, so a queue name or Redis URL the caller accepts is one a worker
 * accepts too.
 */
import { openStore, type BlobStore, type S3Options } from '@larder/store-fs';
import { badOption, ParallelError } from './errors.js';

/**
 * ioredis connection options (the subset larder reads; any other ioredis
 * option passes through to BullMQ as it is).
 */
export interface RedisConnection {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** TLS options (node:tls); `{}` for TLS with the defaults. */
  tls?: object;
  [option: string]: unknown;
}

/** backend 'bullmq' after validation. */
export interface RemoteSettings {
  connection: RedisConnection;
  queue: string;
  store: BlobStore | undefined;
  /** Where workers open `store`: a folder path or 's3://bucket/prefix'. */
  storeLocation: string | undefined;
}


/** BullMQ keeps its keys under `bull:<queue>:`; a ':' would make a name that reads as two. */
const QUEUE_NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** A queue name, checked. `name` says which option or flag it came from. */
export function checkQueueName(name: string, queue: unknown): string {
  if (typeof queue !== 'string' || !QUEUE_NAME.test(queue)) badOption(name, 'a queue name of letters, digits, ".", "_" and "-" (at most 200)', queue);
  return queue as string;
}

/**
 * A Redis URL (`redis://[user:password@]host[:port][/db]`, `rediss://` for
 * TLS) or ioredis options, as ioredis options.
 */
export function redisConnection(name: string, connection: unknown): RedisConnection {
  if (typeof connection === 'string') {
    let url: URL;
    try {
      url = new URL(connection);
    } catch {
      return badOption(name, "a Redis URL such as 'redis://127.0.0.1:6379' or ioredis options", connection);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return badOption(name, "a redis:// or rediss:// URL, or ioredis options", connection);
    // Nothing reads a query or fragment: '?tls=true' connected in plain text, '?family=6' over IPv4, without a word.
    if (url.search !== '' || url.hash !== '') return badOption(name, 'a Redis URL without parameters (redis://[user:password@]host[:port][/db], rediss:// for TLS; pass other settings as ioredis options)', connection);
    const options: RedisConnection = { host: url.hostname || '127.0.0.1', port: url.port ? Number(url.port) : 6379 };
    if (url.username) options.username = decodeURIComponent(url.username);
    if (url.password) options.password = decodeURIComponent(url.password);
    const db = url.pathname.replace(/^\//, '');
    if (db !== '') {
      if (!/^\d+$/.test(db)) return badOption(name, 'a Redis URL whose path is a database number (redis://host:6379/0)', connection);
      options.db = Number(db);
    }
    if (url.protocol === 'rediss:') options.tls = {};
    return options;
  }
  if (connection === null || typeof connection !== 'object' || Array.isArray(connection)) return badOption(name, "a Redis URL such as 'redis://127.0.0.1:6379' or ioredis options", connection);
  return { ...(connection as RedisConnection) };
}

/** How a Redis connection reads in messages (never its password). */
export function describeConnection(connection: RedisConnection): string {
  return `redis://${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}${connection.db ? `/${connection.db}` : ''}`;
}

/** Validates `connection`, `queue` and `store`: required by backend 'bullmq', refused by the others. */
export function resolveRemoteSettings(options: { connection?: unknown; queue?: unknown; store?: unknown; s3?: unknown }, backend: string): RemoteSettings | undefined {
  if (backend !== 'bullmq') {
    for (const key of ['connection', 'queue', 'store', 's3'] as const) {
      if (options[key] !== undefined) throw new ParallelError('LARDER_OPTION', `${key} is an option of backend 'bullmq'; backend '${backend}' runs tasks on this machine and takes none`);
    }
    return undefined;
  }
  if (options.connection === undefined) badOption('connection', "a Redis URL such as 'redis://127.0.0.1:6379' or ioredis options with backend 'bullmq'", undefined);
  if (options.queue === undefined) badOption('queue', "the name of the queue the larder-worker processes serve, with backend 'bullmq'", undefined);
  const connection = redisConnection('connection', options.connection);
  const queue = checkQueueName('queue', options.queue);
  let store: BlobStore | undefined;
  if (options.store !== undefined) {
    if (typeof options.store !== 'string' && (options.store === null || typeof options.store !== 'object')) badOption('store', "a folder path, 's3://bucket/prefix' or a BlobStore", options.store);
    if (options.s3 !== undefined && (options.s3 === null || typeof options.s3 !== 'object')) badOption('s3', 'an object of S3 settings (endpoint, region, credentials, forcePathStyle, …)', options.s3);
    if (options.s3 !== undefined && !(typeof options.store === 'string' && /^s3:\/\//i.test(options.store))) badOption('s3', "S3 settings with an 's3://bucket/prefix' store", options.s3);
    store = openStore(options.store as string | BlobStore, { s3: options.s3 as S3Options | undefined });
  } else if (options.s3 !== undefined) badOption('s3', "S3 settings with an 's3://bucket/prefix' store", options.s3);
  return { connection, queue, store, storeLocation: store && storeLocation(store) };
}

/**
 * Where a worker on another machine opens `store`: read from its
 * description (`folder /path`, `s3://bucket/prefix`), the one member every
 * BlobStore has that says where its values are.
 */
function storeLocation(store: BlobStore): string {
  const folder = /^folder (\/.*)$/.exec(store.description);
  if (folder) return folder[1]!;
  if (/^s3:\/\/[^\s]+$/i.test(store.description)) return store.description;
  throw new ParallelError(
    'LARDER_OPTION',
    `store: larder-worker processes open the store by its location, and this BlobStore's description (${JSON.stringify(store.description)}) names none ('folder /path' or 's3://bucket/prefix'). Pass a folder path every worker reaches or an s3:// location.`,
  );
}
