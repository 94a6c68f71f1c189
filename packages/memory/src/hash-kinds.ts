/**
 * What hash() accepts, and the checks that every piece of an object a
 * function could observe is either in the encoding or refused.
 *
 * An object is recognised by its internal brand (util.types, Array.isArray)
 * AND its exact built-in prototype, so neither a subclass nor a built-in whose
 * prototype was swapped passes for another kind. Own properties the encoding
 * of a kind has no room for (symbol keys anywhere, extra keys on an Array,
 * Map, Set, Date, RegExp, boxed primitive or binary value, accessors on a plain
 * object) are a HashError naming where they sit.
 */
import { inspect, types } from 'node:util';
import { HashError } from './errors.js';

/** The kinds of object hash() encodes. */
export const Kind = { Plain: 0, Array: 1, Map: 2, Set: 3, Date: 4, RegExp: 5, Boxed: 6, Binary: 7 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** Binary kinds by exact prototype: the same bytes under a different kind hash differently. */
export const BINARY_KIND = new Map<object, number>([
  [Int8Array.prototype, 1], [Uint8Array.prototype, 2], [Uint8ClampedArray.prototype, 3], [Int16Array.prototype, 4],
  [Uint16Array.prototype, 5], [Int32Array.prototype, 6], [Uint32Array.prototype, 7], [Float32Array.prototype, 8],
  [Float64Array.prototype, 9], [BigInt64Array.prototype, 10], [BigUint64Array.prototype, 11], [Buffer.prototype, 12],
  [DataView.prototype, 13], [ArrayBuffer.prototype, 14],
]);
if (typeof SharedArrayBuffer === 'function') BINARY_KIND.set(SharedArrayBuffer.prototype, 15);
const float16 = (globalThis as { Float16Array?: { prototype: object } }).Float16Array;
if (float16) BINARY_KIND.set(float16.prototype, 16);

/** %TypedArray%.prototype[Symbol.toStringTag]: the internal element type, whatever the prototype says. */
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype), Symbol.toStringTag)!.get!;
const objectTag = Object.prototype.toString;

const CLASS_ADVICE = 'hash() takes plain data (objects, arrays, Map, Set, Date, typed arrays...), and a class instance keeps state it cannot see ' +
  '(private fields, internal slots, getters), so two different instances would hash alike. ' +
  'Pass plain data instead (e.g. url.href, { message: error.message }), or use the `key` option to hash what identifies the call.';
const EXTRA_ADVICE = 'the encoding of this kind has no room for own properties, so two values differing only in them would hash alike. ' +
  'Pass a plain value and put the extra data beside it, or use the `key` option.';
const ACCESSOR_ADVICE = 'a getter is code: running it to hash its value would be a side effect, and its value may change. ' +
  'Pass the value itself (e.g. { ...obj } copies getters\' current values), or use the `key` option.';
const DETACHED_ADVICE = 'its buffer was detached (transferred to a worker or with ArrayBuffer.prototype.transfer), so its bytes are gone. ' +
  'Hash the array before transferring it, or pass a copy.';

/** Classifies `value`, or throws a HashError (at `where()`) for anything hash() refuses. */
export function classify(value: object, where: () => string): Kind {
  if (types.isProxy(value)) throw new HashError(where(), 'a Proxy', 'its traps are code that may answer differently each time. Pass the target object, or use the `key` option.');
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto === Object.prototype || proto === null) {
    if (types.isArgumentsObject(value)) throw new HashError(where(), 'an arguments object', 'pass an array instead ([...arguments]).');
    // Symbol keys first: Object.prototype.toString below would run a Symbol.toStringTag getter.
    refuseSymbols(value, where);
    // An exotic object whose prototype was swapped still carries its internal state.
    // (The tag reveals an array, Date, RegExp, Error, boxed primitive or arguments object.)
    const tag = objectTag.call(value);
    if (tag !== '[object Object]' || types.isMap(value) || types.isSet(value) || ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value)) {
      throw new HashError(where(), `a built-in object (${tag.slice(8, -1)}) whose prototype was replaced`, CLASS_ADVICE);
    }
    return Kind.Plain;
  }
  if (Array.isArray(value)) {
    // (Array.prototype is itself an array, in every realm; a subclass's prototype is not.)
    if (Array.isArray(proto)) return Kind.Array;
  } else if (ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value)) {
    const kind = BINARY_KIND.get(proto);
    if (kind !== undefined && brandMatches(value, proto, kind)) return Kind.Binary;
    if (kind !== undefined) throw new HashError(where(), 'a binary value whose prototype was replaced', CLASS_ADVICE);
  } else if (proto === Map.prototype) {
    if (types.isMap(value)) return Kind.Map;
  } else if (proto === Set.prototype) {
    if (types.isSet(value)) return Kind.Set;
  } else if (proto === Date.prototype) {
    if (types.isDate(value)) return Kind.Date;
  } else if (proto === RegExp.prototype) {
    if (types.isRegExp(value)) return Kind.RegExp;
  } else if (proto === Number.prototype || proto === String.prototype || proto === Boolean.prototype || proto === BigInt.prototype) {
    if (types.isBoxedPrimitive(value) && !types.isSymbolObject(value)) return Kind.Boxed;
  } else if (value instanceof Promise || value instanceof WeakMap || value instanceof WeakSet || value instanceof WeakRef) {
    throw new HashError(where(), `a ${value.constructor.name}`);
  }
  if (types.isSymbolObject(value)) throw new HashError(where(), `a boxed symbol (${String((value as { description?: string }).description)})`);
  throw new HashError(where(), `an instance of class ${className(proto)}`, CLASS_ADVICE);
}

