import { SeamoonError } from '../../core/errors.js';
import { ByteQueue } from './byte-queue.js';
import type { StreamDecoder } from './codec-duplex.js';

/** `len(2 BE) | payload`: how VLESS carries UDP datagrams over a byte stream. */
export function encodeLengthPrefixed(payload: Buffer): Buffer {
  if (payload.length > 0xffff) throw new SeamoonError('BAD_REQUEST', 'datagram larger than 65535 bytes');
  const head = Buffer.alloc(2);
  head.writeUInt16BE(payload.length);
  return Buffer.concat([head, payload]);
}

/** Splits a byte stream back into datagrams, keeping a partial one across calls. */
export class LengthPrefixedDecoder implements StreamDecoder {
  readonly #queue = new ByteQueue();
  #next = -1;

  decode(wire: Buffer): Buffer[] {
    this.#queue.push(wire);
    const out: Buffer[] = [];
    for (;;) {
      if (this.#next < 0) {
        if (this.#queue.length < 2) break;
        this.#next = this.#queue.take(2).readUInt16BE(0);
      }
      if (this.#queue.length < this.#next) break;
      out.push(this.#queue.take(this.#next));
      this.#next = -1;
    }
    return out;
  }
}
