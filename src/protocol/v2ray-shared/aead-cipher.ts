import { type CipherGCM, createCipheriv, createDecipheriv, type DecipherGCM } from 'node:crypto';
import { SeamoonError } from '../../core/errors.js';

export type AeadAlgorithm = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
export const AEAD_TAG = 16;

function cipherFor(algorithm: AeadAlgorithm, key: Buffer, nonce: Buffer): CipherGCM {
  return algorithm === 'chacha20-poly1305'
    ? (createCipheriv(algorithm, key, nonce, { authTagLength: AEAD_TAG }) as unknown as CipherGCM)
    : createCipheriv(algorithm, key, nonce, { authTagLength: AEAD_TAG });
}

function decipherFor(algorithm: AeadAlgorithm, key: Buffer, nonce: Buffer): DecipherGCM {
  return algorithm === 'chacha20-poly1305'
    ? (createDecipheriv(algorithm, key, nonce, { authTagLength: AEAD_TAG }) as unknown as DecipherGCM)
    : createDecipheriv(algorithm, key, nonce, { authTagLength: AEAD_TAG });
}

/** `ciphertext || tag`. */
export function aeadSeal(
  algorithm: AeadAlgorithm,
  key: Buffer,
  nonce: Buffer,
  plain: Buffer,
  aad?: Buffer,
): Buffer {
  const cipher = cipherFor(algorithm, key, nonce);
  if (aad) cipher.setAAD(aad);
  const body = cipher.update(plain);
  cipher.final();
  return Buffer.concat([body, cipher.getAuthTag()]);
}

/** Seals `plain` into `out` at `offset` as `ciphertext || tag`; returns the offset after it. */
export function aeadSealInto(
  algorithm: AeadAlgorithm,
  key: Buffer,
  nonce: Buffer,
  plain: Buffer,
  out: Buffer,
  offset: number,
): number {
  const cipher = cipherFor(algorithm, key, nonce);
  let at = offset + cipher.update(plain).copy(out, offset);
  at += cipher.final().copy(out, at);
  return at + cipher.getAuthTag().copy(out, at);
}

/** Opens `ciphertext || tag`; AUTH_FAILED (with `what` in the message) when the tag is wrong. */
export function aeadOpen(
  algorithm: AeadAlgorithm,
  key: Buffer,
  nonce: Buffer,
  sealed: Buffer,
  what: string,
  aad?: Buffer,
): Buffer {
  if (sealed.length < AEAD_TAG) throw new SeamoonError('AUTH_FAILED', `${what} shorter than its tag`);
  const decipher = decipherFor(algorithm, key, nonce);
  if (aad) decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG));
  const body = decipher.update(sealed.subarray(0, sealed.length - AEAD_TAG));
  try {
    decipher.final();
  } catch {
    throw new SeamoonError('AUTH_FAILED', `${what} failed authentication`);
  }
  return body;
}
