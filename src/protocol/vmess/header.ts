import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Target } from '../../core/address.js';
import { SeamoonError } from '../../core/errors.js';
import { encodePortThenAddress, parsePortThenAddress } from '../v2ray-shared/address.js';
import { aeadOpen, aeadSeal } from '../v2ray-shared/aead-cipher.js';
import type { StreamDecoder } from '../v2ray-shared/codec-duplex.js';
import type { ReplayFilter } from '../v2ray-shared/replay-filter.js';
import type { StreamReader } from '../v2ray-shared/stream-reader.js';
import type { VmessBodyDecoder, VmessSecurityCode } from './body.js';
import { cmdKey, createAuthId, fnv1a32, KdfSalt, kdf12, kdf16, openAuthId } from './kdf.js';

/** Auth IDs older or newer than this are refused (v2fly: 120 s). */
export const AUTH_ID_WINDOW_S = 120;

export const VmessCommand = { tcp: 1, udp: 2, mux: 3 } as const;
export type VmessCommandCode = (typeof VmessCommand)[keyof typeof VmessCommand];

export interface VmessInstruction {
  iv: Buffer;
  key: Buffer;
  responseAuth: number;
  options: number;
  security: VmessSecurityCode;
  command: VmessCommandCode;
  target: Target;
}

export interface VmessUser {
  cmdKey: Buffer;
  authIdKey: Buffer;
}

export function vmessUser(uuid: Buffer): VmessUser {
  const key = cmdKey(uuid);
  return { cmdKey: key, authIdKey: kdf16(key, KdfSalt.authIdEncryption) };
}

function gcmSeal(key: Buffer, nonce: Buffer, plain: Buffer, aad?: Buffer): Buffer {
  return aeadSeal('aes-128-gcm', key, nonce, plain, aad);
}

function gcmOpen(key: Buffer, nonce: Buffer, sealed: Buffer, aad?: Buffer): Buffer {
  return aeadOpen('aes-128-gcm', key, nonce, sealed, 'VMess header', aad);
}

export function encodeInstruction(i: VmessInstruction): Buffer {
  const paddingLength = randomInt(0, 16);
  const head = Buffer.concat([
    Buffer.from([1]),
    i.iv,
    i.key,
    Buffer.from([i.responseAuth, i.options, (paddingLength << 4) | i.security, 0, i.command]),
    encodePortThenAddress(i.target),
    randomBytes(paddingLength),
  ]);
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32BE(fnv1a32(head));
  return Buffer.concat([head, checksum]);
}

export function decodeInstruction(plain: Buffer): VmessInstruction {
  if (plain.length < 41 + 4) throw new SeamoonError('BAD_REQUEST', 'VMess instruction too short');
  const body = plain.subarray(0, plain.length - 4);
  if (fnv1a32(body) !== plain.readUInt32BE(plain.length - 4)) {
    throw new SeamoonError('AUTH_FAILED', 'VMess instruction checksum mismatch');
  }
  if (plain[0] !== 1) throw new SeamoonError('BAD_REQUEST', `VMess instruction version ${plain[0]}`);
  const paddingLength = plain[35] >> 4;
  const security = (plain[35] & 0x0f) as VmessSecurityCode;
  if (security < 3 || security > 6)
    throw new SeamoonError('BAD_REQUEST', `unsupported VMess security ${security}`);
  const command = plain[37] as VmessCommandCode;
  if (command === VmessCommand.mux)
    throw new SeamoonError('UNSUPPORTED_COMMAND', 'VMess mux is not supported');
  if (command !== VmessCommand.tcp && command !== VmessCommand.udp) {
    throw new SeamoonError('UNSUPPORTED_COMMAND', `unknown VMess command ${command}`);
  }
  const { target, next } = parsePortThenAddress(body, 38);
  if (next + paddingLength !== body.length)
    throw new SeamoonError('BAD_REQUEST', 'VMess instruction length mismatch');
  return {
    iv: Buffer.from(plain.subarray(1, 17)),
    key: Buffer.from(plain.subarray(17, 33)),
    responseAuth: plain[33],
    options: plain[34],
    security,
    command,
    target,
  };
}

/** `EAuID | enc(len) | nonce | enc(instruction)` (client side). */
export function sealRequestHeader(
  user: VmessUser,
  instruction: Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): Buffer {
  const authId = createAuthId(user.cmdKey, nowSeconds, randomBytes(4));
  const nonce = randomBytes(8);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(instruction.length);
  const sealedLength = gcmSeal(
    kdf16(user.cmdKey, KdfSalt.headerLengthKey, authId, nonce),
    kdf12(user.cmdKey, KdfSalt.headerLengthNonce, authId, nonce),
    length,
    authId,
  );
  const sealedInstruction = gcmSeal(
    kdf16(user.cmdKey, KdfSalt.headerKey, authId, nonce),
    kdf12(user.cmdKey, KdfSalt.headerNonce, authId, nonce),
    instruction,
    authId,
  );
  return Buffer.concat([authId, sealedLength, nonce, sealedInstruction]);
}

