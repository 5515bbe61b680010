import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SeamoonError } from '../core/errors.js';

const KEY_FILE = 'secret.key';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Marks a value as ciphertext, so a plain value stored by mistake is never "decrypted" into garbage. */
const PREFIX = 'enc:v1:';

/**
 * AES-256-GCM for secrets at rest (cloud credentials, tunnel tokens, UUIDs, SS passwords).
 * The key lives next to the database in `secret.key` (mode 0600): a copied database file alone
 * reveals nothing. `purpose` is bound as associated data, so a ciphertext moved to another
 * column (e.g. a tunnel token pasted into a provider's credentials) fails to open.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new SeamoonError('GENERAL', `secret key must be ${KEY_BYTES} bytes`);
    this.#key = key;
  }

  /** Loads `secret.key` from the data dir, creating it (0600, exclusive create) on first run. */
  static open(dataDir: string): SecretBox {
    const path = join(dataDir, KEY_FILE);
    if (!existsSync(path)) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, randomBytes(KEY_BYTES).toString('base64'));
        closeSync(fd);
      } catch (err) {
        // Another process created it between the check and the open: use theirs.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    // A key readable by other users defeats the point; tighten it rather than refuse to start.
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    return new SecretBox(key);
  }

  encrypt(plain: string, purpose: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(purpose, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  decrypt(sealed: string, purpose: string): string {
    if (!sealed.startsWith(PREFIX)) throw new SeamoonError('GENERAL', 'stored secret is not encrypted');
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SeamoonError('GENERAL', 'stored secret is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(purpose, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch (err) {
      throw new SeamoonError('GENERAL', 'stored secret cannot be decrypted (wrong secret.key?)', {
        cause: err,
      });
    }
  }

  /** JSON convenience for secret bags (`{token, v2ray_uid, ...}`). */
  sealJson(value: Record<string, string>, purpose: string): string {
    return this.encrypt(JSON.stringify(value), purpose);
  }

  openJson(sealed: string | null, purpose: string): Record<string, string> {
    if (!sealed) return {};
    const parsed: unknown = JSON.parse(this.decrypt(sealed, purpose));
    if (typeof parsed !== 'object' || parsed === null) return {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
    return out;
  }
}