function brandMatches(value: object, proto: object, kind: number): boolean {
  if (kind === 13) return types.isDataView(value);
  if (kind === 14) return types.isArrayBuffer(value);
  if (kind === 15) return types.isSharedArrayBuffer(value);
  const name = typedArrayName.call(value) as string | undefined;
  return name !== undefined && name === (kind === 12 ? 'Uint8Array' : (proto as { constructor: { name: string } }).constructor.name);
}

function className(proto: object | null): string {
  const ctor = (proto as { constructor?: unknown } | null)?.constructor;
  return typeof ctor === 'function' && ctor.name ? ctor.name : '(anonymous)';
}

/** Refuses symbol-keyed own properties, naming the first. */
export function refuseSymbols(value: object, where: () => string): void {
  const symbols = Object.getOwnPropertySymbols(value);
  if (symbols.length > 0) {
    throw new HashError(`${where()}[${symbols[0]!.toString()}]`, 'a symbol-keyed property',
      'symbols have no stable identity across processes, so the key cannot include it, and leaving it out would let two different values share an entry. ' +
      'Use a string key, or the `key` option.');
  }
}

/** Refuses own properties of an Array (besides indexes and length), Map, Set, Date, RegExp (besides lastIndex), boxed primitive or binary value. */
export function refuseExtraKeys(value: object, kind: Kind, where: () => string, present = 0): void {
  refuseSymbols(value, where);
  let extra: string[] | undefined;
  if (kind === Kind.Array) {
    const length = (value as unknown[]).length;
    if (length >= LONG) {
      // Listing a long array's keys costs ~100 ns per index; inspect reads only the non-index ones.
      if (/^\[ \.\.\. \d+ more items?, \[length\]: \d+ \]$/.test(inspect(value, HIDDEN))) return;
    } else if (Object.getOwnPropertyNames(value).length === present + 1) return;
    extra = Object.getOwnPropertyNames(value).filter((key) => key !== 'length' && !isIndex(key));
  } else if (kind === Kind.Binary && ArrayBuffer.isView(value) && !types.isDataView(value)) {
    const length = (value as unknown as ArrayLike<unknown>).length;
    if (length < LONG ? Object.getOwnPropertyNames(value).length === length : inspect(value, HIDDEN) === inspect(cleanView(value), HIDDEN)) return;
    extra = Object.getOwnPropertyNames(value).filter((key) => !isIndex(key));
  } else {
    const names = Object.getOwnPropertyNames(value);
    const allowed = kind === Kind.RegExp ? 1 : kind === Kind.Boxed && typeof (value as object).valueOf() === 'string' ? (value as unknown as string).length + 1 : 0;
    if (names.length === allowed) return;
    extra = names.filter((key) => !(kind === Kind.RegExp && key === 'lastIndex') && !(kind === Kind.Boxed && (key === 'length' || isIndex(key))));
  }
  const kindName = kind === Kind.Array ? 'an array' : article(kind === Kind.Binary ? (value as { constructor: { name: string } }).constructor.name : objectTag.call(value).slice(8, -1));
  throw new HashError(where(), `${kindName} with own ${kind === Kind.Array ? 'non-index keys' : 'properties'} (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''})`, EXTRA_ADVICE);
}

/** Arrays and typed arrays at least this long are checked for extra keys through inspect (O(1)) rather than by listing their indexes. */
const LONG = 64;
const HIDDEN = { showHidden: true, maxArrayLength: 0, depth: 0, customInspect: false, getters: false, showProxy: false, breakLength: Infinity } as const;

/** A second view of the same bytes with no own properties: what inspect shows for a clean typed array of this kind. */
function cleanView(view: ArrayBufferView): object {
  const length = (view as unknown as ArrayLike<unknown>).length;
  if (Buffer.isBuffer(view)) return Buffer.from(view.buffer, view.byteOffset, length);
  const Ctor = Object.getPrototypeOf(view).constructor as new (buffer: ArrayBufferLike, offset: number, length: number) => object;
  return new Ctor(view.buffer, view.byteOffset, length);
}

const article = (name: string): string => `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;

export const isIndex = (key: string): boolean => String(Number(key) >>> 0) === key && key !== '4294967295';

/** The bytes a binary value covers, or a HashError when its buffer was detached. */
export function bytesOf(value: ArrayBufferView | ArrayBufferLike, where: () => string): Uint8Array {
  try {
    return ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
  } catch (error) {
    if (error instanceof TypeError) {
      throw new HashError(where(), `${article((value as { constructor: { name: string } }).constructor.name)} whose buffer was detached (transferred)`, DETACHED_ADVICE);
    }
    throw error;
  }
}

/** Refuses a detached binary value before anything else reads it. */
export function refuseDetached(value: ArrayBufferView | ArrayBufferLike, where: () => string): void {
  const buffer = ArrayBuffer.isView(value) ? value.buffer : value;
  const detached = (buffer as { detached?: boolean }).detached;
  if (detached === true || (detached === undefined && types.isArrayBuffer(buffer) && buffer.byteLength === 0)) bytesOf(value, where);
}

/** Property attributes as 3 bits: writable 1, enumerable 2, configurable 4 (7 for an ordinary data property). */
export function attributesOf(descriptor: PropertyDescriptor): number {
  return (descriptor.writable ? 1 : 0) | (descriptor.enumerable ? 2 : 0) | (descriptor.configurable ? 4 : 0);
}

/** The HashError for an accessor property at `path`. */
export function accessorError(path: string): HashError {
  return new HashError(path, 'a getter/setter (accessor property)', ACCESSOR_ADVICE);
}

/** Integrity of a non-extensible object: 0 prevented extensions, 1 sealed, 2 frozen. */
export function integrityOf(value: object): number {
  return Object.isFrozen(value) ? 2 : Object.isSealed(value) ? 1 : 0;
}
