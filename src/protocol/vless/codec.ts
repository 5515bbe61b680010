import type { Target } from '../../core/address.js';
import { SeamoonError } from '../../core/errors.js';
import { encodePortThenAddress, readPortThenAddress } from '../v2ray-shared/address.js';
import type { StreamDecoder } from '../v2ray-shared/codec-duplex.js';
import type { StreamReader } from '../v2ray-shared/stream-reader.js';

/**
 * VLESS version 0 (XTLS/Xray-docs-next `development/protocols/vless.md`):
 * request  `ver(1)=0 | uuid(16) | addonsLen(1) | addons | cmd(1) | port(2) | atype | addr | data…`
 * response `ver(1) | addonsLen(1) | addons | data…`
 */
export const VLESS_VERSION = 0;

export const VlessCommand = { tcp: 1, udp: 2, mux: 3 } as const;
export type VlessCommandCode = (typeof VlessCommand)[keyof typeof VlessCommand];

export interface VlessRequest {
  userIndex: number;
  command: VlessCommandCode;
  target: Target;
}

export function encodeVlessRequest(uuid: Buffer, command: VlessCommandCode, target: Target): Buffer {
  return Buffer.concat([
    Buffer.from([VLESS_VERSION]),
    uuid,
    Buffer.from([0, command]),
    encodePortThenAddress(target),
  ]);
}

/** The server's answer before any data: our version, no addons. */
export function encodeVlessResponse(): Buffer {
  return Buffer.from([VLESS_VERSION, 0]);
}

/**
 * Reads a request header. AUTH_FAILED means "unknown user or not VLESS": the caller must
 * answer it without an oracle (drain, then close).
 */
export async function readVlessRequest(
  reader: StreamReader,
  users: readonly Buffer[],
): Promise<VlessRequest> {
  const head = await reader.read(17);
  if (head[0] !== VLESS_VERSION) throw new SeamoonError('AUTH_FAILED', 'not a VLESS v0 request');
  const id = head.subarray(1, 17);
  const userIndex = users.findIndex((user) => user.equals(id));
  if (userIndex < 0) throw new SeamoonError('AUTH_FAILED', 'unknown VLESS user');
  const addonsLength = (await reader.read(1))[0];
  // Addons carry a flow (XTLS) we do not offer over WebSocket; their content is ignored.
  if (addonsLength > 0) await reader.read(addonsLength);
  const command = (await reader.read(1))[0];
  if (command === VlessCommand.mux) {
    throw new SeamoonError('UNSUPPORTED_COMMAND', 'VLESS mux is not supported');
  }
  if (command !== VlessCommand.tcp && command !== VlessCommand.udp) {
    throw new SeamoonError('UNSUPPORTED_COMMAND', `unknown VLESS command ${command}`);
  }
  const target = await readPortThenAddress(reader);
  return { userIndex, command, target };
}

/** Client side: strips the response header, then passes bytes through. */
export class VlessResponseDecoder implements StreamDecoder {
  #header: Buffer | undefined = Buffer.alloc(0);

  decode(wire: Buffer): Buffer[] {
    if (this.#header === undefined) return [wire];
    const buf = this.#header.length > 0 ? Buffer.concat([this.#header, wire]) : wire;
    if (buf.length < 2) {
      this.#header = buf;
      return [];
    }
    if (buf[0] !== VLESS_VERSION) throw new SeamoonError('BAD_REQUEST', 'unexpected VLESS response version');
    const headerLength = 2 + buf[1];
    if (buf.length < headerLength) {
      this.#header = buf;
      return [];
    }
    this.#header = undefined;
    return [buf.subarray(headerLength)];
  }
}
