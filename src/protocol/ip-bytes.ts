import { isIPv4, isIPv6 } from 'node:net';
import { SeamoonError } from '../core/errors.js';

/**
 * IP literal ⇄ network-order bytes. Node parses addresses internally but exposes no
 * byte form, and SOCKS5 / the egress guard need one.
 */

export function ipv4ToBytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new SeamoonError('BAD_ADDRESS', `not an IPv4 address: ${ip}`);
  return Buffer.from(ip.split('.').map((part) => Number(part)));
}

export function bytesToIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

export function ipv6ToBytes(ip: string): Buffer {
  if (!isIPv6(ip)) throw new SeamoonError('BAD_ADDRESS', `not an IPv6 address: ${ip}`);
  // Zone ids (fe80::1%eth0) never travel on the wire.
  let text = ip.split('%')[0];
  const out = Buffer.alloc(16);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  let v4Tail: Buffer | undefined;
  if (tail.includes('.')) {
    v4Tail = ipv4ToBytes(tail);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups =
    rest === undefined
      ? headGroups
      : [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((group, i) => {
    out.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  });
  if (v4Tail) v4Tail.copy(out, 12);
  return out;
}

/** RFC 5952 text: lower case, longest zero run (≥ 2 groups) as `::`, IPv4-mapped tail dotted. */
export function bytesToIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) return `::ffff:${bytesToIpv4(bytes.subarray(12, 16))}`;
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLength < 2) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}
