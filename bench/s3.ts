/**
 * The S3 blob store beside the folder store, measured in the same run: small
 * values (put, get) and an 80 MB value read eagerly and mapped, with a cold
 * local cache (a fresh cache folder: every byte comes over the network) and a
 * warm one (a conditional GET answered 304, then a local read or map).
 *
 * Needs an S3 endpoint: the servers of scripts/services.sh (`bash
 * scripts/services.sh start`; settings from the environment or .services/env).
 * Without one, run() throws and `pnpm bench` lists the suite as not measured.
 * Run alone with `pnpm tsx bench/s3.ts`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeLoaded, FolderStore, S3BlobStore, type LoadOptions, type S3Options } from '@larder/store-fs';
import { s3Fetch } from '../test/services/s3-sign.js';
import { serviceSettings, tcpReachable } from '../test/services/settings.js';
import { medianMs, table, type Row } from './harness.js';

const MB80 = 10_000_000; // Float64 elements: 80 MB
const SMALL_CALLS = 40;

function row(r: Omit<Row, 'ratio' | 'met' | 'goal'>): Row {
  return { ...r, ratio: r.larder / r.baseline, goal: 'report (network vs local disk)', met: true };
}

export async function run(): Promise<Row[]> {
  const s3 = serviceSettings().s3;
  if (s3 === undefined || !(await tcpReachable(s3.endpoint))) {
    throw new Error('no S3 endpoint: start one with `bash scripts/services.sh start` (or set AWS_ENDPOINT_URL_S3 and the keys)');
  }
  const bucket = `larder-bench-${process.pid}-${randomBytes(3).toString('hex')}`;
  const created = await s3Fetch(s3, { method: 'PUT', path: `/${bucket}` });
  if (created.status !== 200) throw new Error(`creating bucket ${bucket}: ${created.status} ${await created.text()}`);
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-s3-'));
  let caches = 0;
  const options = (): S3Options => ({
    endpoint: s3.endpoint.href,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    cacheDir: join(dir, `cache-${caches++}`),
  });
  const s3Store = new S3BlobStore(`s3://${bucket}/bench`, options());
  const folder = new FolderStore(join(dir, 'folder'));
  const rows: Row[] = [];
  try {
    const small = { id: 'run-17', loss: 0.25, steps: [1, 2, 3], weights: new Float64Array(64).fill(0.5) };
    let n = 0;
    const putMany = (store: S3BlobStore | FolderStore) => async () => {
      for (let i = 0; i < SMALL_CALLS; i++) await store.put(`small/k${n++ % 200}`, small);
    };
    const s3Put = (await medianMs(putMany(s3Store), 5, 1)) / SMALL_CALLS;
    const folderPut = (await medianMs(putMany(folder), 5, 1)) / SMALL_CALLS;
    const getMany = (store: S3BlobStore | FolderStore) => async () => {
      for (let i = 0; i < SMALL_CALLS; i++) await store.get(`small/k${i}`);
    };
    const s3Get = (await medianMs(getMany(s3Store), 5, 1)) / SMALL_CALLS;
    const folderGet = (await medianMs(getMany(folder), 5, 1)) / SMALL_CALLS;
    rows.push(
      row({ id: 's3.put.small', figure: 'put of a small value (~0.8 KB)', larder: s3Put, baseline: folderPut, baselineName: 'FolderStore.put', unit: 'ms', note: 'one PUT' }),
      row({ id: 's3.get.small', figure: 'get of a small value', larder: s3Get, baseline: folderGet, baselineName: 'FolderStore.get', unit: 'ms', note: 'one GET, no HEAD' }),
    );

    const big = { signal: new Float64Array(MB80).map((_, i) => i * 0.5) };
    await s3Store.put('big', big);
    await folder.put('big', big);
    const load = async (store: S3BlobStore | FolderStore, load: LoadOptions) => closeLoaded(await store.get('big', load));
    for (const [mode, loadOptions] of [['eager', {}], ['mapped', { mmap: 'r' }]] as const) {
      const folderMs = await medianMs(() => load(folder, loadOptions), 5, 1);
      // Cold: a store with a fresh cache folder each time (its first request carries no ETag).
      const cold = await medianMs(async () => {
        const fresh = new S3BlobStore(`s3://${bucket}/bench`, options());
        await load(fresh, loadOptions);
        fresh.close();
      }, 3, 1);
      // Warm: the copy written through by the put (or fetched by the cold loads of s3Store) is current.
      await load(s3Store, loadOptions);
      const warm = await medianMs(() => load(s3Store, loadOptions), 5, 1);
      rows.push(
        row({ id: `s3.get80.${mode}.cold`, figure: `get 80 MB, ${mode}, cold cache`, larder: cold, baseline: folderMs, baselineName: `FolderStore ${mode} get`, unit: 'ms', note: mode === 'eager' ? 'one GET' : '8 MiB ranges, 4 at once, into the cache, then mapped' }),
        row({ id: `s3.get80.${mode}.warm`, figure: `get 80 MB, ${mode}, warm cache`, larder: warm, baseline: folderMs, baselineName: `FolderStore ${mode} get`, unit: 'ms', note: 'a GET answered 304, then the local copy' }),
      );
    }
  } finally {
    await s3Store.removePrefix('');
    s3Store.close();
    await s3Fetch(s3, { method: 'DELETE', path: `/${bucket}` });
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(table(await run()));
}
