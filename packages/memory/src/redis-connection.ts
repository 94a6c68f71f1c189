/**
 * One Redis connection of an index or lease store, through `@keyv/redis`
 * (loaded on first use; its `createClient` is node-redis's).
 *
 * Failing fast is the point: a cache must never make a call wait on a dead
 * server. The client connects on first use with a short connect timeout, never
 * queues commands while offline, and does not reconnect in the background;
 * the next command after a failure connects again, at most once per
 * {@link RETRY_AFTER_MS} (commands in between fail at once). The socket is
 * unref'd while idle, so an open index never keeps a script's process alive,
 * and ref'd while a command is under way, so a flush at `beforeExit` completes.
 */
import type { RedisClientType } from '@keyv/redis';
import { loadDriver, type RemoteUrl } from './remote-url.js';

type KeyvRedisModule = typeof import('@keyv/redis');

const CONNECT_TIMEOUT_MS = 2_000;
/** After a failed connect, commands fail at once for this long before the next attempt. */
const RETRY_AFTER_MS = 1_000;

/** Drops a client whatever state it is in (destroy() throws on one that never opened). */
function discard(client: RedisClientType | undefined): void {
  try {
    if (client?.isOpen) client.destroy();
  } catch {
    // closed already
  }
}

export class RedisConnection {
  private client: RedisClientType | undefined;
  private connecting: Promise<RedisClientType> | undefined;
  private downUntil = 0;
  private lastError: unknown;
  private busy = 0;

  constructor(readonly remote: RemoteUrl, private readonly use: string) {}

  /** The driver module (for stores that also build a keyv adapter on this connection). */
  driver(): Promise<KeyvRedisModule> {
    return loadDriver<KeyvRedisModule>('@keyv/redis', this.use);
  }

  /** A connected client, connecting if needed (see the module comment). */
  private async connected(): Promise<RedisClientType> {
    if (this.client?.isReady) return this.client;
    if (Date.now() < this.downUntil) throw new Error(`${this.use}: ${this.remote.display} is unreachable (${(this.lastError as Error)?.message ?? String(this.lastError)})`, { cause: this.lastError });
    this.connecting ??= (async () => {
      const { createClient } = await this.driver();
      // A client that failed or dropped is replaced: node-redis does not reconnect it (reconnectStrategy false).
      discard(this.client);
      const client = createClient({ url: this.remote.url, disableOfflineQueue: true, socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false } }) as RedisClientType;
      // Without a listener an 'error' event would throw in the process; the failing command reports it.
      client.on('error', (error: unknown) => void (this.lastError = error));
      this.client = client;
      try {
        await client.connect();
      } catch (error) {
        this.lastError = error;
        this.downUntil = Date.now() + RETRY_AFTER_MS;
        discard(client);
        throw new Error(`${this.use}: cannot connect to ${this.remote.display}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      }
      if (this.busy === 0) client.unref();
      return client;
    })().finally(() => void (this.connecting = undefined));
    return this.connecting;
  }

  /** Runs `work` with a connected client, holding the process open meanwhile. */
  async run<T>(work: (client: RedisClientType) => Promise<T>): Promise<T> {
    this.busy++;
    this.client?.ref();
    try {
      const client = await this.connected();
      client.ref();
      return await work(client);
    } finally {
      if (--this.busy === 0) this.client?.unref();
    }
  }

  /** One command; the raw reply (strings, numbers, arrays, null). */
  command(args: readonly string[]): Promise<unknown> {
    return this.run((client) => client.sendCommand(args as string[]) as Promise<unknown>);
  }

  /** Commands sent together (node-redis pipelines them: one round trip); their raw replies. */
  pipeline(commands: readonly (readonly string[])[]): Promise<unknown[]> {
    return this.run((client) => Promise.all(commands.map((args) => client.sendCommand(args as string[]) as Promise<unknown>)));
  }

  /** Runs a Lua script (EVAL) with no declared keys: every key it touches shares the namespace's hash tag. */
  eval<T>(script: string, args: readonly string[]): Promise<T> {
    return this.command(['EVAL', script, '0', ...args]) as Promise<T>;
  }

  /** Closes the connection; a later command connects again (a Memory stays usable after close()). */
  async close(): Promise<void> {
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (client?.isOpen) await client.close().catch(() => discard(client));
  }
}
