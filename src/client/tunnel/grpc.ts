import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { rootCertificates } from 'node:tls';
import {
  type ChannelCredentials,
  Client,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import type { Target } from '../../core/address.js';
import { SeamoonError, toSeamoonError } from '../../core/errors.js';
import { formatHops, HOPS_HEADER } from '../../core/hops.js';
import { VERSION } from '../../core/version.js';
import type { DialOptions, UdpSession } from '../../outbound/types.js';
import { socks5Connect } from '../../protocol/socks5-client.js';
import { ClientCallStream } from '../../transport/grpc/call-stream.js';
import { diagnoseGrpcEndpoint } from '../../transport/grpc/probe.js';
import { HEALTH_METHOD, type TunnelStreamMethod, tunnelStreamMethod } from '../../transport/grpc/service.js';
import { openGrpcUdpSession } from './grpc-udp.js';
import type { Tunnel, TunnelHealth, TunnelOptions } from './types.js';

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
const DEFAULT_HEALTH_TIMEOUT_MS = 10_000;
/** A diagnosis of why the server is unreachable is reused for this long (failures come in bursts). */
const DIAGNOSIS_TTL_MS = 5_000;

/**
 * One HTTP/2 connection for every stream; grpc-js reconnects it with exponential backoff
 * (capped low, so a restarted server is back in use within seconds). Keepalive pings at the
 * reference client's 10 s only while streams are open, so idle tunnels cost nothing and a
 * dead path is noticed while it matters.
 */
const CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 3_000,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  // Distinct tunnels to the same host must not share a connection (different tokens/CAs).
  'grpc.use_local_subchannel_pool': 1,
  // HTTP/2's default 64 KiB receive window (grpc-js uses it for the connection and for each
  // stream) caps downloads at one window per round trip: 640 KiB/s at 100 ms, shared by every
  // stream. 4 MiB keeps distant servers fast (and doubled 8-stream throughput even locally);
  // at most that much can wait in a paused stream.
  'grpc-node.flow_control_window': 4 * 1024 * 1024,
};

export interface GrpcEndpoint {
  host: string;
  port: number;
  tls: boolean;
  /** `grpc[s]://host:port`, without any credential. */
  displayUrl: string;
  /** A `?token=` in the URL (the CLI flag wins). */
  token?: string;
}

/** grpc-js appends resolver notes and timestamps that mean nothing to a user. */
function conciseDetails(details: string): string {
  return details.replace(/\. Resolution note:.*$/s, '').replace(/ \(\d{4}-\d\d-\d\dT[^)]*\)/, '');
}

