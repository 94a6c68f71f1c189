/**
 * Verbose output in joblib's shapes, so a joblib user reads familiar lines:
 *
 * ```
 * ________________________________________________________________________________
 * [Memory] Calling simulate...
 * simulate(1, 2.5, 'abc', {a: 1, b: [1, 2, 3]})
 * ____________________________________________________________simulate - 0.1s, 0.0min
 * [Memory]0.3s, 0.0min    : Loading simulate(1, 2.5, 'abc', {a: 1, b: [1, 2, 3]})...
 * ```
 *
 * Argument reprs are cut short (a huge array prints its kind, length and first
 * items), so verbose output never dumps data.
 */

const ARG_CHARS = 80;
const ITEMS = 5;
const STRING_CHARS = 60;

/** joblib's `format_time`: `0.1s, 0.0min`. */
function formatTime(ms: number): string {
  const seconds = ms / 1000;
  return `${seconds.toFixed(1)}s, ${(seconds / 60).toFixed(1)}min`;
}

/** A short, Python-ish repr of one argument, never longer than ~80 characters. */
export function formatArg(value: unknown): string {
  const text = repr(value, 0);
  return text.length > ARG_CHARS ? `${text.slice(0, ARG_CHARS - 1)}…` : text;
}

function repr(value: unknown, depth: number): string {
  switch (typeof value) {
    // Cut inside the quotes, so formatArg's own cut never eats the closing quote.
    case 'string': return `'${(value.length > STRING_CHARS ? `${value.slice(0, STRING_CHARS)}…` : value).replace(/'/g, "\\'")}'`;
    case 'bigint': return `${value}n`;
    case 'function': return `<function ${value.name || 'anonymous'}>`;
    case 'symbol': return value.toString();
    case 'object': break;
    default: return Object.is(value, -0) ? '-0' : String(value);
  }
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const items = value as unknown as ArrayLike<number | bigint>;
    const head = Array.from({ length: Math.min(items.length, ITEMS) }, (_, i) => String(items[i]));
    return `${value.constructor.name}(${items.length}) [${head.join(', ')}${items.length > ITEMS ? ', …' : ''}]`;
  }
  if (value instanceof ArrayBuffer || value instanceof DataView) return `${value.constructor.name}(${value.byteLength} bytes)`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (depth >= 2) return Array.isArray(value) ? '[…]' : '{…}';
  if (Array.isArray(value)) {
    const head = value.slice(0, ITEMS).map((item) => repr(item, depth + 1));
    return `[${head.join(', ')}${value.length > ITEMS ? `, … ${value.length - ITEMS} more` : ''}]`;
  }
  if (value instanceof Map) return `Map(${value.size})`;
  if (value instanceof Set) return `Set(${value.size})`;
  const keys = Object.keys(value);
  const head = keys.slice(0, ITEMS).map((key) => `${key}: ${repr((value as Record<string, unknown>)[key], depth + 1)}`);
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  const prefix = name && name !== 'Object' ? `${name} ` : '';
  return `${prefix}{${head.join(', ')}${keys.length > ITEMS ? ', …' : ''}}`;
}

/** The arguments of a call, each cut short, comma-separated: `1, 'abc', {a: 1}`. */
export function formatArgs(args: readonly unknown[]): string {
  return args.map(formatArg).join(', ');
}

/** The lines printed before computing a call (verbose ≥ 1), as joblib's `format_call`; `argsText` comes from {@link formatArgs}. */
export function callingLines(name: string, argsText: string): string {
  return `${'_'.repeat(80)}\n[Memory] Calling ${name}...\n${name}(${argsText})`;
}

/** The line printed after computing a call (verbose ≥ 1): `____name - 0.1s, 0.0min` padded to 80. */
export function doneLine(name: string, ms: number): string {
  const message = `${name} - ${formatTime(ms)}`;
  return `${'_'.repeat(Math.max(0, 80 - message.length))}${message}`;
}

/**
 * The line printed on a hit (verbose ≥ 2), as joblib's `_format_load_msg`: the
 * time since the Memory was created, left-aligned in 16 columns, the call with
 * its stored arguments, and at verbose ≥ 10 the file it is loaded from.
 */
export function loadingLine(name: string, argsText: string, msSinceMemoryCreated: number, path?: string): string {
  const line = `[Memory]${formatTime(msSinceMemoryCreated).padEnd(16)}: Loading ${name}(${argsText})`;
  return path === undefined ? `${line}...` : `${line} from ${path}`;
}
