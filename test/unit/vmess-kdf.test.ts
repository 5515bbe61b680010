import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { uuidToBytes } from '../../src/protocol/v2ray-shared/uuid.js';
import {
  cmdKey,
  crc32,
  createAuthId,
  fnv1a32,
  KdfSalt,
  kdf,
  kdf16,
  openAuthId,
} from '../../src/protocol/vmess/kdf.js';

/**
 * Known answers computed independently: the VMess KDF (nested HMACs whose hash is the previous
 * HMAC) re-implemented with Python's hmac module, CRC-32 from zlib, AES-128-ECB from openssl.
 */
const PYTHON_KDF = `
import hmac, hashlib, sys
class Chain:
    block_size = 64
    digest_size = 32
    def __init__(self, make_inner, data=b''):
        self.make_inner = make_inner; self.buf = bytearray(data)
    def update(self, d): self.buf += d
    def copy(self): return Chain(self.make_inner, bytes(self.buf))
    def digest(self):
        h = self.make_inner(); h.update(bytes(self.buf)); return h.digest()
def kdf(key, *path):
    make = lambda: hmac.new(b'VMess AEAD KDF', digestmod=hashlib.sha256)
    for p in path:
        make = (lambda prev, p: (lambda: hmac.new(p, digestmod=lambda d=b'': Chain(prev, d))))(make, p)
    h = make(); h.update(key); return h.digest()
args = [bytes.fromhex(a) for a in sys.argv[1:]]
print(kdf(args[0], *args[1:]).hex())
`;

function pythonKdf(key: Buffer, ...path: Buffer[]): string {
  return execFileSync('python3', [
    '-c',
    PYTHON_KDF,
    key.toString('hex'),
    ...path.map((p) => p.toString('hex')),
  ])
    .toString()
    .trim();
}

function python(expression: string): string {
  return execFileSync('python3', ['-c', `import hashlib, zlib, struct\nprint(${expression})`])
    .toString()
    .trim();
}

describe('VMess key derivation', () => {
  const uuid = 'b831381d-6324-4d53-ad4f-8cda48b30811';

  test('cmdKey is MD5(uuid bytes || fixed GUID)', () => {
    const expected = python(
      `hashlib.md5(bytes.fromhex('${uuid.replace(/-/g, '')}') + b'c48619fe-8f02-49e0-b9e9-edf763e17e21').hexdigest()`,
    );
    assert.equal(cmdKey(uuidToBytes(uuid)).toString('hex'), expected);
  });

  test('KDF with no path is HMAC-SHA256 keyed "VMess AEAD KDF"', () => {
    const key = randomBytes(16);
    assert.equal(kdf(key).toString('hex'), pythonKdf(key));
  });

  test('KDF matches an independent implementation for 1, 2 and 3 path elements', () => {
    const key = cmdKey(uuidToBytes(uuid));
    const authId = randomBytes(16);
    const nonce = randomBytes(8);
    assert.equal(
      kdf(key, KdfSalt.authIdEncryption).toString('hex'),
      pythonKdf(key, Buffer.from(KdfSalt.authIdEncryption)),
    );
    assert.equal(
      kdf(key, KdfSalt.responseLengthKey, authId).toString('hex'),
      pythonKdf(key, Buffer.from(KdfSalt.responseLengthKey), authId),
    );
    assert.equal(
      kdf(key, KdfSalt.headerLengthKey, authId, nonce).toString('hex'),
      pythonKdf(key, Buffer.from(KdfSalt.headerLengthKey), authId, nonce),
    );
  });

  test('CRC-32 and FNV-1a agree with zlib and a Python FNV', () => {
    const data = randomBytes(37);
    assert.equal(crc32(data), Number(python(`zlib.crc32(bytes.fromhex('${data.toString('hex')}'))`)));
    const fnv = python(
      `(lambda d: __import__('functools').reduce(lambda h, b: ((h ^ b) * 0x01000193) & 0xffffffff, d, 0x811c9dc5))(bytes.fromhex('${data.toString('hex')}'))`,
    );
    assert.equal(fnv1a32(data), Number(fnv));
  });

  test('auth ID is AES-128-ECB(ts | rand | crc32) under KDF(cmdKey, "AES Auth ID Encryption")', () => {
    const key = cmdKey(uuidToBytes(uuid));
    const random = randomBytes(4);
    const ts = 1_700_000_000;
    const plain = Buffer.alloc(16);
    plain.writeBigUInt64BE(BigInt(ts));
    random.copy(plain, 8);
    plain.writeUInt32BE(
      Number(python(`zlib.crc32(bytes.fromhex('${plain.subarray(0, 12).toString('hex')}'))`)),
      12,
    );
    const aesKey = kdf16(key, KdfSalt.authIdEncryption).toString('hex');
    const expected = execFileSync('openssl', ['enc', '-aes-128-ecb', '-K', aesKey, '-nopad'], {
      input: plain,
    });
    const authId = createAuthId(key, ts, random);
    assert.equal(authId.toString('hex'), expected.toString('hex'));
    assert.equal(openAuthId(kdf16(key, KdfSalt.authIdEncryption), authId), ts);
    const otherKey = kdf16(cmdKey(randomBytes(16)), KdfSalt.authIdEncryption);
    assert.equal(openAuthId(otherKey, authId), undefined);
  });

  test('response keys are SHA-256 prefixes (sanity of the helper used by both sides)', () => {
    const key = randomBytes(16);
    assert.equal(
      createHash('sha256').update(key).digest().subarray(0, 16).toString('hex'),
      python(`hashlib.sha256(bytes.fromhex('${key.toString('hex')}')).hexdigest()[:32]`),
    );
  });
});
