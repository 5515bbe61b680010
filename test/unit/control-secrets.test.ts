import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { generatePassword, hashPassword, verifyPassword } from '../../src/control/passwords.js';
import { defaultDataDir, inDataDir } from '../../src/control/paths.js';
import { SecretBox } from '../../src/control/secrets.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'seamoon-secrets-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('SecretBox', () => {
  test('creates secret.key with mode 0600 and reuses it', () => {
    const dir = tempDir();
    const a = SecretBox.open(dir);
    const mode = statSync(join(dir, 'secret.key')).mode & 0o777;
    assert.equal(mode, 0o600);
    const sealed = a.encrypt('kube-config-text', 'p');
    const b = SecretBox.open(dir);
    assert.equal(b.decrypt(sealed, 'p'), 'kube-config-text');
  });

  test('ciphertext does not contain the plain text and differs each time', () => {
    const box = SecretBox.open(tempDir());
    const one = box.encrypt('super-secret-token', 'p');
    const two = box.encrypt('super-secret-token', 'p');
    assert.notEqual(one, two);
    assert.ok(!one.includes('super-secret-token'));
    assert.ok(one.startsWith('enc:v1:'));
  });

  test('a ciphertext moved to another purpose, tampered, or opened with another key fails', () => {
    const dir = tempDir();
    const box = SecretBox.open(dir);
    const sealed = box.encrypt('value', 'tunnels:secrets');
    assert.throws(() => box.decrypt(sealed, 'providers:credentials'), /cannot be decrypted/);
    const raw = Buffer.from(sealed.slice('enc:v1:'.length), 'base64');
    raw[raw.length - 1] ^= 1;
    assert.throws(
      () => box.decrypt(`enc:v1:${raw.toString('base64')}`, 'tunnels:secrets'),
      /cannot be decrypted/,
    );
    const other = SecretBox.open(tempDir());
    assert.throws(() => other.decrypt(sealed, 'tunnels:secrets'), /cannot be decrypted/);
    assert.throws(() => box.decrypt('plain', 'tunnels:secrets'), /not encrypted/);
  });

  test('a world-readable key file is tightened to 0600', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'secret.key'), Buffer.alloc(32, 7).toString('base64'), { mode: 0o644 });
    SecretBox.open(dir);
    assert.equal(statSync(join(dir, 'secret.key')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dir, 'secret.key'), 'utf8'), Buffer.alloc(32, 7).toString('base64'));
  });

  test('JSON bags round-trip and keep only strings', () => {
    const box = SecretBox.open(tempDir());
    const sealed = box.sealJson({ token: 't', v2ray_uid: 'u' }, 'x');
    assert.deepEqual(box.openJson(sealed, 'x'), { token: 't', v2ray_uid: 'u' });
    assert.deepEqual(box.openJson(null, 'x'), {});
  });
});

describe('passwords', () => {
  test('scrypt hash verifies the right password only, with a random salt', async () => {
    const hash = await hashPassword('correct horse');
    assert.match(hash, /^scrypt\$32768\$8\$1\$/);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('correct horsf', hash), false);
    assert.notEqual(await hashPassword('correct horse'), hash);
  });

  test('malformed stored hashes never verify', async () => {
    assert.equal(await verifyPassword('x', '2575a6f37310dd27e884a0305a2dd210'), false);
    assert.equal(await verifyPassword('x', 'scrypt$0$8$1$AA==$AA=='), false);
  });

  test('generated passwords have the asked length and vary', () => {
    const a = generatePassword();
    assert.equal(a.length, 20);
    assert.match(a, /^[A-Za-z2-9]+$/);
    assert.notEqual(generatePassword(), a);
  });
});

describe('data directory', () => {
  test('XDG_DATA_HOME wins when absolute; otherwise ~/.local/share/seamoon', () => {
    assert.equal(defaultDataDir({ XDG_DATA_HOME: '/srv/data' }), '/srv/data/seamoon');
    assert.match(defaultDataDir({ XDG_DATA_HOME: 'relative' }), /\/\.local\/share\/seamoon$/);
    assert.match(defaultDataDir({}), /\/\.local\/share\/seamoon$/);
    assert.equal(inDataDir('/d', 'seamoon.log'), '/d/seamoon.log');
    assert.equal(inDataDir('/d', '/var/log/x.log'), '/var/log/x.log');
  });
});
