import type { Target } from '../core/address.js';
import { hostKind } from '../core/address.js';
import { SeamoonError } from '../core/errors.js';
import { bytesToIpv4, bytesToIpv6, ipv4ToBytes, ipv6ToBytes } from './ip-bytes.js';

/**
 * SOCKS5 wire codec (RFC 1928, RFC 1929) plus the gost/SeaMoon UDP frame extension.
 * Pure functions over Buffers: the handlers decide how many bytes to read.
 */

export const SOCKS_VERSION = 0x05;
export const USERPASS_VERSION = 0x01;

export const Method = {
  NO_AUTH: 0x00,
  GSSAPI: 0x01,
  USER_PASS: 0x02,
  NO_ACCEPTABLE: 0xff,
} as const;

export const Command = {
  CONNECT: 0x01,
  BIND: 0x02,
  UDP_ASSOCIATE: 0x03,
} as const;

export const AddressType = {
  IPV4: 0x01,
  DOMAIN: 0x03,
  IPV6: 0x04,
} as const;

export const Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_NOT_SUPPORTED: 0x08,
} as const;

const UNSPECIFIED: Target = { host: '0.0.0.0', port: 0 };

function truncated(what: string): SeamoonError {
  return new SeamoonError('BAD_REQUEST', `truncated SOCKS5 ${what}`);
}

// ---------------------------------------------------------------- addresses

/** `ATYP ADDR PORT` for a target; domains longer than 255 bytes are refused. */
export function encodeAddress(target: Target): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(target.port);
  switch (hostKind(target.host)) {
    case 'ipv4':
      return Buffer.concat([Buffer.from([AddressType.IPV4]), ipv4ToBytes(target.host), port]);
    case 'ipv6':
      return Buffer.concat([Buffer.from([AddressType.IPV6]), ipv6ToBytes(target.host), port]);
    default: {
      const name = Buffer.from(target.host, 'utf8');
      if (name.length === 0 || name.length > 255)
        throw new SeamoonError('BAD_ADDRESS', 'domain name must be 1..255 bytes');
      return Buffer.concat([Buffer.from([AddressType.DOMAIN, name.length]), name, port]);
    }
  }
}

/**
 * Length of the `ATYP ADDR PORT` block starting at `offset`, or undefined when more bytes are
 * needed to tell (domain length byte not yet there). Unknown ATYP → UNSUPPORTED_ADDRESS.
 */
export function addressLength(buf: Buffer, offset = 0): number | undefined {
  if (buf.length <= offset) return undefined;
  switch (buf[offset]) {
    case AddressType.IPV4:
      return 1 + 4 + 2;
    case AddressType.IPV6:
      return 1 + 16 + 2;
    case AddressType.DOMAIN:
      return buf.length > offset + 1 ? 1 + 1 + buf[offset + 1] + 2 : undefined;
    default:
      throw new SeamoonError('UNSUPPORTED_ADDRESS', `unsupported SOCKS5 address type ${buf[offset]}`);
  }
}

export interface DecodedAddress {
  target: Target;
  /** Bytes consumed, ATYP through PORT. */
  length: number;
}

export function decodeAddress(buf: Buffer, offset = 0): DecodedAddress {
  const length = addressLength(buf, offset);
  if (length === undefined || buf.length < offset + length) throw truncated('address');
  const portAt = offset + length - 2;
  const port = buf.readUInt16BE(portAt);
  let host: string;
  switch (buf[offset]) {
    case AddressType.IPV4:
      host = bytesToIpv4(buf.subarray(offset + 1, offset + 5));
      break;
    case AddressType.IPV6:
      host = bytesToIpv6(buf.subarray(offset + 1, offset + 17));
      break;
    default:
      host = buf.toString('utf8', offset + 2, portAt);
      if (host.length === 0) throw new SeamoonError('BAD_ADDRESS', 'empty SOCKS5 domain name');
  }
  return { target: { host, port }, length };
}

// ---------------------------------------------------------------- negotiation

export function encodeGreeting(methods: readonly number[]): Buffer {
  if (methods.length === 0 || methods.length > 255) throw new SeamoonError('BAD_REQUEST', 'bad method list');
  return Buffer.from([SOCKS_VERSION, methods.length, ...methods]);
}

export function decodeGreeting(buf: Buffer): { methods: number[]; length: number } {
  if (buf.length < 2) throw truncated('greeting');
  if (buf[0] !== SOCKS_VERSION) throw new SeamoonError('BAD_REQUEST', `not SOCKS5 (version ${buf[0]})`);
  const length = 2 + buf[1];
  if (buf.length < length) throw truncated('greeting');
  return { methods: [...buf.subarray(2, length)], length };
}

