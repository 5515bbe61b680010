import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { SeamoonError } from '../core/errors.js';
import { bytesToIpv4, ipv6ToBytes } from '../protocol/ip-bytes.js';

/**
 * Decides, after DNS resolution, whether a tunnel server may connect to an address.
 * A public tunnel must not become a door into the host's own network: loopback, private,
 * link-local (cloud metadata 169.254.169.254, 100.100.100.200), CGNAT, multicast, ...
 */

export interface EgressGuardOptions {
  /** Turn the deny list off entirely (local testing, trusted networks). */
  allowPrivate: boolean;
  /** CIDRs (v4 or v6) that stay reachable even though the deny list covers them. */
  allow: string[];
}

const DENIED_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT, incl. Alibaba Cloud metadata 100.100.100.200
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, incl. 169.254.169.254 metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, incl. broadcast 255.255.255.255
];

const DENIED_V6: Array<[string, number]> = [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
];

/** IPv6 prefixes whose last 32 bits are an IPv4 address the packet really goes to. */
const V4_EMBEDDING_V6: Array<[string, number]> = [
  ['::ffff:0:0', 96], // IPv4-mapped
  ['::', 96], // IPv4-compatible (deprecated, still routed by some stacks)
  ['64:ff9b::', 96], // NAT64 well-known prefix
];

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address, prefixText] = cidr.trim().split('/');
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) throw new SeamoonError('BAD_ADDRESS', `not a CIDR: ${cidr}`);
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix < 0 || prefix > max)
    throw new SeamoonError('BAD_ADDRESS', `bad prefix length in ${cidr}`);
  return { address, prefix, family };
}

function blockList(entries: Array<[string, number]>, family: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const [address, prefix] of entries) list.addSubnet(address, prefix, family);
  return list;
}

export class EgressGuard {
  readonly #allowPrivate: boolean;
  readonly #deniedV4 = blockList(DENIED_V4, 'ipv4');
  readonly #deniedV6 = blockList(DENIED_V6, 'ipv6');
  readonly #embeddingV6 = V4_EMBEDDING_V6.map(([address, prefix]) => blockList([[address, prefix]], 'ipv6'));
  readonly #allowed = new BlockList();

  constructor(options: EgressGuardOptions) {
    this.#allowPrivate = options.allowPrivate;
    for (const cidr of options.allow) {
      const { address, prefix, family } = parseCidr(cidr);
      this.#allowed.addSubnet(address, prefix, family);
    }
  }

  /** True when a connection to `ip` (an IP literal, already resolved) must be refused. */
  isDenied(ip: string): boolean {
    if (this.#allowPrivate) return false;
    const address = ip.split('%')[0];
    if (isIPv4(address)) {
      if (this.#allowed.check(address, 'ipv4')) return false;
      return this.#deniedV4.check(address, 'ipv4');
    }
    if (!isIPv6(address)) return true; // not an IP: never dial what we could not classify
    if (this.#allowed.check(address, 'ipv6')) return false;
    if (this.#deniedV6.check(address, 'ipv6')) return true;
    const embedded = this.#embeddedIpv4(address);
    if (embedded !== undefined) {
      if (this.#allowed.check(embedded, 'ipv4')) return false;
      return this.#deniedV4.check(embedded, 'ipv4');
    }
    return false;
  }

  /** Throws EGRESS_DENIED for a refused address. */
  check(ip: string): void {
    if (this.isDenied(ip)) throw new SeamoonError('EGRESS_DENIED', `egress to ${ip} is not allowed`);
  }

  #embeddedIpv4(address: string): string | undefined {
    if (!this.#embeddingV6.some((list) => list.check(address, 'ipv6'))) return undefined;
    return bytesToIpv4(ipv6ToBytes(address).subarray(12, 16));
  }
}
