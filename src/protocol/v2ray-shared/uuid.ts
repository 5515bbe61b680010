import { SeamoonError } from '../../core/errors.js';

const UUID_PATTERN = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function isUuid(text: string): boolean {
  return UUID_PATTERN.test(text.trim());
}

/** The 16 raw bytes of a textual UUID (VLESS user id, VMess cmdKey input). */
export function uuidToBytes(text: string): Buffer {
  const trimmed = text.trim();
  if (!UUID_PATTERN.test(trimmed)) throw new SeamoonError('BAD_REQUEST', 'not a UUID');
  return Buffer.from(trimmed.replace(/-/g, ''), 'hex');
}
