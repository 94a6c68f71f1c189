/**
 * Read-only shared copies. A typed array above `maxNbytes` is copied once per
 * call into a SharedArrayBuffer that every task of the call receives, so a
 * write by one task would reach the others. JavaScript cannot make shared
 * memory read-only, so the caller digests each copy once, and the worker
 * digests again the copies a task received after that task settles, before
 * its next task starts: a changed digest fails the call with
 * LARDER_SHARED_WRITE naming the task and where the array sat in its
 * arguments (joblib's read-only memmaps raise the same way).
 *
 * The digest is eight interleaved 32-bit polynomial lanes over the bytes,
 * not xxh64: measured on 400 MB, xxh64 through xxhash-wasm took 186 ms (it
 * copies each piece into wasm memory), this loop 50 ms. A single changed
 * word always changes its lane (the multiplier is odd, so invertible mod
 * 2^32), and moved words change it too (the multiplier's order is 2^30,
 * above any lane's length), which is what a task's accidental writes do:
 * an add, a fill, a sort in place. It is not a defence against a task
 * crafting a collision on purpose.
 */
import { ParallelError, taskLabel } from './errors.js';
import { loadedStoreFs } from './share-files.js';

/** A shared copy made for one call, and the digest of its bytes when made. */
export interface SharedCopy {
  readonly view: ArrayBufferView;
  readonly digest: string;
}

/** Per-call state: each large array is copied into shared memory once, however many tasks receive it. */
export type SharedCopies = Map<ArrayBufferView, SharedCopy>;

/** What a worker checks after one task: the shared copies it received. */
export type TaskGuards = SharedCopy[];

const MULTIPLIER = 0x01000193;
// Lanes are fed in pieces so the loop is optimized after its first calls
// instead of waiting for on-stack replacement inside one long run.
const PIECE_WORDS = 1 << 16;

/**
 * The digest of the bytes a view covers. Shared copies start at byte 0 of
 * their own buffer, so the words are aligned; any other view is digested
 * through a fresh aligned copy.
 */
export function digestView(view: ArrayBufferView): string {
  if (view.byteOffset % 4 !== 0) return digestView(new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice());
  const lanes = new Int32Array(8).fill(1);
  const words = new Int32Array(view.buffer, view.byteOffset, view.byteLength >>> 2);
  const whole = words.length & ~7;
  for (let start = 0; start < whole; start += PIECE_WORDS) feed(lanes, words, start, Math.min(whole, start + PIECE_WORDS));
  return finish(lanes, view, whole);
}

/**
 * Copies a view's bytes to the start of a new SharedArrayBuffer and digests
 * them in the same pass, piece by piece while each piece is still in the CPU
 * cache: the digest then costs little more than the copy. The fresh memory
 * is advised for huge pages first (store-fs's adviseHugePages, where the
 * caller has store-fs loaded): writing it then faults 2 MiB at a time, not
 * 4 KiB, which on 400 MB is most of the copy's cost (100,000 page faults).
 */
