import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';

/**
 * VMess key derivation (v2fly `proxy/vmess/aead/kdf.go`). The KDF is a chain of HMACs where
 * each path element keys an HMAC whose *hash function* is the previous HMAC; the root is
 * HMAC-SHA256 keyed with "VMess AEAD KDF".
 */
const KDF_ROOT_KEY = Buffer.from('VMess AEAD KDF');
const BLOCK_SIZE = 64;

type HashFn = (data: Buffer) => Buffer;

const rootHash: HashFn = (data) => createHmac('sha256', KDF_ROOT_KEY).update(data).digest();

/** HMAC over an arbitrary hash function (RFC 2104), block size 64 like SHA-256. */
function hmacOver(hash: HashFn, keyInput: Buffer): HashFn {
  const key = Buffer.alloc(BLOCK_SIZE);
  (keyInput.length > BLOCK_SIZE ? hash(keyInput) : keyInput).copy(key);
  const inner = Buffer.alloc(BLOCK_SIZE);
  const outer = Buffer.alloc(BLOCK_SIZE);
  for (let i = 0; i < BLOCK_SIZE; i++) {
    inner[i] = key[i] ^ 0x36;
    outer[i] = key[i] ^ 0x5c;
  }
  return (data) => hash(Buffer.concat([outer, hash(Buffer.concat([inner, data]))]));
}

export type KdfPathElement = string | Buffer;

export function kdf(key: Buffer, ...path: KdfPathElement[]): Buffer {
  let hash = rootHash;
  for (const element of path)
    hash = hmacOver(hash, typeof element === 'string' ? Buffer.from(element) : element);
  return hash(key);
}

export const kdf16 = (key: Buffer, ...path: KdfPathElement[]): Buffer => kdf(key, ...path).subarray(0, 16);
export const kdf12 = (key: Buffer, ...path: KdfPathElement[]): Buffer => kdf(key, ...path).subarray(0, 12);

export const KdfSalt = {
  authIdEncryption: 'AES Auth ID Encryption',
  headerLengthKey: 'VMess Header AEAD Key_Length',
  headerLengthNonce: 'VMess Header AEAD Nonce_Length',
  headerKey: 'VMess Header AEAD Key',
  headerNonce: 'VMess Header AEAD Nonce',
  responseLengthKey: 'AEAD Resp Header Len Key',
  responseLengthIv: 'AEAD Resp Header Len IV',
  responseKey: 'AEAD Resp Header Key',
  responseIv: 'AEAD Resp Header IV',
  authenticatedLength: 'auth_len',
} as const;

/** `MD5(uuid bytes || "c48619fe-8f02-49e0-b9e9-edf763e17e21")`. */
export function cmdKey(uuid: Buffer): Buffer {
  return createHash('md5').update(uuid).update('c48619fe-8f02-49e0-b9e9-edf763e17e21').digest();
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE), as in the auth ID. */
export function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** FNV-1a 32-bit, the checksum at the end of the request instruction. */
export function fnv1a32(data: Buffer): number {
  let hash = 0x811c9dc5;
  for (const byte of data) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash >>> 0;
}

/** Plaintext auth ID: `ts(u64 BE) | rand(4) | crc32(first 12)`, AES-128-ECB under KDF(cmdKey). */
export function createAuthId(key: Buffer, unixSeconds: number, random: Buffer): Buffer {
  const plain = Buffer.alloc(16);
  plain.writeBigUInt64BE(BigInt(unixSeconds), 0);
  random.copy(plain, 8, 0, 4);
  plain.writeUInt32BE(crc32(plain.subarray(0, 12)), 12);
  const cipher = createCipheriv('aes-128-ecb', kdf16(key, KdfSalt.authIdEncryption), null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()]);
}

/** The timestamp inside an auth ID, or undefined when the CRC does not match this key. */
export function openAuthId(authIdKey: Buffer, authId: Buffer): number | undefined {
  const decipher = createDecipheriv('aes-128-ecb', authIdKey, null);
  decipher.setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(authId), decipher.final()]);
  if (crc32(plain.subarray(0, 12)) !== plain.readUInt32BE(12)) return undefined;
  return Number(plain.readBigUInt64BE(0));
}
