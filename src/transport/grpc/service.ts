import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  decodeGostChunk,
  decodePing,
  decodePong,
  decodeTunnelChunk,
  encodeGostChunk,
  encodePing,
  encodePong,
  encodeTunnelChunk,
  type Ping,
  type Pong,
} from './messages.js';

/**
 * Raw grpc-js service definitions with hand-written codecs: byte-compatible with clients
 * generated from SeaMoon's `tunnel.proto` and gost's `gost.proto`, without a proto loader.
 * Stream methods carry plain Buffers (the chunk payload), so one stream adapter serves all.
 */

export type ChunkMethod = MethodDefinition<Buffer, Buffer>;

function chunkMethod(
  path: string,
  encode: (payload: Buffer) => Buffer,
  decode: (message: Buffer) => Buffer,
): ChunkMethod {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: encode,
    requestDeserialize: decode,
    responseSerialize: encode,
    responseDeserialize: decode,
  };
}

const tunnelChunk = (method: string) =>
  chunkMethod(`/tunnel.Tunnel/${method}`, encodeTunnelChunk, decodeTunnelChunk);

/**
 * `tunnel.Tunnel` stream methods and the RouteTable route each one serves. `Mux` and
 * `Socks5Udp` are SeaMoon additions (same service, new method names, so old clients are
 * unaffected); a Socks5Udp message is one datagram in the `/socks5-udp` framing.
 */
export const TUNNEL_STREAM_ROUTES = {
  Auto: 'auto',
  Http: 'http',
  Socks5: 'socks5',
  V2raySsr: 'v-shadowsocks',
  V2rayVmess: 'vmess',
  V2rayVless: 'vless',
  Mux: 'mux',
  Socks5Udp: 'socks5-udp',
} as const;

export type TunnelStreamMethod = keyof typeof TUNNEL_STREAM_ROUTES;

export const HEALTH_METHOD: MethodDefinition<Ping, Pong> = {
  path: '/tunnel.Tunnel/Health',
  requestStream: false,
  responseStream: false,
  requestSerialize: encodePing,
  requestDeserialize: decodePing,
  responseSerialize: encodePong,
  responseDeserialize: decodePong,
};

export const TUNNEL_SERVICE = {
  ...(Object.fromEntries(
    Object.keys(TUNNEL_STREAM_ROUTES).map((method) => [method, tunnelChunk(method)]),
  ) as Record<TunnelStreamMethod, ChunkMethod>),
  Health: HEALTH_METHOD,
} satisfies ServiceDefinition;

export function tunnelStreamMethod(method: TunnelStreamMethod): ChunkMethod {
  return TUNNEL_SERVICE[method];
}

/** gost's `service GostTunel { rpc Tunnel (stream Chunk) returns (stream Chunk); }` (sic). */
export const GOST_SERVICE = {
  Tunnel: chunkMethod('/GostTunel/Tunnel', encodeGostChunk, decodeGostChunk),
} satisfies ServiceDefinition;

/** The gost method is served by the `auto` route (SOCKS5 or HTTP, sniffed). */
export const GOST_ROUTE = 'auto';
