import { isIPv4, isIPv6 } from 'node:net';
import { hostKind, type Target } from '../../core/address.js';
import { SeamoonError } from '../../core/errors.js';
import type { StreamReader } from './stream-reader.js';

/**
 * Two address layouts share these helpers:
 * - VLESS/VMess: `port(2 BE) | type(1: 1 IPv4, 2 domain, 3 IPv6) | addr`
 * - Shadowsocks (SOCKS5 style): `type(1: 1 IPv4, 3 domain, 4 IPv6) | addr | port(2 BE)`
 */
export interface AddressTypes {
  ipv4: number;
  domain: number;
  ipv6: number;
}

export const V2RAY_ADDRESS_TYPES: AddressTypes = { ipv4: 1, domain: 2, ipv6: 3 };
export const SOCKS_ADDRESS_TYPES: AddressTypes = { ipv4: 1, domain: 3, ipv6: 4 };

export function encodeHost(host: string, types: AddressTypes): Buffer {
  switch (hostKind(host)) {
    case 'ipv4':
      return Buffer.from([types.ipv4, ...host.split('.').map(Number)]);
    case 'ipv6':
      return Buffer.concat([Buffer.from([types.ipv6]), ipv6ToBytes(host)]);
    default: {
      const name = Buffer.from(host, 'utf8');
      if (name.length === 0 || name.length > 255) {
        throw new SeamoonError('BAD_ADDRESS', 'domain name must be 1..255 bytes');
      }
      return Buffer.concat([Buffer.from([types.domain, name.length]), name]);
    }
  }
}

function portBytes(port: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(port);
  return out;
}

/** VLESS/VMess: port first. */
export function encodePortThenAddress(target: Target): Buffer {
  return Buffer.concat([portBytes(target.port), encodeHost(target.host, V2RAY_ADDRESS_TYPES)]);
}

/** Shadowsocks: SOCKS5 address then port. */
export function encodeSocksAddress(target: Target): Buffer {
  return Buffer.concat([encodeHost(target.host, SOCKS_ADDRESS_TYPES), portBytes(target.port)]);
}

export function ipv6ToBytes(host: string): Buffer {
  if (!isIPv6(host)) throw new SeamoonError('BAD_ADDRESS', 'not an IPv6 literal');
  let text = host;
  const v4Tail = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4Tail && isIPv4(v4Tail[1])) {
    const [a, b, c, d] = v4Tail[1].split('.').map(Number);
    text = `${text.slice(0, -v4Tail[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups =
    tail === undefined ? headGroups : [...headGroups, ...Array(missing).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(groups[i] ?? '0', 16), i * 2);
  return out;
}

export function bytesToIpv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser prints IPv6 in its canonical (RFC 5952) form.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function decodeHostBody(type: number, body: Buffer, types: AddressTypes): string {
  if (type === types.ipv4) return Array.from(body).join('.');
  if (type === types.ipv6) return bytesToIpv6(body);
  const name = body.toString('utf8');
  if (name.length === 0) throw new SeamoonError('BAD_ADDRESS', 'empty domain name');
  return name;
}

/** Reads `port | type | addr` from a stream (VLESS/VMess request headers). */
export async function readPortThenAddress(reader: StreamReader): Promise<Target> {
  const head = await reader.read(3);
  const port = head.readUInt16BE(0);
  const type = head[2];
  let body: Buffer;
  if (type === V2RAY_ADDRESS_TYPES.ipv4) body = await reader.read(4);
  else if (type === V2RAY_ADDRESS_TYPES.ipv6) body = await reader.read(16);
  else if (type === V2RAY_ADDRESS_TYPES.domain) body = await reader.read((await reader.read(1))[0]);
  else throw new SeamoonError('UNSUPPORTED_ADDRESS', `unknown address type ${type}`);
  return { host: decodeHostBody(type, body, V2RAY_ADDRESS_TYPES), port };
}

/** Parses `port | type | addr` at `offset` of a complete buffer (the VMess instruction). */
export function parsePortThenAddress(buf: Buffer, offset: number): { target: Target; next: number } {
  if (buf.length < offset + 3) throw new SeamoonError('BAD_REQUEST', 'truncated address');
  const port = buf.readUInt16BE(offset);
  const type = buf[offset + 2];
  let start = offset + 3;
  let length: number;
  if (type === V2RAY_ADDRESS_TYPES.ipv4) length = 4;
  else if (type === V2RAY_ADDRESS_TYPES.ipv6) length = 16;
  else if (type === V2RAY_ADDRESS_TYPES.domain) {
    length = buf[start];
    start += 1;
  } else throw new SeamoonError('UNSUPPORTED_ADDRESS', `unknown address type ${type}`);
  if (buf.length < start + length) throw new SeamoonError('BAD_REQUEST', 'truncated address');
  const host = decodeHostBody(type, buf.subarray(start, start + length), V2RAY_ADDRESS_TYPES);
  return { target: { host, port }, next: start + length };
}

/**
 * Parses a SOCKS5-style address at the start of `buf`; returns undefined when more bytes are
 * needed (a Shadowsocks address may in theory straddle chunks).
 */
export function parseSocksAddress(buf: Buffer): { target: Target; next: number } | undefined {
  if (buf.length < 1) return undefined;
  const type = buf[0];
  let start = 1;
  let length: number;
  if (type === SOCKS_ADDRESS_TYPES.ipv4) length = 4;
  else if (type === SOCKS_ADDRESS_TYPES.ipv6) length = 16;
  else if (type === SOCKS_ADDRESS_TYPES.domain) {
    if (buf.length < 2) return undefined;
    length = buf[1];
    start = 2;
  } else throw new SeamoonError('UNSUPPORTED_ADDRESS', `unknown address type ${type}`);
  if (buf.length < start + length + 2) return undefined;
  const host = decodeHostBody(type, buf.subarray(start, start + length), SOCKS_ADDRESS_TYPES);
  return { target: { host, port: buf.readUInt16BE(start + length) }, next: start + length + 2 };
}