export interface OpenedRequest {
  userIndex: number;
  instruction: VmessInstruction;
}

/**
 * Server side: identifies the user by the auth ID (CRC match under each user's key), checks
 * the time window and the replay filter, then opens the header. Every failure is
 * AUTH_FAILED/BAD_REQUEST and must be answered without an oracle.
 */
export async function readRequestHeader(
  reader: StreamReader,
  users: readonly VmessUser[],
  replay: ReplayFilter,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<OpenedRequest> {
  const authId = await reader.read(16);
  let userIndex = -1;
  for (let i = 0; i < users.length; i++) {
    const timestamp = openAuthId(users[i].authIdKey, authId);
    if (timestamp === undefined) continue;
    if (Math.abs(timestamp - nowSeconds) > AUTH_ID_WINDOW_S) {
      throw new SeamoonError('AUTH_FAILED', 'VMess auth ID outside the time window');
    }
    userIndex = i;
    break;
  }
  if (userIndex < 0) throw new SeamoonError('AUTH_FAILED', 'unknown VMess user');
  if (!replay.checkAndAdd(authId)) throw new SeamoonError('AUTH_FAILED', 'replayed VMess auth ID');
  const key = users[userIndex].cmdKey;
  const sealedLength = await reader.read(18);
  const nonce = await reader.read(8);
  const length = gcmOpen(
    kdf16(key, KdfSalt.headerLengthKey, authId, nonce),
    kdf12(key, KdfSalt.headerLengthNonce, authId, nonce),
    sealedLength,
    authId,
  ).readUInt16BE(0);
  const sealed = await reader.read(length + 16);
  const plain = gcmOpen(
    kdf16(key, KdfSalt.headerKey, authId, nonce),
    kdf12(key, KdfSalt.headerNonce, authId, nonce),
    sealed,
    authId,
  );
  return { userIndex, instruction: decodeInstruction(plain) };
}

/** Response body key and IV: the first 16 bytes of SHA-256 of the request's. */
export function responseKeys(instruction: Pick<VmessInstruction, 'key' | 'iv'>): { key: Buffer; iv: Buffer } {
  return {
    key: createHash('sha256').update(instruction.key).digest().subarray(0, 16),
    iv: createHash('sha256').update(instruction.iv).digest().subarray(0, 16),
  };
}

/** `enc(len=4) | enc(respV | opt=0 | cmd=0 | cmdLen=0)` (server side). */
export function sealResponseHeader(responseAuth: number, keys: { key: Buffer; iv: Buffer }): Buffer {
  const header = Buffer.from([responseAuth, 0, 0, 0]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(header.length);
  return Buffer.concat([
    gcmSeal(kdf16(keys.key, KdfSalt.responseLengthKey), kdf12(keys.iv, KdfSalt.responseLengthIv), length),
    gcmSeal(kdf16(keys.key, KdfSalt.responseKey), kdf12(keys.iv, KdfSalt.responseIv), header),
  ]);
}

/** Client side: opens the response header, then decodes the response body. */
export class VmessResponseDecoder implements StreamDecoder {
  readonly #responseAuth: number;
  readonly #keys: { key: Buffer; iv: Buffer };
  readonly #body: VmessBodyDecoder;
  #pending: Buffer | undefined = Buffer.alloc(0);
  #headerLength = -1;

  constructor(responseAuth: number, keys: { key: Buffer; iv: Buffer }, body: VmessBodyDecoder) {
    this.#responseAuth = responseAuth;
    this.#keys = keys;
    this.#body = body;
  }

  get ended(): boolean {
    return this.#body.ended;
  }

  decode(wire: Buffer): Buffer[] {
    if (this.#pending === undefined) return this.#body.decode(wire);
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, wire]) : wire;
    if (this.#headerLength < 0) {
      if (buf.length < 18) {
        this.#pending = buf;
        return [];
      }
      this.#headerLength = gcmOpen(
        kdf16(this.#keys.key, KdfSalt.responseLengthKey),
        kdf12(this.#keys.iv, KdfSalt.responseLengthIv),
        buf.subarray(0, 18),
      ).readUInt16BE(0);
      buf = buf.subarray(18);
    }
    if (buf.length < this.#headerLength + 16) {
      this.#pending = buf;
      return [];
    }
    const header = gcmOpen(
      kdf16(this.#keys.key, KdfSalt.responseKey),
      kdf12(this.#keys.iv, KdfSalt.responseIv),
      buf.subarray(0, this.#headerLength + 16),
    );
    if (header[0] !== this.#responseAuth)
      throw new SeamoonError('AUTH_FAILED', 'VMess response does not match');
    this.#pending = undefined;
    return this.#body.decode(buf.subarray(this.#headerLength + 16));
  }
}
