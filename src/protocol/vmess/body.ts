import { createHash } from 'node:crypto';
import { SeamoonError } from '../../core/errors.js';
import { type AeadAlgorithm, aeadOpen, aeadSeal, aeadSealInto } from '../v2ray-shared/aead-cipher.js';
import { ByteQueue } from '../v2ray-shared/byte-queue.js';
import type { StreamDecoder, StreamEncoder } from '../v2ray-shared/codec-duplex.js';
import { KdfSalt, kdf16 } from './kdf.js';

/** Security byte of the instruction (low nibble). */
export const VmessSecurity = { aes128gcm: 3, chacha20poly1305: 4, none: 5, zero: 6 } as const;
export type VmessSecurityCode = (typeof VmessSecurity)[keyof typeof VmessSecurity];

/** Option bits of the instruction. */
export const VmessOption = {
  chunkStream: 0x01,
  chunkMasking: 0x04,
  globalPadding: 0x08,
  authenticatedLength: 0x10,
};

export interface BodyParameters {
  security: VmessSecurityCode;
  options: number;
  key: Buffer;
  iv: Buffer;
  /** UDP: every chunk is one datagram. */
  packet: boolean;
}

const TAG = 16;
/** Largest chunk on the wire (length field value), as v2ray writes them. */
const MAX_CHUNK = 16_384;
const MAX_PADDING = 64;

/** SHAKE128(IV) as an endless mask source: 2 bytes per length field, 2 per padding length. */
class ShakeStream {
  readonly #seed: Buffer;
  #output = Buffer.alloc(0);
  #offset = 0;

  constructor(seed: Buffer) {
    this.#seed = seed;
  }

  next16(): number {
    if (this.#offset + 2 > this.#output.length) {
      // SHAKE output is a prefix of any longer output, so growing means recomputing longer.
      const length = Math.max(4096, this.#output.length * 2);
      this.#output = createHash('shake128', { outputLength: length }).update(this.#seed).digest();
    }
    const value = this.#output.readUInt16BE(this.#offset);
    this.#offset += 2;
    return value;
  }
}

interface ChunkAead {
  readonly overhead: number;
  seal(plain: Buffer): Buffer;
  /** Seals into `out` at `offset`; returns the offset after the sealed bytes. */
  sealInto(plain: Buffer, out: Buffer, offset: number): number;
  open(sealed: Buffer): Buffer;
}

/** `count(2 BE) | iv[2:12]`, a fresh counter per direction and per purpose. */
function nonceCounter(iv: Buffer): () => Buffer {
  let count = 0;
  return () => {
    const nonce = Buffer.from(iv.subarray(0, 12));
    nonce.writeUInt16BE(count & 0xffff, 0);
    count += 1;
    return nonce;
  };
}

function chachaKey(key: Buffer): Buffer {
  const first = createHash('md5').update(key).digest();
  return Buffer.concat([first, createHash('md5').update(first).digest()]);
}

function makeAead(security: VmessSecurityCode, key: Buffer, iv: Buffer): ChunkAead {
  if (security !== VmessSecurity.aes128gcm && security !== VmessSecurity.chacha20poly1305) {
    return {
      overhead: 0,
      seal: (plain) => plain,
      sealInto: (plain, out, offset) => offset + plain.copy(out, offset),
      open: (sealed) => sealed,
    };
  }
  const algorithm: AeadAlgorithm = security === VmessSecurity.aes128gcm ? 'aes-128-gcm' : 'chacha20-poly1305';
  const cipherKey = security === VmessSecurity.aes128gcm ? key : chachaKey(key);
  const nextNonce = nonceCounter(iv);
  return {
    overhead: TAG,
    seal: (plain) => aeadSeal(algorithm, cipherKey, nextNonce(), plain),
    sealInto: (plain, out, offset) => aeadSealInto(algorithm, cipherKey, nextNonce(), plain, out, offset),
    open: (sealed) => aeadOpen(algorithm, cipherKey, nextNonce(), sealed, 'VMess chunk'),
  };
}

interface SizeCodec {
  readonly bytes: number;
  encode(size: number): Buffer;
  decode(field: Buffer): number;
}

function makeSizeCodec(p: BodyParameters, shake: ShakeStream | undefined, overhead: number): SizeCodec {
  if (p.options & VmessOption.authenticatedLength) {
    const lengthKey = kdf16(p.key, KdfSalt.authenticatedLength);
    const aead = makeAead(p.security, lengthKey, p.iv);
    return {
      bytes: 2 + TAG,
      encode(size) {
        const field = Buffer.alloc(2);
        field.writeUInt16BE(size - overhead);
        return aead.seal(field);
      },
      decode(field) {
        return aead.open(field).readUInt16BE(0) + overhead;
      },
    };
  }
  const mask = shake && p.options & VmessOption.chunkMasking ? shake : undefined;
  return {
    bytes: 2,
    encode(size) {
      const field = Buffer.alloc(2);
      field.writeUInt16BE((size ^ (mask ? mask.next16() : 0)) & 0xffff);
      return field;
    },
    decode(field) {
      return (field.readUInt16BE(0) ^ (mask ? mask.next16() : 0)) & 0xffff;
    },
  };
}

/** How one direction of a VMess body is framed, derived from the instruction. */
class BodyFraming {
  readonly raw: boolean;
  /** `none` security over a stream: v2ray's ChunkStream (length | data, no tag, no padding). */
  readonly plainChunks: boolean;
  readonly aead: ChunkAead;
  readonly size: SizeCodec;
  readonly shake: ShakeStream | undefined;
  readonly padding: boolean;