export function encodeMethodSelection(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

export function decodeMethodSelection(buf: Buffer): number {
  if (buf.length < 2) throw truncated('method selection');
  if (buf[0] !== SOCKS_VERSION) throw new SeamoonError('BAD_REQUEST', `not SOCKS5 (version ${buf[0]})`);
  return buf[1];
}

// ---------------------------------------------------------------- RFC 1929

export interface UserPass {
  username: string;
  password: string;
}

export function encodeUserPassRequest(credentials: UserPass): Buffer {
  const user = Buffer.from(credentials.username, 'utf8');
  const pass = Buffer.from(credentials.password, 'utf8');
  if (user.length === 0 || user.length > 255 || pass.length > 255)
    throw new SeamoonError('BAD_REQUEST', 'username must be 1..255 bytes and password ≤ 255 bytes');
  return Buffer.concat([
    Buffer.from([USERPASS_VERSION, user.length]),
    user,
    Buffer.from([pass.length]),
    pass,
  ]);
}

/** Raw bytes are returned too, so the caller can compare them in constant time. */
export function decodeUserPassRequest(buf: Buffer): { username: Buffer; password: Buffer; length: number } {
  if (buf.length < 2) throw truncated('auth request');
  if (buf[0] !== USERPASS_VERSION) throw new SeamoonError('BAD_REQUEST', `bad auth version ${buf[0]}`);
  const ulen = buf[1];
  if (buf.length < 3 + ulen) throw truncated('auth request');
  const plen = buf[2 + ulen];
  const length = 3 + ulen + plen;
  if (buf.length < length) throw truncated('auth request');
  return { username: buf.subarray(2, 2 + ulen), password: buf.subarray(3 + ulen, length), length };
}

export function encodeUserPassResponse(status: number): Buffer {
  return Buffer.from([USERPASS_VERSION, status]);
}

export function decodeUserPassResponse(buf: Buffer): number {
  if (buf.length < 2) throw truncated('auth response');
  return buf[1];
}

// ---------------------------------------------------------------- request / reply

export interface SocksRequest {
  command: number;
  target: Target;
  length: number;
}

export function encodeRequest(command: number, target: Target): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, command, 0x00]), encodeAddress(target)]);
}

export function decodeRequest(buf: Buffer): SocksRequest {
  if (buf.length < 4) throw truncated('request');
  if (buf[0] !== SOCKS_VERSION) throw new SeamoonError('BAD_REQUEST', `not SOCKS5 (version ${buf[0]})`);
  const address = decodeAddress(buf, 3);
  return { command: buf[1], target: address.target, length: 3 + address.length };
}

export function encodeReply(reply: number, bound: Target = UNSPECIFIED): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, reply, 0x00]), encodeAddress(bound)]);
}

export interface SocksReply {
  reply: number;
  bound: Target;
  length: number;
}

export function decodeReply(buf: Buffer): SocksReply {
  if (buf.length < 4) throw truncated('reply');
  if (buf[0] !== SOCKS_VERSION) throw new SeamoonError('BAD_REQUEST', `not SOCKS5 (version ${buf[0]})`);
  const address = decodeAddress(buf, 3);
  return { reply: buf[1], bound: address.target, length: 3 + address.length };
}

// ---------------------------------------------------------------- UDP frames

export interface UdpFrame {
  target: Target;
  payload: Buffer;
  frag: number;
}

/**
 * `RSV(2) FRAG ATYP ADDR PORT DATA`. With `lengthPrefixed` RSV carries the payload length
 * (gost "UDP over TCP" style, what a SeaMoon server sends back); otherwise RSV = 0 (RFC 1928).
 */
export function encodeUdpFrame(
  frame: { target: Target; payload: Buffer; frag?: number },
  lengthPrefixed = false,
) {
  if (lengthPrefixed && frame.payload.length > 0xffff)
    throw new SeamoonError('BAD_REQUEST', 'UDP payload too large for a length-prefixed frame');
  const head = Buffer.alloc(3);
  head.writeUInt16BE(lengthPrefixed ? frame.payload.length : 0, 0);
  head[2] = frame.frag ?? 0;
  return Buffer.concat([head, encodeAddress(frame.target), frame.payload]);
}

/**
 * Total frame length if it can be told from the bytes so far (needs RSV ≠ 0 to be known from the
 * header alone; RSV = 0 means "the rest of the message", so undefined is returned).
 */
export function udpFrameLength(buf: Buffer): number | undefined {
  if (buf.length < 5) return undefined;
  const declared = buf.readUInt16BE(0);
  const addrLength = addressLength(buf, 3);
  if (addrLength === undefined || declared === 0) return undefined;
  return 3 + addrLength + declared;
}

/** Decodes one datagram message; RSV = 0 → payload is the rest, RSV = n → exactly n bytes. */
export function decodeUdpFrame(buf: Buffer): UdpFrame & { length: number } {
  if (buf.length < 5) throw truncated('UDP frame');
  const declared = buf.readUInt16BE(0);
  const frag = buf[2];
  const address = decodeAddress(buf, 3);
  const start = 3 + address.length;
  const end = declared === 0 ? buf.length : start + declared;
  if (end > buf.length) throw truncated('UDP frame');
  return { target: address.target, frag, payload: buf.subarray(start, end), length: end };
}
