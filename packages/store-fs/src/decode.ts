/**
 * Manifest → value. Data only: nodes are turned into values by a fixed table
 * of kinds, nothing from the file is ever evaluated. Two flat passes instead
 * of recursion, so a hostile or very deep tree cannot overflow the stack:
 * pass 1 creates every node's value (containers empty), pass 2 fills the
 * containers by index, which is also what makes cycles and shared references
 * come back shared.
 *
 * Bounds checks alone do not bound the work: any number of nodes may point at
 * one text, children vector, numbers vector or segment, and each would build
 * its own copy (a 1 MB file could ask for gigabytes). So every decode runs on
 * a budget proportional to the payload, charged before each allocation that
 * grows with the file: see {@link decodeBudget}.
 */
import { isUtf8 } from 'node:buffer';
import { check, FormatError } from './errors.js';
import { HOLE, Kind, kindCount, type ManifestReader, type NodeFields, type VectorRef } from './manifest.js';
import { ELEMENT_KINDS, type TypedArrayConstructor } from './typed-arrays.js';

/** How the decoder reaches segment bytes; eager, shared and mapped loads each supply one. */
export interface SegmentSource {
  /** The bytes of segment `index` (bounds already checked), at an offset aligned to 64. */
  bytes(index: number): Uint8Array;
  /** A value standing in for a typed array too large to read now (mmap mode), or undefined to read it. */
  mapped?(index: number, type: TypedArrayConstructor): object | undefined;
}

const BIGINT_TEXT = /^-?[0-9a-f]+$/;
/** The largest length a JavaScript array can have. */
const MAX_ARRAY_LENGTH = 2 ** 32 - 1;

/**
 * A file from dump() spends at most its own payload size: the writer gives
 * every node its own text, children, numbers and segment, and the one thing it
 * shares (key strings) is decoded once per string. Twice that plus a constant
 * leaves room and still caps a hostile file at a small multiple of its size.
 */
const BUDGET_PER_PAYLOAD_BYTE = 2;
const BUDGET_SLACK = 64 * 1024;

