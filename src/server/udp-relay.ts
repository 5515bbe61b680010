import type { Target } from '../core/address.js';
import type { UdpSession } from '../outbound/types.js';

export interface UdpRelayEnds {
  /** The target side. */
  udp: UdpSession;
  /** Nothing either way for this long ends the relay (0 = never). */
  idleMs: number;
  /** Delivers a datagram from a target to the client. */
  toClient(source: Target, payload: Buffer): void;
  /** Ends the client side (channel, stream). */
  closeClient(): void;
  /** The target side closed, with the reason if it failed. */
  onUdpClose?(err?: Error): void;
}

/** What the client side's listeners use: activity keeps the relay alive, `finish` ends it. */
export interface UdpRelayControl {
  touch(): void;
  finish(): void;
}

/**
 * Relays datagrams between a client and a UDP session until either side closes or the relay
 * idles out; both sides are closed once, however it ends. `attachClient` wires the client side
 * and runs before this returns, so listeners it adds see everything from the start.
 */
export function relayDatagrams(
  ends: UdpRelayEnds,
  attachClient: (control: UdpRelayControl) => void,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let idle: NodeJS.Timeout | undefined;
    let finished = false;
    // Closing one side makes the other report its close too: finish only once.
    const finish = () => {
      if (finished) return;
      finished = true;
      if (idle) clearTimeout(idle);
      ends.udp.close();
      ends.closeClient();
      resolve();
    };
    if (ends.idleMs > 0) {
      idle = setTimeout(finish, ends.idleMs);
      idle.unref();
    }
    const touch = () => idle?.refresh();
    ends.udp.onMessage((source, payload) => {
      touch();
      ends.toClient(source, payload);
    });
    ends.udp.onClose((err) => {
      ends.onUdpClose?.(err);
      finish();
    });
    attachClient({ touch, finish });
  });
}
