/**
 * The typed-array kinds the format knows, and the element codes used for them
 * in the manifest. Codes are part of the file format: never renumber.
 */

/** Every TypedArray kind store-fs stores (Float16Array is not on Node 20). */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** The element type of a typed array: `bigint` for the 64-bit integer kinds, `number` otherwise. */
export type ElementOf<T extends TypedArray> = T extends BigInt64Array | BigUint64Array ? bigint : number;

/** A constructor of one of the kinds above. */
export interface TypedArrayConstructor<T extends TypedArray = TypedArray> {
  new (length: number): T;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
}

/** Index = element code stored in the manifest. */
export const ELEMENT_KINDS: readonly TypedArrayConstructor[] = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as TypedArrayConstructor[];

const codes = new Map<unknown, number>(ELEMENT_KINDS.map((ctor, code) => [ctor.prototype, code]));

/** Element code of a typed array, or -1 when it is not one of ours (e.g. Float16Array, a subclass). */
export function elementCode(value: ArrayBufferView): number {
  return codes.get(Object.getPrototypeOf(value)) ?? -1;
}

/** Bytes of a view, without copying, as a Uint8Array over the same memory. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
