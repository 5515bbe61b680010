import { SeamoonError } from '../../core/errors.js';

/**
 * The few protobuf wire-format pieces our messages need (varints and length-delimited
 * fields). The messages are tiny and fixed, so a hand codec avoids shipping .proto files
 * and a runtime loader; it follows https://protobuf.dev/programming-guides/encoding/.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH_DELIMITED = 2;
export const WIRE_FIXED32 = 5;

export function varintLength(value: number): number {
  let length = 1;
  let rest = value;
  while (rest >= 0x80) {
    rest = Math.floor(rest / 128);
    length += 1;
  }
  return length;
}

/** Writes a non-negative integer (< 2^53) as a varint at `offset`; returns the next offset. */
export function writeVarint(target: Buffer, offset: number, value: number): number {
  let rest = value;
  let at = offset;
  while (rest >= 0x80) {
    target[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  target[at++] = rest;
  return at;
}

export interface FieldVisitor {
  /** A varint field; values beyond 2^53 lose precision, which none of our fields reach. */
  varint?(field: number, value: number): void;
  bytes?(field: number, value: Buffer): void;
}

function malformed(message: string): SeamoonError {
  return new SeamoonError('BAD_REQUEST', `malformed protobuf message: ${message}`);
}

function readVarint(input: Buffer, offset: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let at = offset; at < input.length && at < offset + 10; at++) {
    const byte = input[at];
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return [value, at + 1];
  }
  throw malformed('truncated varint');
}

/**
 * Walks every field of a message, handing known wire types to the visitor and skipping the
 * rest, so a peer that adds fields stays compatible. Length-delimited values are views into
 * `input`, not copies.
 */
export function readFields(input: Buffer, visitor: FieldVisitor): void {
  let at = 0;
  while (at < input.length) {
    const [key, afterKey] = readVarint(input, at);
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) throw malformed('field number 0');
    at = afterKey;
    switch (wireType) {
      case WIRE_VARINT: {
        const [value, next] = readVarint(input, at);
        visitor.varint?.(field, value);
        at = next;
        break;
      }
      case WIRE_FIXED64:
        at += 8;
        break;
      case WIRE_FIXED32:
        at += 4;
        break;
      case WIRE_LENGTH_DELIMITED: {
        const [length, next] = readVarint(input, at);
        const end = next + length;
        if (end > input.length) throw malformed(`field ${field} runs past the end`);
        visitor.bytes?.(field, input.subarray(next, end));
        at = end;
        break;
      }
      default:
        throw malformed(`unsupported wire type ${wireType}`);
    }
    if (at > input.length) throw malformed('truncated fixed-width field');
  }
}

/** Accumulates fields in order; proto3 leaves out default values, so callers skip empties. */
export class MessageWriter {
  readonly #parts: Buffer[] = [];
  #length = 0;

  bytes(field: number, value: Buffer | string): this {
    const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (data.length === 0) return this;
    const key = field * 8 + WIRE_LENGTH_DELIMITED;
    const head = Buffer.allocUnsafe(varintLength(key) + varintLength(data.length));
    writeVarint(head, writeVarint(head, 0, key), data.length);
    this.#parts.push(head, data);
    this.#length += head.length + data.length;
    return this;
  }

  varint(field: number, value: number): this {
    if (value === 0) return this;
    const key = field * 8 + WIRE_VARINT;
    const part = Buffer.allocUnsafe(varintLength(key) + varintLength(value));
    writeVarint(part, writeVarint(part, 0, key), value);
    this.#parts.push(part);
    this.#length += part.length;
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts, this.#length);
  }
}
