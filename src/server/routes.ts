import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logger.js';

/**
 * The transport-independent face of the tunnel server: a WebSocket path or a gRPC method
 * resolves to a route by name, and the route gets either a byte stream or a message channel.
 */

/** What a transport knows about the incoming tunnel stream. */
export interface TunnelRequest {
  transport: 'ws' | 'grpc';
  /** Lower-cased header/metadata names → value (SM-UDP-ADDR, SM-ONION, ...). */
  headers: Record<string, string | undefined>;
  remoteAddress: string;
  /** Bytes that arrived with the upgrade (WebSocket early data); to be consumed first. */
  earlyData?: Buffer;
  log: Logger;
}

/** One message = one datagram (used by `/socks5-udp`). */
export interface MessageChannel {
  send(message: Buffer): void;
  onMessage(listener: (message: Buffer) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

interface RouteBase {
  /** `http`, `socks5`, `auto`, `socks5-udp`, `vless`, `vmess`, `v-shadowsocks`, `mux`, ... */
  name: string;
  /**
   * `token`: the transport must have checked the bearer token before handing over.
   * `self`: the protocol authenticates its own clients (VLESS/VMess UUID, SS password).
   */
  auth: 'token' | 'self';
}

export interface StreamRoute extends RouteBase {
  kind: 'stream';
  handle(stream: Duplex, request: TunnelRequest): Promise<void>;
}

export interface MessageRoute extends RouteBase {
  kind: 'message';
  handle(channel: MessageChannel, request: TunnelRequest): Promise<void>;
}

export type Route = StreamRoute | MessageRoute;

export class RouteTable {
  readonly #routes = new Map<string, Route>();

  add(route: Route): this {
    if (this.#routes.has(route.name)) throw new Error(`route ${route.name} registered twice`);
    this.#routes.set(route.name, route);
    return this;
  }

  get(name: string): Route | undefined {
    return this.#routes.get(name);
  }

  names(): string[] {
    return [...this.#routes.keys()];
  }
}
