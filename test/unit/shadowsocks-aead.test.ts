import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  evpBytesToKey,
  SsAead,
  SsStreamDecoder,
  SsStreamEncoder,
  ssCipherSpec,
  ssSubkey,
} from '../../src/protocol/shadowsocks/aead.js';
import { encodeSocksAddress, parseSocksAddress } from '../../src/protocol/v2ray-shared/address.js';
import { ReplayFilter } from '../../src/protocol/v2ray-shared/replay-filter.js';

/** OpenSSL's own EVP_BytesToKey (MD5, no salt) as printed by `openssl enc -P`. */
function opensslKey(password: string, cipher: string): string {
  const out = execFileSync(
    'openssl',
    ['enc', `-${cipher}`, '-P', '-nosalt', '-md', 'md5', '-pass', `pass:${password}`],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  )
    .toString()
    .match(/key\s*=\s*([0-9A-F]+)/i);
  assert.ok(out, 'openssl printed a key');
  return out[1].toLowerCase();
}

/** RFC 5869 HKDF with SHA-1, written out with Python's hmac. */
function pythonHkdfSha1(key: Buffer, salt: Buffer, length: number): string {
  const program = `
import hmac, hashlib, sys
key, salt, n = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3])
prk = hmac.new(salt, key, hashlib.sha1).digest()
okm, t, i = b'', b'', 1
while len(okm) < n:
    t = hmac.new(prk, t + b'ss-subkey' + bytes([i]), hashlib.sha1).digest(); okm += t; i += 1
print(okm[:n].hex())`;
  return execFileSync('python3', ['-c', program, key.toString('hex'), salt.toString('hex'), String(length)])
    .toString()
    .trim();
}

describe('Shadowsocks AEAD keys', () => {
  test('EVP_BytesToKey matches openssl for 16- and 32-byte keys', () => {
    assert.equal(evpBytesToKey('barfoo!', 16).toString('hex'), opensslKey('barfoo!', 'aes-128-cbc'));
    assert.equal(evpBytesToKey('p@ss wörd', 32).toString('hex'), opensslKey('p@ss wörd', 'aes-256-cbc'));
  });

  test('subkey is HKDF-SHA1(master, salt, "ss-subkey")', () => {
    for (const size of [16, 32]) {
      const master = evpBytesToKey('secret', size);
      const salt = randomBytes(size);
      assert.equal(ssSubkey(master, salt, size).toString('hex'), pythonHkdfSha1(master, salt, size));
    }
  });

  test('cipher names: the three AEAD ciphers, chacha20-poly1305 as an alias, others refused', () => {
    assert.equal(ssCipherSpec('AES-256-GCM').keySize, 32);
    assert.equal(ssCipherSpec('aes-128-gcm').saltSize, 16);
    assert.equal(ssCipherSpec('chacha20-poly1305').name, 'chacha20-ietf-poly1305');
    assert.throws(() => ssCipherSpec('aes-256-cfb'), /unsupported Shadowsocks cipher/);
  });
});

describe('Shadowsocks AEAD stream', () => {
  for (const name of ['aes-128-gcm', 'aes-256-gcm', 'chacha20-ietf-poly1305']) {
    test(`${name}: round trip across odd splits and chunks larger than 0x3FFF`, () => {
      const spec = ssCipherSpec(name);
      const master = evpBytesToKey('pw', spec.keySize);
      const encoder = new SsStreamEncoder(spec, master);
      const decoder = new SsStreamDecoder(spec, master);
      const payload = randomBytes(50_000);
      const wire = Buffer.concat([
        encoder.encode(payload.subarray(0, 7)),
        encoder.encode(payload.subarray(7)),
      ]);
      // 7 bytes → 1 chunk, 49 993 bytes → 4 chunks; each chunk costs len(2) + 2 tags.
      assert.equal(wire.length, spec.saltSize + payload.length + 5 * (2 + 16 + 16));
      const out: Buffer[] = [];
      for (let i = 0; i < wire.length; i += 1000) out.push(...decoder.decode(wire.subarray(i, i + 1000)));
      assert.deepEqual(Buffer.concat(out), payload);
    });
  }

  test('the nonce is a little-endian counter: the second chunk opens only with nonce 1', () => {
    const spec = ssCipherSpec('aes-128-gcm');
    const master = evpBytesToKey('pw', 16);
    const salt = randomBytes(16);
    const sealer = new SsAead(spec, master, salt);
    const first = sealer.seal(Buffer.from('a'));
    const second = sealer.seal(Buffer.from('b'));
    const opener = new SsAead(spec, master, salt);
    assert.throws(() => opener.open(second), /failed authentication/);
    const fresh = new SsAead(spec, master, salt);
    assert.equal(fresh.open(first).toString(), 'a');
    assert.equal(fresh.open(second).toString(), 'b');
  });

  test('a flipped ciphertext bit fails authentication', () => {
    const spec = ssCipherSpec('aes-256-gcm');
    const master = evpBytesToKey('pw', 32);
    const wire = new SsStreamEncoder(spec, master).encode(Buffer.from('hello'));
    wire[spec.saltSize + 20] ^= 1;
    assert.throws(() => new SsStreamDecoder(spec, master).decode(wire), /failed authentication/);
  });

  test('SOCKS-style addresses round trip (IPv4, IPv6, domain) and report incomplete input', () => {
    for (const target of [
      { host: '127.0.0.1', port: 80 },
      { host: '2001:db8::1', port: 443 },
      { host: 'example.com', port: 8080 },
    ]) {
      const bytes = encodeSocksAddress(target);
      assert.deepEqual(parseSocksAddress(bytes)?.target, target);
      assert.equal(parseSocksAddress(bytes.subarray(0, bytes.length - 1)), undefined);
    }
  });
});

describe('replay filter', () => {
  test('rejects a value seen within the window, forgets it after, and stays bounded', () => {
    let now = 0;
    const filter = new ReplayFilter({ ttlMs: 1000, maxEntries: 3, now: () => now });
    const salt = randomBytes(32);
    assert.equal(filter.checkAndAdd(salt), true);
    assert.equal(filter.checkAndAdd(salt), false);
    now = 1500;
    assert.equal(filter.checkAndAdd(salt), true);
    for (let i = 0; i < 10; i++) filter.checkAndAdd(randomBytes(8));
    assert.equal(filter.size, 3);
  });
});