/** Decodes the value of a checked manifest of format `version` (which decides the kinds it may use). */
export function decode(reader: ManifestReader, source: SegmentSource, version: number): unknown {
  const count = reader.nodes.length;
  const kinds = kindCount(version);
  const values = new Array<unknown>(count);
  const containers: { index: number; fields: NodeFields }[] = [];
  const text = textDecoder(reader.bytes);
  const spend = decodeBudget(reader);
  // The writer shares key strings between objects (createSharedString): decoding each once, by its
  // manifest offset, keeps that within the budget and saves the repeated work.
  const keyTexts = new Map<number, string>();
  const segmentCount = reader.segments.length;
  // The checks below run per node and per child: `if (!ok) throw` builds a message only for a bad file.
  const segment = (fields: NodeFields, index: number): Uint8Array => {
    if (fields.segment >= segmentCount) throw segmentRangeError(fields.segment, segmentCount);
    // Charged in every mode: mmap reads or copies it, and a view per reference is sharing the writer never does.
    spend(reader.segments[fields.segment]!.length, index);
    return source.bytes(fields.segment);
  };

  for (let index = 0; index < count; index++) {
    const fields = reader.node(index);
    if (fields.kind >= kinds) throw new FormatError(`node ${index} has unknown kind ${fields.kind} for format version ${version}`);
    switch (fields.kind) {
      case Kind.Undefined: values[index] = undefined; break;
      case Kind.Null: values[index] = null; break;
      case Kind.False: values[index] = false; break;
      case Kind.True: values[index] = true; break;
      case Kind.Number: values[index] = fields.number; break;
      case Kind.Date: values[index] = new Date(fields.number); break;
      case Kind.String: {
        const ref = required(fields.text, index);
        spend(ref.length, index);
        values[index] = text(ref);
        break;
      }
      case Kind.BigInt: {
        const ref = required(fields.text, index);
        spend(ref.length, index);
        const digits = text(ref);
        if (!BIGINT_TEXT.test(digits)) throw new FormatError(`node ${index} is not a valid bigint`);
        values[index] = digits.startsWith('-') ? -BigInt(`0x${digits.slice(1)}`) : BigInt(`0x${digits}`);
        break;
      }
      case Kind.StringUtf16: values[index] = utf16(segment(fields, index)); break;
      case Kind.ArrayBuffer: {
        // An ArrayBuffer cannot be a view into the file's bytes, so this one kind is copied.
        const bytes = segment(fields, index);
        const copy = new ArrayBuffer(bytes.length);
        new Uint8Array(copy).set(bytes);
        values[index] = copy;
        break;
      }
      case Kind.Buffer: {
        const bytes = segment(fields, index);
        values[index] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        break;
      }
      case Kind.DataView: {
        const bytes = segment(fields, index);
        values[index] = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        break;
      }
      case Kind.TypedArray: {
        const type = ELEMENT_KINDS[fields.element];
        if (type === undefined) throw new FormatError(`node ${index} has unknown element type ${fields.element}`);
        if (fields.segment >= segmentCount) throw segmentRangeError(fields.segment, segmentCount);
        const length = reader.segments[fields.segment]!.length;
        if (length % type.BYTES_PER_ELEMENT !== 0) throw new FormatError(`segment ${fields.segment} is not a whole number of ${type.name} elements`);
        const mapped = source.mapped?.(fields.segment, type);
        if (mapped !== undefined) {
          values[index] = mapped; // O(1): the elements stay in the file, so nothing is charged
        } else {
          const bytes = segment(fields, index);
          values[index] = new type(bytes.buffer, bytes.byteOffset, length / type.BYTES_PER_ELEMENT);
        }
        break;
      }
      case Kind.Array: {
        if (fields.numbers !== undefined) {
          spend(fields.numbers.length * 8, index);
          const items = new Array<number>(fields.numbers.length);
          for (let i = 0; i < items.length; i++) items[i] = reader.f64(fields.numbers.start + i * 8);
          values[index] = items;
        } else {
          const children = required(fields.children, index);
          spend(children.length * 4, index);
          values[index] = new Array<unknown>(children.length);
          containers.push({ index, fields });
        }
        break;
      }
      case Kind.Object: {
        const keys = required(fields.keys, index);
        if (keys.length !== required(fields.children, index).length) throw new FormatError(`node ${index} has ${keys.length} keys for its values`);
        spend(keys.length * 4, index);
        values[index] = {};
        containers.push({ index, fields });
        break;
      }
      case Kind.SparseArray: {
        const children = required(fields.children, index);
        if (children.length % 2 !== 0) throw new FormatError(`sparse array node ${index} has an odd number of children`);
        const length = fields.number;
        if (!(Number.isInteger(length) && length >= 0 && length <= MAX_ARRAY_LENGTH)) throw new FormatError(`sparse array node ${index} has the invalid length ${length}`);
        spend(children.length * 4, index);
        // Only holes so far: V8 keeps a long holey array as a dictionary, so the length costs nothing.
        values[index] = new Array<unknown>(length);
        containers.push({ index, fields });
        break;
      }
      case Kind.ObjectEntries:
      case Kind.Map: {
        const children = required(fields.children, index);
        if (children.length % 2 !== 0) throw new FormatError(`node ${index} has an odd number of children for key, value pairs`);
        spend(children.length * 4, index);
        values[index] = fields.kind === Kind.Map ? new Map() : {};
        containers.push({ index, fields });
        break;
      }
      case Kind.Set:
        spend(required(fields.children, index).length * 4, index);
        values[index] = new Set();
        containers.push({ index, fields });
        break;
    }
  }

  const child = (slot: number): unknown => {
    const at = reader.u32(slot);
    if (at >= count) throw new FormatError(`a child index ${at} is not among the ${count} nodes`);
    return values[at];
  };
  for (const { index, fields } of containers) {
    const children = fields.children!;
    const value = values[index];
    if (fields.kind === Kind.Array) {
      const items = value as unknown[];
      for (let i = 0; i < children.length; i++) {
        const slot = children.start + i * 4;
        if (reader.u32(slot) !== HOLE) items[i] = child(slot);
      }
    } else if (fields.kind === Kind.Object) {
      const record = value as Record<string, unknown>;
      const keys = fields.keys!;
      for (let i = 0; i < children.length; i++) {
        const ref = reader.stringAt(keys.start + i * 4);
        let key = keyTexts.get(ref.start);
        if (key === undefined) {
          spend(ref.length, index);
          key = text(ref);
          keyTexts.set(ref.start, key);
        }
        setProperty(record, key, child(children.start + i * 4));
      }
    } else if (fields.kind === Kind.SparseArray) {
      const items = value as unknown[];
      let next = 0;
      for (let i = 0; i < children.length; i += 2) {
        const at = reader.u32(children.start + i * 4);
        // Ascending and inside the length: one canonical form, and no write can grow the array.
        if (!(at >= next && at < items.length)) throw new FormatError(`sparse array node ${index} has element index ${at} out of order or past its length ${items.length}`);
        items[at] = child(children.start + i * 4 + 4);
        next = at + 1;
      }
    } else if (fields.kind === Kind.ObjectEntries) {
      const record = value as Record<string, unknown>;
      for (let i = 0; i < children.length; i += 2) {
        const key = child(children.start + i * 4);
        if (typeof key !== 'string') throw new FormatError(`object node ${index} has a key that is not a string node`);
        setProperty(record, key, child(children.start + i * 4 + 4));
      }
    } else if (fields.kind === Kind.Map) {
      const map = value as Map<unknown, unknown>;
      for (let i = 0; i < children.length; i += 2) map.set(child(children.start + i * 4), child(children.start + i * 4 + 4));
    } else {
      const set = value as Set<unknown>;
      for (let i = 0; i < children.length; i++) set.add(child(children.start + i * 4));
    }
  }
  return values[reader.root];
}

