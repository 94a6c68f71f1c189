/**
 * The names larder generates in a location's entry store: entry keys
 * (`<function folder>/<body id>/<args hash>`) and, for a folder location, the
 * names of the files and folders under `results/` (what location.ts accepts as
 * larder's own when it adopts an unmarked folder). Walking, writing and
 * deleting the tree is the entry store's job (store-fs's FolderStore, which
 * never follows a symlink).
 */
const HEX = '[0-9a-f]{16,128}';
const FUNCTION_FOLDER = /^[A-Za-z0-9._-]{1,255}$/;
const BODY_FOLDER = new RegExp(`^${HEX}$`);
const ARGS_HASH = new RegExp(`^${HEX}$`);
/** The folder store's shard folders (`@` and two hex digits). */
const SHARD_FOLDER = /^@[0-9a-f]{2}$/;
/** An entry, its lease, a lease set aside by a takeover, or store-fs's temp file of an entry. */
const GENERATED_FILE = new RegExp(`^(${HEX}\\.larder(\\.lease(\\.[0-9a-f]+\\.stale)?)?|\\.${HEX}\\.larder\\.\\d+\\.[0-9a-f]+\\.larder-tmp)$`);

export const isFunctionFolderName = (name: string): boolean => FUNCTION_FOLDER.test(name) && name !== '.' && name !== '..';
export const isBodyFolderName = (name: string): boolean => BODY_FOLDER.test(name);
export const isShardFolderName = (name: string): boolean => SHARD_FOLDER.test(name);
/** Whether larder generates files of this name inside a body folder (or its shard folders). */
export const isGeneratedEntryName = (name: string): boolean => GENERATED_FILE.test(name);

/** Whether `key` is an entry key larder generates: `<function folder>/<body id>/<args hash>`. */
export function isEntryKey(key: string): boolean {
  const parts = key.split('/');
  return parts.length === 3 && isFunctionFolderName(parts[0]!) && BODY_FOLDER.test(parts[1]!) && ARGS_HASH.test(parts[2]!);
}

/** One entry found in the store. */
export interface EntryFile { key: string; bytes: number; mtimeMs: number }