  constructor(p: BodyParameters) {
    const chunked = (p.options & VmessOption.chunkStream) !== 0;
    this.raw = !chunked || p.security === VmessSecurity.zero;
    this.plainChunks = chunked && p.security === VmessSecurity.none && !p.packet;
    this.aead = makeAead(p.security, p.key, p.iv);
    const masking = (p.options & VmessOption.chunkMasking) !== 0;
    this.shake = masking ? new ShakeStream(p.iv) : undefined;
    this.padding = !this.plainChunks && masking && (p.options & VmessOption.globalPadding) !== 0;
    this.size = makeSizeCodec(p, this.shake, this.aead.overhead);
  }

  nextPadding(): number {
    return this.padding && this.shake ? this.shake.next16() % MAX_PADDING : 0;
  }
}

export class VmessBodyEncoder implements StreamEncoder {
  readonly #framing: BodyFraming;
  readonly #packet: boolean;
  #ended = false;

  constructor(p: BodyParameters) {
    this.#framing = new BodyFraming(p);
    this.#packet = p.packet;
  }

  encode(plain: Buffer): Buffer {
    const f = this.#framing;
    if (f.raw) return plain;
    const limit = this.#packet ? Math.max(plain.length, 1) : MAX_CHUNK - f.aead.overhead - MAX_PADDING;
    const chunks = Math.max(1, Math.ceil(plain.length / limit));
    // One allocation for the whole write: room for every length field, tag and padding.
    const out = Buffer.allocUnsafe(plain.length + chunks * (f.size.bytes + f.aead.overhead + MAX_PADDING));
    let at = 0;
    for (let i = 0; i < chunks; i++)
      at = this.#chunkInto(plain.subarray(i * limit, (i + 1) * limit), out, at);
    return out.subarray(0, at);
  }

  /** The empty chunk that tells the peer this direction is done. */
  end(): Buffer | undefined {
    if (this.#framing.raw || this.#ended) return undefined;
    this.#ended = true;
    const out = Buffer.allocUnsafe(this.#framing.size.bytes + this.#framing.aead.overhead + MAX_PADDING);
    return out.subarray(0, this.#chunkInto(Buffer.alloc(0), out, 0));
  }

  /** `size | sealed | padding` at `offset`; the padding length is drawn before the size mask, as v2ray does. */
  #chunkInto(plain: Buffer, out: Buffer, offset: number): number {
    const f = this.#framing;
    if (f.plainChunks) {
      const field = f.size.encode(plain.length);
      return plain.copy(out, offset + field.copy(out, offset)) + offset + field.length;
    }
    const padding = f.nextPadding();
    let at = offset + f.size.encode(plain.length + f.aead.overhead + padding).copy(out, offset);
    at = f.aead.sealInto(plain, out, at);
    if (padding > 0) out.fill(0, at, at + padding);
    return at + padding;
  }
}

export class VmessBodyDecoder implements StreamDecoder {
  readonly #framing: BodyFraming;
  readonly #queue = new ByteQueue();
  /** Length (and padding) of the chunk whose length field was already consumed. */
  #current: { size: number; padding: number } | undefined;
  #ended = false;

  constructor(p: BodyParameters) {
    this.#framing = new BodyFraming(p);
  }

  get ended(): boolean {
    return this.#ended;
  }

  decode(wire: Buffer): Buffer[] {
    const f = this.#framing;
    if (f.raw) return [wire];
    if (this.#ended) return [];
    const queue = this.#queue;
    queue.push(wire);
    const out: Buffer[] = [];
    for (;;) {
      if (!this.#current) {
        if (queue.length < f.size.bytes) break;
        const padding = f.nextPadding();
        const size = f.size.decode(queue.take(f.size.bytes));
        if (f.plainChunks ? size === 0 : size === f.aead.overhead + padding) {
          this.#ended = true;
          break;
        }
        if (size < padding + f.aead.overhead)
          throw new SeamoonError('AUTH_FAILED', 'VMess chunk size invalid');
        this.#current = { size, padding };
      }
      const { size, padding } = this.#current;
      if (queue.length < size) break;
      const body = queue.take(size).subarray(0, size - padding);
      this.#current = undefined;
      out.push(f.plainChunks ? body : f.aead.open(body));
    }
    return out;
  }
}