export function parseGrpcEndpoint(url: URL): GrpcEndpoint {
  const tls = url.protocol === 'grpcs:';
  if (!tls && url.protocol !== 'grpc:') {
    throw new SeamoonError('BAD_ADDRESS', `not a gRPC tunnel URL: ${url.protocol}//${url.host}`);
  }
  if (url.hostname === '') throw new SeamoonError('BAD_ADDRESS', 'gRPC tunnel URL without a host');
  if (url.pathname !== '' && url.pathname !== '/') {
    throw new SeamoonError('BAD_ADDRESS', `gRPC tunnel URLs take no path ("${url.pathname}")`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  const token = url.searchParams.get('token') ?? undefined;
  return { host, port, tls, displayUrl: `${url.protocol}//${url.host}`, token };
}

function channelCredentials(endpoint: GrpcEndpoint, options: TunnelOptions): ChannelCredentials {
  if (!endpoint.tls) return credentials.createInsecure();
  if (options.insecure) return credentials.createSsl(null, null, null, { rejectUnauthorized: false });
  // Extra CAs add to the system's trust store instead of replacing it.
  const roots = options.ca?.length
    ? Buffer.from([...rootCertificates, ...options.ca.map(String)].join('\n'))
    : null;
  return credentials.createSsl(roots);
}

/**
 * A tunnel to a seamoon gRPC server: `grpc://host:port` (h2c) or `grpcs://host[:443]`. Each app
 * connection is one `tunnel.Tunnel/Socks5` stream carrying a SOCKS5 CONNECT, so the server's
 * reply code becomes our error code, exactly as over WebSocket.
 */
export function createGrpcTunnel(url: URL, options: TunnelOptions = {}): Tunnel {
  const endpoint = parseGrpcEndpoint(url);
  const token = options.token ?? endpoint.token;
  const address = endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
  const client = new Client(address, channelCredentials(endpoint, options), CHANNEL_OPTIONS);
  const streams = new Set<Duplex>();
  const udpSessions = new Set<UdpSession>();
  let closed = false;
  let diagnosis: { at: number; text: Promise<string | undefined> } | undefined;

  const diagnose = (): Promise<string | undefined> => {
    if (!diagnosis || Date.now() - diagnosis.at > DIAGNOSIS_TTL_MS) {
      diagnosis = {
        at: Date.now(),
        text: diagnoseGrpcEndpoint({
          host: endpoint.host,
          port: endpoint.port,
          tls: endpoint.tls,
          servername: isIP(endpoint.host) ? undefined : endpoint.host,
          displayUrl: endpoint.displayUrl,
        }),
      };
    }
    return diagnosis.text;
  };

  const mapError =
    (path: string) =>
    (err: ServiceError): SeamoonError => {
      const where = `gRPC tunnel ${endpoint.displayUrl}`;
      switch (err.code) {
        case status.UNAUTHENTICATED:
          return new SeamoonError('AUTH_FAILED', `${where} rejected the token`);
        case status.FAILED_PRECONDITION:
          // The server refused the stream by policy (a cascade loop); answered like a denied target.
          return new SeamoonError('EGRESS_DENIED', `${where} refused the stream: ${err.details}`);
        case status.UNIMPLEMENTED:
          return new SeamoonError('TUNNEL_UNAVAILABLE', `${where} does not serve ${path}`);
        case status.DEADLINE_EXCEEDED:
          return new SeamoonError('DIAL_TIMEOUT', `${where} did not answer in time`);
        case status.CANCELLED:
          return new SeamoonError('CLOSED', `${where}: stream cancelled`);
        case status.UNAVAILABLE:
        case status.INTERNAL:
        case status.UNKNOWN:
          return new SeamoonError(
            'TUNNEL_UNAVAILABLE',
            `${where} is unavailable: ${conciseDetails(err.details)}`,
          );
        default:
          return new SeamoonError('GENERAL', `${where}: ${err.details}`);
      }
    };

  /** Adds what the port really speaks to a "cannot reach the server" error. */
  const explain = async (err: SeamoonError): Promise<SeamoonError> => {
    const unreachable = ['TUNNEL_UNAVAILABLE', 'DIAL_TIMEOUT', 'HANDSHAKE_TIMEOUT'];
    if (!unreachable.includes(err.code)) return err;
    const verdict = await diagnose();
    if (!verdict) return err;
    return new SeamoonError('TUNNEL_UNAVAILABLE', verdict, { cause: err });
  };

  const ensureOpen = () => {
    if (closed) throw new SeamoonError('TUNNEL_UNAVAILABLE', `tunnel ${endpoint.displayUrl} is closed`);
  };

  const metadataFor = (onion: boolean): Metadata => {
    const metadata = new Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    if (onion) metadata.set('sm-onion', 'enable');
    if (options.hops && options.hops.length > 0) metadata.set(HOPS_HEADER, formatHops(options.hops));
    return metadata;
  };

  const openCall = (method: TunnelStreamMethod, onion: boolean) => {
    const definition = tunnelStreamMethod(method);
    return client.makeBidiStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      metadataFor(onion),
      {},
    );
  };

  const openStream = (method: TunnelStreamMethod, onion: boolean): ClientCallStream => {
    const stream = new ClientCallStream(openCall(method, onion), mapError(tunnelStreamMethod(method).path));
    streams.add(stream);
    stream.once('close', () => streams.delete(stream));
    return stream;
  };

  return {
    name: `grpc:${endpoint.displayUrl}`,
    displayUrl: endpoint.displayUrl,

    async dial(target: Target, dialOptions: DialOptions = {}): Promise<Duplex> {
      ensureOpen();
      const stream = openStream('Socks5', dialOptions.onion ?? options.onion ?? false);
      const onAbort = () => stream.destroy(new SeamoonError('CLOSED', 'dial aborted'));
      dialOptions.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await socks5Connect(stream, target, { timeoutMs: dialOptions.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS });
      } catch (err) {
        stream.destroy();
        if (dialOptions.signal?.aborted) throw new SeamoonError('CLOSED', 'dial aborted');
        // The stream's own error (mapped from the gRPC status) says more than the reader's wrapper.
        const cause = stream.errored ?? (err instanceof Error ? err.cause : undefined);
        throw await explain(toSeamoonError(cause instanceof SeamoonError ? cause : err));
      } finally {
        dialOptions.signal?.removeEventListener('abort', onAbort);
      }
      if (dialOptions.firstBytes && dialOptions.firstBytes.length > 0) stream.write(dialOptions.firstBytes);
      return stream;
    },

    async openUdp(): Promise<UdpSession> {
      ensureOpen();
      const call = openCall('Socks5Udp', false);
      const session = openGrpcUdpSession(call, (err) =>
        mapError(tunnelStreamMethod('Socks5Udp').path)(err as ServiceError),
      );
      udpSessions.add(session);
      session.onClose(() => udpSessions.delete(session));
      return session;
    },

    health(healthOptions): Promise<TunnelHealth> {
      const timeoutMs = healthOptions?.timeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      if (closed) return Promise.resolve({ ok: false, latencyMs: 0, error: 'tunnel closed' });
      return new Promise((resolve) => {
        client.makeUnaryRequest(
          HEALTH_METHOD.path,
          HEALTH_METHOD.requestSerialize,
          HEALTH_METHOD.responseDeserialize,
          { version: VERSION },
          metadataFor(false),
          { deadline: Date.now() + timeoutMs },
          (err, pong) => {
            if (err || !pong) {
              const mapped = mapError(HEALTH_METHOD.path)(err as ServiceError);
              void explain(mapped).then((final) =>
                resolve({ ok: false, latencyMs: elapsed(), error: final.message }),
              );
              return;
            }
            resolve({
              ok: pong.status === 'OK',
              latencyMs: elapsed(),
              version: pong.commit ? `${pong.version}-${pong.commit}` : pong.version,
              startedAt: pong.time || undefined,
              error: pong.status === 'OK' ? undefined : `health status ${pong.status}`,
            });
          },
        );
      });
    },

    async close() {
      closed = true;
      for (const stream of streams) stream.destroy();
      streams.clear();
      for (const session of udpSessions) session.close();
      udpSessions.clear();
      client.close();
    },
  };
}