/**
 * The decode budget: returns `spend(bytes, node)`, to be called before each
 * piece of work that grows with the file, counted in the bytes it consumes: a
 * text's UTF-8 bytes, 4 per child (and key), 8 per packed number, a segment's
 * length per node that reads, copies or views it (a MappedArray is O(1) and
 * free). Node count itself is bounded by the manifest (4 bytes a slot). Past
 * {@link BUDGET_PER_PAYLOAD_BYTE} × (manifest + segment bytes) +
 * {@link BUDGET_SLACK} it throws a FormatError, before the allocation. For a
 * compressed file this is relative to the decompressed payload, which the
 * header caps.
 */
function decodeBudget(reader: ManifestReader): (bytes: number, node: number) => void {
  let payload = reader.bytes.length;
  for (const entry of reader.segments) payload += entry.length;
  const limit = BUDGET_PER_PAYLOAD_BYTE * payload + BUDGET_SLACK;
  let left = limit;
  return (bytes, node) => {
    left -= bytes;
    if (left < 0) {
      throw new FormatError(
        `the manifest expands to more than the file holds: by node ${node}, decoding needs more than ${limit} bytes of text, children, numbers and segments for a ${payload}-byte payload (nodes share what the writer never shares)`,
      );
    }
  };
}

function segmentRangeError(segment: number, segmentCount: number): FormatError {
  return new FormatError(`a node refers to segment ${segment} of ${segmentCount}`);
}

function required(ref: VectorRef | undefined, index: number): VectorRef {
  if (ref === undefined) throw new FormatError(`node ${index} lacks a field its kind needs`);
  return ref;
}

function setProperty(record: Record<string, unknown>, key: string, member: unknown): void {
  // Assigning "__proto__" would set the prototype instead of an own property.
  if (key === '__proto__') Object.defineProperty(record, key, { value: member, enumerable: true, writable: true, configurable: true });
  else record[key] = member;
}

/**
 * Text is UTF-8 the writer made from a well-formed string, so invalid UTF-8
 * is a bad file: decoding it would silently replace bytes with U+FFFD, a
 * string that was never stored.
 */
function textDecoder(bytes: Uint8Array): (ref: VectorRef) => string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return (ref) => {
    const end = ref.start + ref.length;
    if (!isUtf8(buffer.subarray(ref.start, end))) throw new FormatError(`the text at manifest offset ${ref.start} is not valid UTF-8`);
    return buffer.toString('utf8', ref.start, end);
  };
}

function utf16(bytes: Uint8Array): string {
  check(bytes.length % 2 === 0, 'a UTF-16 string segment has an odd length');
  const units = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  let result = '';
  for (let start = 0; start < units.length; start += 8192) {
    result += String.fromCharCode(...units.subarray(start, start + 8192));
  }
  return result;
}
