import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { SeamoonError } from '../../core/errors.js';
import { type AeadAlgorithm, aeadOpen, aeadSeal, aeadSealInto } from '../v2ray-shared/aead-cipher.js';
import { ByteQueue } from '../v2ray-shared/byte-queue.js';
import type { StreamDecoder, StreamEncoder } from '../v2ray-shared/codec-duplex.js';

/**
 * Shadowsocks AEAD (SIP004, shadowsocks-org `doc/aead.md`):
 * `salt | [enc(len u16 BE ≤ 0x3FFF) tag] [enc(payload) tag] …`, subkey = HKDF-SHA1(master, salt,
 * "ss-subkey"), nonce = little-endian counter incremented after every seal/open.
 */
export interface SsCipherSpec {
  name: SsCipherName;
  algorithm: AeadAlgorithm;
  keySize: number;
  saltSize: number;
}

export type SsCipherName = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-ietf-poly1305';

const SPECS: Record<SsCipherName, SsCipherSpec> = {
  'aes-128-gcm': { name: 'aes-128-gcm', algorithm: 'aes-128-gcm', keySize: 16, saltSize: 16 },
  'aes-256-gcm': { name: 'aes-256-gcm', algorithm: 'aes-256-gcm', keySize: 32, saltSize: 32 },
  'chacha20-ietf-poly1305': {
    name: 'chacha20-ietf-poly1305',
    algorithm: 'chacha20-poly1305',
    keySize: 32,
    saltSize: 32,
  },
};

export const SS_CIPHER_NAMES = Object.keys(SPECS) as SsCipherName[];

/** Accepts the names v2ray and the SIP002 links use, including `chacha20-poly1305`. */
export function ssCipherSpec(name: string): SsCipherSpec {
  const normalized = name.trim().toLowerCase();
  const alias = normalized === 'chacha20-poly1305' ? 'chacha20-ietf-poly1305' : normalized;
  const spec = SPECS[alias as SsCipherName];
  if (!spec) {
    throw new SeamoonError(
      'BAD_REQUEST',
      `unsupported Shadowsocks cipher "${name}" (use ${SS_CIPHER_NAMES.join(', ')})`,
    );
  }
  return spec;
}

/** OpenSSL EVP_BytesToKey with MD5 and no salt: D_i = MD5(D_{i-1} || password). */
export function evpBytesToKey(password: string, keySize: number): Buffer {
  const secret = Buffer.from(password, 'utf8');
  const parts: Buffer[] = [];
  let total = 0;
  let previous = Buffer.alloc(0);
  while (total < keySize) {
    previous = createHash('md5').update(previous).update(secret).digest();
    parts.push(previous);
    total += previous.length;
  }
  return Buffer.concat(parts).subarray(0, keySize);
}

export function ssSubkey(masterKey: Buffer, salt: Buffer, keySize: number): Buffer {
  return Buffer.from(hkdfSync('sha1', masterKey, salt, 'ss-subkey', keySize));
}

export const SS_TAG = 16;
export const SS_MAX_PAYLOAD = 0x3fff;

/** One direction's AEAD with its nonce counter. */
export class SsAead {
  readonly #spec: SsCipherSpec;
  readonly #key: Buffer;
  readonly #nonce = Buffer.alloc(12);

  constructor(spec: SsCipherSpec, masterKey: Buffer, salt: Buffer) {
    this.#spec = spec;
    this.#key = ssSubkey(masterKey, salt, spec.keySize);
  }

  seal(plain: Buffer): Buffer {
    const sealed = aeadSeal(this.#spec.algorithm, this.#key, this.#nonce, plain);
    this.#increment();
    return sealed;
  }

  /** Seals into `out` at `offset`; returns the offset after the sealed bytes. */
  sealInto(plain: Buffer, out: Buffer, offset: number): number {
    const end = aeadSealInto(this.#spec.algorithm, this.#key, this.#nonce, plain, out, offset);
    this.#increment();
    return end;
  }

  open(sealed: Buffer): Buffer {
    const plain = aeadOpen(this.#spec.algorithm, this.#key, this.#nonce, sealed, 'Shadowsocks chunk');
    this.#increment();
    return plain;
  }

  #increment(): void {
    for (let i = 0; i < this.#nonce.length; i++) {
      this.#nonce[i] = (this.#nonce[i] + 1) & 0xff;
      if (this.#nonce[i] !== 0) break;
    }
  }
}

/** Writes our salt first, then length/payload chunk pairs. */
export class SsStreamEncoder implements StreamEncoder {
  readonly #aead: SsAead;
  #salt: Buffer | undefined;

  constructor(spec: SsCipherSpec, masterKey: Buffer, salt = randomBytes(spec.saltSize)) {
    this.#aead = new SsAead(spec, masterKey, salt);
    this.#salt = salt;
  }

  encode(plain: Buffer): Buffer {
    const salt = this.#salt;
    this.#salt = undefined;
    const chunks = Math.max(1, Math.ceil(plain.length / SS_MAX_PAYLOAD));
    // One allocation per write: salt (first time), then `len+tag | payload+tag` per chunk.
    const out = Buffer.allocUnsafe((salt?.length ?? 0) + plain.length + chunks * (2 + 2 * SS_TAG));
    let at = salt ? salt.copy(out, 0) : 0;
    const length = Buffer.alloc(2);
    for (let offset = 0; offset < plain.length; offset += SS_MAX_PAYLOAD) {
      const piece = plain.subarray(offset, offset + SS_MAX_PAYLOAD);
      length.writeUInt16BE(piece.length);
      at = this.#aead.sealInto(length, out, at);
      at = this.#aead.sealInto(piece, out, at);
    }
    return out.subarray(0, at);
  }
}

/** Reads the peer's salt (unless given), then length/payload chunk pairs. */
export class SsStreamDecoder implements StreamDecoder {
  readonly #spec: SsCipherSpec;
  readonly #masterKey: Buffer;
  readonly #queue = new ByteQueue();
  #aead: SsAead | undefined;
  #payloadLength = -1;

  constructor(spec: SsCipherSpec, masterKey: Buffer, aead?: SsAead) {
    this.#spec = spec;
    this.#masterKey = masterKey;
    this.#aead = aead;
  }

  decode(wire: Buffer): Buffer[] {
    const queue = this.#queue;
    queue.push(wire);
    if (!this.#aead) {
      if (queue.length < this.#spec.saltSize) return [];
      this.#aead = new SsAead(this.#spec, this.#masterKey, queue.take(this.#spec.saltSize));
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.#payloadLength < 0) {
        if (queue.length < 2 + SS_TAG) break;
        this.#payloadLength = this.#aead.open(queue.take(2 + SS_TAG)).readUInt16BE(0) & SS_MAX_PAYLOAD;
      }
      if (queue.length < this.#payloadLength + SS_TAG) break;
      out.push(this.#aead.open(queue.take(this.#payloadLength + SS_TAG)));
      this.#payloadLength = -1;
    }
    return out;
  }
}
