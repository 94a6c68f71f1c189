/**
 * Whether a BlobStore object given as a Memory's location is a larder cache,
 * and marking it as one: the store counterpart of a folder's marker files
 * (location.ts). The marker is a value larder puts under the key
 * `larder-cache.json` (the marker file's name): `{ larder: '@larder/memory',
 * layout }`. Clearing, pruning and storing results need it, so a store that
 * holds someone else's values is never emptied or filled.
 *
 * A store without the marker is adopted (and marked, with putIfAbsent: of
 * many processes starting at once one writes it, and the others find it)
 * only when it holds nothing but entries larder writes; the listing stops at
 * the first other key. Read-only calls never mark anything.
 */
import { FormatError, type BlobStore } from '@larder/store-fs';
import { MemoryError } from './errors.js';
import { Guard, LAYOUT_VERSION, MARKER_FILE, type LocationState } from './location.js';
import { isEntryKey } from './tree.js';

/** The key of larder's marker in a store location. */
export const STORE_MARKER_KEY = MARKER_FILE;

export class StoreGuard extends Guard {
  readonly location: string;

  constructor(private readonly store: BlobStore) {
    super();
    this.location = store.description;
  }

  protected async inspect(): Promise<LocationState> {
    let marker: unknown;
    try {
      marker = await this.store.get(STORE_MARKER_KEY);
    } catch (error) {
      if (error instanceof FormatError) return { kind: 'refused', reason: `its ${STORE_MARKER_KEY} is not larder's marker`, folder: true };
      return { kind: 'refused', reason: `its marker cannot be read (${(error as Error)?.message ?? String(error)})`, cause: error };
    }
    if (marker !== undefined) return markerState(marker);
    try {
      for await (const { key } of this.store.list('')) {
        if (!isEntryKey(key)) return (await this.markedMeanwhile()) ?? { kind: 'refused', reason: `it holds ${key}, which larder did not write`, folder: true };
      }
    } catch (error) {
      return { kind: 'refused', reason: `it cannot be listed (${(error as Error)?.message ?? String(error)})`, cause: error };
    }
    return { kind: 'adoptable' };
  }

  /** Another process may have marked the store while it was listed (the marker is a key like any other). */
  private async markedMeanwhile(): Promise<LocationState | undefined> {
    const marker = await this.store.get(STORE_MARKER_KEY).catch(() => undefined);
    return marker === undefined ? undefined : markerState(marker);
  }

  protected async mark(): Promise<void> {
    await this.store.putIfAbsent(STORE_MARKER_KEY, { larder: '@larder/memory', layout: LAYOUT_VERSION });
  }

  notACache(reason: string, doing: string, cause?: unknown): MemoryError {
    return new MemoryError(
      'LARDER_NOT_A_CACHE',
      `${this.location} is not a larder cache: ${reason}; larder refused to ${doing}. ` +
        `A store used as a cache location holds larder's marker (the key ${STORE_MARKER_KEY}) and larder's entries only; pass an empty store, or the store given to new Memory(...) before.`,
      { cause },
    );
  }
}

function markerState(marker: unknown): LocationState {
  const { larder, layout } = (typeof marker === 'object' && marker !== null ? marker : {}) as { larder?: unknown; layout?: unknown };
  if (larder !== '@larder/memory' || typeof layout !== 'number') return { kind: 'refused', reason: `its ${STORE_MARKER_KEY} is not larder's marker`, folder: true };
  if (layout > LAYOUT_VERSION) return { kind: 'refused', reason: `it was written by a newer larder (layout ${layout}; this one knows ${LAYOUT_VERSION}): upgrade @larder/memory` };
  return { kind: 'marked' };
}
