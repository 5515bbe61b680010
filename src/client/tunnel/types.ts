import type { Outbound } from '../../outbound/types.js';

export interface TunnelHealth {
  ok: boolean;
  /** Round trip of the health probe. */
  latencyMs: number;
  /** Server version line from `/_health` (or gRPC Health). */
  version?: string;
  startedAt?: string;
  error?: string;
}

/**
 * A tunnel is an Outbound that reaches targets through one remote server, plus what a pool
 * needs to manage it. Implementations: ws/wss (compat routes, mux), grpc/grpcs, vless/vmess/ss.
 */
export interface Tunnel extends Outbound {
  /** The tunnel URL with any secret removed, for logs and stats. */
  readonly displayUrl: string;
  health(options?: { timeoutMs?: number }): Promise<TunnelHealth>;
  close(): Promise<void>;
}

export interface TunnelOptions {
  /** Bearer token for seamoon servers. */
  token?: string;
  /** Skip TLS certificate verification (opt-in only). */
  insecure?: boolean;
  /** Extra CA certificates (PEM) to trust. */
  ca?: Buffer[];
  /** Use the original per-connection routes instead of the fast path. */
  compat?: boolean;
  /** Route streams through the server's Tor (SM-ONION). */
  onion?: boolean;
  /** Fast path: multiplexed connections kept open and ready (default 2). */
  warm?: number;
  /**
   * Cascade servers every stream of this tunnel already passed, sent as SM-HOPS (header or
   * metadata) so a server that finds itself there refuses instead of forwarding in a loop.
   */
  hops?: readonly string[];
}
