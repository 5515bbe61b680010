import { createTunnel } from '../client/tunnel/registry.js';
import type { Tunnel } from '../client/tunnel/types.js';
import type { Target } from '../core/address.js';
import { SeamoonError } from '../core/errors.js';
import type { Outbound, UdpSession } from './types.js';

export interface CascadeOptions {
  /** The next hop's tunnel URL (`wss://host`, `grpcs://host:443`, ...). */
  url: string;
  /** The next hop's bearer token. */
  token?: string;
}

export interface CascadeOutbound extends Outbound {
  /** The next hop without its secret, for logs. */
  readonly displayUrl: string;
  close(): Promise<void>;
}

/**
 * Users paste the address a platform shows (`https://…`); a WebSocket tunnel needs `wss://`.
 * Other schemes (ws, wss, grpc, grpcs, vless, …) pass through unchanged.
 */
export function normalizeCascadeUrl(text: string): string {
  const trimmed = text.trim();
  if (/^https:\/\//i.test(trimmed)) return `wss://${trimmed.slice('https://'.length)}`;
  if (/^http:\/\//i.test(trimmed)) return `ws://${trimmed.slice('http://'.length)}`;
  return trimmed;
}

/**
 * Forwards every stream through the next tunnel server. Unlike the original, which piped raw
 * protocol bytes to `<next>/<path>` (wrong path for Shadowsocks, headers and UUIDs lost), each hop
 * terminates its own protocol and dials the target through the next hop as a client: the next hop
 * only needs its own token, SM-ONION travels as a dial option, and the last hop's egress guard is
 * the one that decides.
 */
export async function createCascadeOutbound(options: CascadeOptions): Promise<CascadeOutbound> {
  const url = normalizeCascadeUrl(options.url);
  let tunnel: Tunnel;
  try {
    tunnel = await createTunnel(url, { token: options.token });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new SeamoonError('BAD_ADDRESS', `invalid cascade address: ${reason}`, { cause: err });
  }
  const outbound: CascadeOutbound = {
    name: `cascade:${tunnel.displayUrl}`,
    displayUrl: tunnel.displayUrl,
    dial: (target, dialOptions) => tunnel.dial(target, dialOptions),
    close: () => tunnel.close(),
  };
  const openUdp = tunnel.openUdp?.bind(tunnel);
  if (openUdp) outbound.openUdp = async (udpOptions) => deferredUdpSession(openUdp(udpOptions));
  return outbound;
}

/** Datagrams held while the next hop's UDP session is still opening; beyond this they are dropped. */
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * A UDP session usable at once while the next hop's session opens. The route that asked for it
 * starts reading its client's datagrams only when openUdp resolves; resolving before the next
 * hop's WebSocket handshake keeps the first datagrams of every hop from being lost.
 */
export function deferredUdpSession(opening: Promise<UdpSession>): UdpSession {
  const messageListeners: ((source: Target, payload: Buffer) => void)[] = [];
  const closeListeners: ((err?: Error) => void)[] = [];
  let queue: { target: Target; payload: Buffer }[] = [];
  let queuedBytes = 0;
  let session: UdpSession | undefined;
  let closed = false;

  const finish = (err?: Error) => {
    if (closed) return;
    closed = true;
    queue = [];
    for (const listener of closeListeners) listener(err);
  };
  opening.then(
    (opened) => {
      if (closed) {
        opened.close();
        return;
      }
      session = opened;
      opened.onMessage((source, payload) => {
        for (const listener of messageListeners) listener(source, payload);
      });
      opened.onClose(finish);
      for (const datagram of queue) opened.send(datagram.target, datagram.payload);
      queue = [];
    },
    (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
  );

  return {
    send(target, payload) {
      if (closed) return;
      if (session) {
        session.send(target, payload);
      } else if (queuedBytes + payload.length <= MAX_QUEUED_BYTES) {
        queue.push({ target, payload });
        queuedBytes += payload.length;
      }
    },
    onMessage(listener) {
      messageListeners.push(listener);
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
    close() {
      session?.close();
      finish();
    },
  };
}
