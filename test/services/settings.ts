/**
 * Where the test servers of scripts/services.sh are, and what a test does
 * when one is not there: locally it skips, saying why and how to start them;
 * in CI (`CI=true`) a missing server is a failure, never a silent skip.
 *
 * Settings come from the environment (`eval "$(bash scripts/services.sh env)"`)
 * or, failing that, from the env file the script writes
 * (`$LARDER_SERVICES_DIR/env`, by default `.services/env` in the repo).
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const servicesDir = process.env.LARDER_SERVICES_DIR ?? join(repoRoot, '.services');
export const envFile = join(servicesDir, 'env');
export const inCI = process.env.CI === 'true';

/** How to start the servers, for skip and failure messages. */
const HOW = 'start them with `bash scripts/services.sh start` (see scripts/README.md)';

/** The variables the script writes, read from the environment first, then from its env file. */
function readSettings(): Record<string, string | undefined> {
  const fromFile: Record<string, string> = {};
  if (existsSync(envFile)) {
    for (const line of readFileSync(envFile, 'utf8').split('\n')) {
      const match = /^export ([A-Z0-9_]+)='([^']*)'$/.exec(line.trim());
      if (match) fromFile[match[1]!] = match[2]!;
    }
  }
  const names = ['LARDER_TEST_REDIS_URL', 'LARDER_TEST_POSTGRES_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'];
  return Object.fromEntries(names.map((name) => [name, process.env[name] || fromFile[name]]));
}

export interface S3Settings {
  endpoint: URL;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface ServiceSettings {
  redis?: URL;
  postgres?: URL;
  s3?: S3Settings;
}

export function serviceSettings(): ServiceSettings {
  const vars = readSettings();
  const { AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: region, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = vars;
  return {
    redis: vars.LARDER_TEST_REDIS_URL ? new URL(vars.LARDER_TEST_REDIS_URL) : undefined,
    postgres: vars.LARDER_TEST_POSTGRES_URL ? new URL(vars.LARDER_TEST_POSTGRES_URL) : undefined,
    s3: endpoint && region && accessKeyId && secretAccessKey ? { endpoint: new URL(endpoint), region, accessKeyId, secretAccessKey } : undefined,
  };
}

/** Resolves when something accepts a TCP connection at host:port. */
export function tcpReachable(url: URL, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** What a test context offers for skipping (vitest's `TestContext`). */
interface Skippable {
  skip(note?: string): never;
}

/**
 * The address of a service, if its settings exist and it accepts
 * connections. Otherwise the test is skipped with a loud reason, or, in CI,
 * fails.
 */
export async function requireService<T extends { toString(): string }>(context: Skippable, name: string, url: T | undefined, reachable: (url: T) => Promise<boolean>): Promise<T> {
  let reason: string | undefined;
  if (url === undefined) reason = `${name}: no settings in the environment or in ${envFile}`;
  else if (!(await reachable(url))) reason = `${name}: nothing answers at ${url.toString()}`;
  if (reason === undefined) return url!;
  if (inCI) throw new Error(`${reason}. CI=true, so a missing server is a failure: ${HOW}`);
  console.warn(`\n*** SKIPPED ${reason}; ${HOW} ***\n`);
  return context.skip(`${reason}; ${HOW}`);
}
