import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6, type Socket } from 'node:net';
import type { Target } from '../core/address.js';
import { SeamoonError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RelayCounters } from '../core/relay.js';
import type { Outbound, UdpSession } from '../outbound/types.js';
import { decodeUdpFrame, encodeUdpFrame } from '../protocol/socks5-codec.js';
import type { UdpAssociator } from '../protocol/types.js';

export interface UdpAssociatorDeps {
  outbound: Outbound;
  log: Logger;
  counters?: RelayCounters;
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are the same client. */
function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function bindUdp(host: string): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/**
 * Relays one association: datagrams from the app (SOCKS5 UDP header, RSV=0) go out through the
 * tunnel's UDP session; answers come back wrapped in a SOCKS5 UDP header naming their source.
 */
function relayAssociation(
  local: UdpSocket,
  session: UdpSession,
  clientIp: string,
  deps: UdpAssociatorDeps,
): () => void {
  let client: RemoteInfo | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    session.close();
    local.close();
  };

  local.on('message', (message, from) => {
    // Only the app that asked for the association may use it (RFC 1928 §7).
    if (plainAddress(from.address) !== clientIp) return;
    let frame: { target: Target; payload: Buffer; frag: number };
    try {
      frame = decodeUdpFrame(message);
    } catch (err) {
      deps.log.debug({ err: (err as Error).message }, 'dropped malformed udp datagram');
      return;
    }
    // Fragmentation is optional in RFC 1928 and nobody uses it: drop fragments.
    if (frame.frag !== 0) return;
    client = from;
    deps.counters?.onUp?.(frame.payload.length);
    session.send(frame.target, frame.payload);
  });
  local.on('error', (err) => {
    deps.log.debug({ err: err.message }, 'udp association socket error');
    close();
  });
  session.onMessage((source, payload) => {
    if (!client || closed) return;
    deps.counters?.onDown?.(payload.length);
    local.send(encodeUdpFrame({ target: source, payload }), client.port, client.address);
  });
  session.onClose(() => close());
  return close;
}

/**
 * Per accepted connection, a UdpAssociator for SOCKS5 UDP ASSOCIATE: a UDP socket on the address
 * the app connected to (port 0), relayed through `outbound.openUdp()`, closed with the control
 * connection. Returns undefined when the outbound cannot carry UDP (the handler then replies 0x07).
 */
export function createUdpAssociator(deps: UdpAssociatorDeps): (control: Socket) => UdpAssociator | undefined {
  const openUdp = deps.outbound.openUdp?.bind(deps.outbound);
  if (!openUdp) return () => undefined;
  return (control) => ({
    async associate(stream) {
      const host = plainAddress(control.localAddress);
      const clientIp = plainAddress(control.remoteAddress);
      if (host === '' || clientIp === '' || stream.destroyed) {
        throw new SeamoonError('CLOSED', 'control connection closed before UDP ASSOCIATE');
      }
      const session = await openUdp();
      let local: UdpSocket;
      try {
        local = await bindUdp(host);
      } catch (err) {
        session.close();
        throw new SeamoonError('GENERAL', `cannot bind a UDP socket on ${host}: ${(err as Error).message}`);
      }
      const close = relayAssociation(local, session, clientIp, deps);
      stream.once('close', close);
      if (stream.destroyed) close();
      return { host, port: local.address().port };
    },
  });
}
