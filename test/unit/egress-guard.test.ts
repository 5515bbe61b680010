import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EgressGuard } from '../../src/outbound/egress-guard.js';

// Only decisions are tested here: nothing is ever dialed.
const guard = new EgressGuard({ allowPrivate: false, allow: [] });

const DENIED = [
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'this network'],
  ['10.0.0.1', 'RFC 1918'],
  ['10.255.255.255', 'RFC 1918 end'],
  ['100.64.0.1', 'CGNAT'],
  ['100.100.100.200', 'Alibaba metadata'],
  ['100.127.255.255', 'CGNAT end'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback /8'],
  ['169.254.169.254', 'cloud metadata'],
  ['169.254.0.1', 'link-local'],
  ['172.16.0.1', 'RFC 1918'],
  ['172.31.255.255', 'RFC 1918 end'],
  ['192.0.0.8', 'IETF protocol assignments'],
  ['192.168.1.1', 'RFC 1918'],
  ['198.18.0.1', 'benchmarking'],
  ['198.19.255.255', 'benchmarking end'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast (SSDP)'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  ['::', 'IPv6 unspecified'],
  ['::1', 'IPv6 loopback'],
  ['fc00::1', 'ULA'],
  ['fd12:3456::1', 'ULA fd'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local with zone'],
  ['febf::1', 'link-local end'],
  ['ff02::1', 'multicast'],
  ['::ffff:127.0.0.1', 'mapped loopback'],
  ['::ffff:7f00:1', 'mapped loopback, hex form'],
  ['::ffff:10.0.0.1', 'mapped RFC 1918'],
  ['::ffff:169.254.169.254', 'mapped metadata'],
  ['::ffff:100.100.100.200', 'mapped CGNAT'],
  ['::ffff:0.0.0.0', 'mapped unspecified'],
  ['::127.0.0.1', 'IPv4-compatible loopback'],
  ['::10.1.2.3', 'IPv4-compatible private'],
  ['64:ff9b::7f00:1', 'NAT64 loopback'],
  ['64:ff9b::169.254.169.254', 'NAT64 metadata'],
  ['64:ff9b::192.168.0.1', 'NAT64 private'],
  ['localhost', 'not an IP literal'],
] as const;

const ALLOWED = [
  ['1.1.1.1', 'public'],
  ['8.8.8.8', 'public'],
  ['9.255.255.255', 'just below 10/8'],
  ['11.0.0.0', 'just above 10/8'],
  ['100.63.255.255', 'just below CGNAT'],
  ['100.128.0.0', 'just above CGNAT'],
  ['172.15.255.255', 'just below 172.16/12'],
  ['172.32.0.0', 'just above 172.16/12'],
  ['192.0.1.1', 'just above 192.0.0/24'],
  ['198.17.255.255', 'just below 198.18/15'],
  ['198.20.0.0', 'just above 198.18/15'],
  ['223.255.255.255', 'just below multicast'],
  ['2001:4860:4860::8888', 'public IPv6'],
  ['2606:4700::1111', 'public IPv6'],
  ['fec0::1', 'just above link-local'],
  ['::ffff:8.8.8.8', 'mapped public'],
  ['64:ff9b::8.8.8.8', 'NAT64 public'],
] as const;

describe('egress guard: deny list', () => {
  for (const [ip, why] of DENIED) {
    test(`denies ${ip} (${why})`, () => {
      assert.equal(guard.isDenied(ip), true);
      assert.throws(() => guard.check(ip), { code: 'EGRESS_DENIED' });
    });
  }
  for (const [ip, why] of ALLOWED) {
    test(`allows ${ip} (${why})`, () => {
      assert.equal(guard.isDenied(ip), false);
      assert.doesNotThrow(() => guard.check(ip));
    });
  }
  test('IPv4-compatible forms follow their embedded IPv4 address', () => {
    assert.equal(guard.isDenied('::2'), true, '::0.0.0.2 is in 0.0.0.0/8');
    assert.equal(guard.isDenied('::808:808'), false, '::8.8.8.8 is public');
  });
});

describe('egress guard: exceptions', () => {
  test('allow CIDRs win over the deny list, v4 and v6, incl. mapped forms', () => {
    const withAllow = new EgressGuard({
      allowPrivate: false,
      allow: ['10.1.0.0/16', 'fd00::/8', '127.0.0.1/32'],
    });
    assert.equal(withAllow.isDenied('10.1.2.3'), false);
    assert.equal(withAllow.isDenied('10.2.0.1'), true);
    assert.equal(withAllow.isDenied('::ffff:10.1.2.3'), false);
    assert.equal(withAllow.isDenied('fd00::5'), false);
    assert.equal(withAllow.isDenied('fc00::5'), true);
    assert.equal(withAllow.isDenied('127.0.0.1'), false);
    assert.equal(withAllow.isDenied('127.0.0.2'), true);
    assert.equal(withAllow.isDenied('169.254.169.254'), true);
  });

  test('a bare address is a /32 or /128', () => {
    const single = new EgressGuard({ allowPrivate: false, allow: ['192.168.1.10', '::1'] });
    assert.equal(single.isDenied('192.168.1.10'), false);
    assert.equal(single.isDenied('192.168.1.11'), true);
    assert.equal(single.isDenied('::1'), false);
  });

  test('allowPrivate turns the deny list off', () => {
    const open = new EgressGuard({ allowPrivate: true, allow: [] });
    for (const ip of ['127.0.0.1', '10.0.0.1', '::1', '::ffff:127.0.0.1', '169.254.169.254'])
      assert.equal(open.isDenied(ip), false, ip);
  });

  test('bad CIDRs are refused at construction', () => {
    for (const cidr of ['10.0.0.0/33', 'nonsense', '::/129', '10.0.0.0/x'])
      assert.throws(
        () => new EgressGuard({ allowPrivate: false, allow: [cidr] }),
        { code: 'BAD_ADDRESS' },
        cidr,
      );
  });
});
