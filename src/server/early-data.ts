/** Largest early-data payload accepted in `Sec-WebSocket-Protocol` (v2ray clients send ≤ 2 KiB). */
export const MAX_EARLY_DATA_BYTES = 8 * 1024;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * V2Ray/Xray-style WebSocket early data: the client's first bytes travel base64url-encoded
 * (no padding) as the only `Sec-WebSocket-Protocol` value, and the server echoes the same value
 * as the selected subprotocol. Returns the bytes, or undefined when the value is not early data
 * (several protocols offered, not base64url, an impossible length, or too large).
 */
export function decodeEarlyData(headerValue: string | undefined): Buffer | undefined {
  if (headerValue === undefined) return undefined;
  const value = headerValue.trim();
  if (value === '' || !BASE64URL.test(value)) return undefined;
  // A base64 text of length 4n+1 cannot come from any byte string.
  if (value.length % 4 === 1) return undefined;
  if (Math.floor((value.length * 3) / 4) > MAX_EARLY_DATA_BYTES) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.length > 0 ? bytes : undefined;
}