export function copyToSharedWithDigest(view: ArrayBufferView): SharedCopy {
  const shared = new SharedArrayBuffer(view.byteLength);
  const target = new Uint8Array(shared);
  loadedStoreFs()?.adviseHugePages(target);
  const source = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const lanes = new Int32Array(8).fill(1);
  const words = new Int32Array(shared, 0, view.byteLength >>> 2);
  const whole = words.length & ~7;
  for (let start = 0; start < whole; start += PIECE_WORDS) {
    const end = Math.min(whole, start + PIECE_WORDS);
    target.set(source.subarray(start * 4, end * 4), start * 4);
    feed(lanes, words, start, end);
  }
  target.set(source.subarray(whole * 4), whole * 4);
  const Ctor = view.constructor as new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => ArrayBufferView;
  const bytesPerElement = (view as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  const copy = view instanceof DataView ? new DataView(shared) : new Ctor(shared, 0, view.byteLength / bytesPerElement);
  return { view: copy, digest: finish(lanes, copy, whole) };
}

// The bytes after the last whole group of eight words, and the length.
function finish(lanes: Int32Array, view: ArrayBufferView, whole: number): string {
  const tail = new Uint8Array(view.buffer, view.byteOffset + whole * 4, view.byteLength - whole * 4);
  for (let i = 0; i < tail.length; i++) lanes[i & 7] = (Math.imul(lanes[i & 7]!, MULTIPLIER) + tail[i]! + 1) | 0;
  let out = `${view.byteLength}:`;
  for (const lane of lanes) out += (lane >>> 0).toString(16).padStart(8, '0');
  return out;
}

function feed(lanes: Int32Array, words: Int32Array, start: number, end: number): void {
  let a0 = lanes[0]!, a1 = lanes[1]!, a2 = lanes[2]!, a3 = lanes[3]!, a4 = lanes[4]!, a5 = lanes[5]!, a6 = lanes[6]!, a7 = lanes[7]!;
  for (let i = start; i < end; i += 8) {
    a0 = (Math.imul(a0, MULTIPLIER) + words[i]!) | 0;
    a1 = (Math.imul(a1, MULTIPLIER) + words[i + 1]!) | 0;
    a2 = (Math.imul(a2, MULTIPLIER) + words[i + 2]!) | 0;
    a3 = (Math.imul(a3, MULTIPLIER) + words[i + 3]!) | 0;
    a4 = (Math.imul(a4, MULTIPLIER) + words[i + 4]!) | 0;
    a5 = (Math.imul(a5, MULTIPLIER) + words[i + 5]!) | 0;
    a6 = (Math.imul(a6, MULTIPLIER) + words[i + 6]!) | 0;
    a7 = (Math.imul(a7, MULTIPLIER) + words[i + 7]!) | 0;
  }
  lanes[0] = a0; lanes[1] = a1; lanes[2] = a2; lanes[3] = a3; lanes[4] = a4; lanes[5] = a5; lanes[6] = a6; lanes[7] = a7;
}

/**
 * Checks the shared copies one task received. Returns the first that
 * changed, or undefined. Each copy is digested once even when the task
 * received it twice.
 */
export function changedCopy(guards: TaskGuards | undefined): SharedCopy | undefined {
  if (!guards) return undefined;
  for (let i = 0; i < guards.length; i++) {
    const guard = guards[i]!;
    if (digestView(guard.view) !== guard.digest) return guard;
  }
  return undefined;
}

/**
 * Where `target` sits in a task's arguments, as `$[0].samples` (`$` is the
 * argument list). Searched only once a write was found, breadth first and
 * without recursion, so a deep argument cannot overflow the stack here.
 */
export function findPath(args: readonly unknown[], target: unknown): string {
  const seen = new Set<unknown>();
  const queue: Array<{ value: unknown; path: string }> = args.map((value, i) => ({ value, path: `$[${i}]` }));
  for (let head = 0; head < queue.length && head < 1_000_000; head++) {
    const { value, path } = queue[head]!;
    if (value === target) return path;
    if (typeof value !== 'object' || value === null || seen.has(value) || ArrayBuffer.isView(value)) continue;
    seen.add(value);
    if (Array.isArray(value)) value.forEach((item, i) => queue.push({ value: item, path: `${path}[${i}]` }));
    else if (value instanceof Map) for (const [key, item] of value) queue.push({ value: item, path: `${path}.get(${String(key)})` });
    else if (value instanceof Set) for (const item of value) queue.push({ value: item, path: `${path}<item>` });
    else for (const key of Object.keys(value)) queue.push({ value: (value as Record<string, unknown>)[key], path: `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}` });
  }
  return '$';
}

/** The LARDER_SHARED_WRITE error: which task, which argument, and what to do instead. */
export function sharedWriteError(taskIndex: number, taskName: string | undefined, path: string, view: ArrayBufferView): ParallelError {
  const kind = view.constructor?.name ?? 'typed array';
  const error = new ParallelError(
    'LARDER_SHARED_WRITE',
    `${taskLabel(taskIndex, taskName)}: its argument ${path} (a ${kind} of ${view.byteLength} bytes, a read-only shared copy) changed while it ran, written by this task ` +
      `or by one running at the same time in another worker. Arrays above maxNbytes are copied once per call into shared memory that every task of the call reads, so a write would reach other tasks. ` +
      `Copy the array inside the task before changing it (data.slice()), or put it on a SharedArrayBuffer yourself when tasks are meant to share writes; the caller's array is unchanged.`,
    { taskIndex },
  );
  (error as ParallelError & { argument?: string }).argument = path;
  return error;
}
