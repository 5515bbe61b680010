import type { IncomingMessage } from 'node:http';
import { rootCertificates } from 'node:tls';
import { WebSocket } from 'ws';
import { SeamoonError, toSeamoonError } from '../../core/errors.js';

export interface TlsSettings {
  insecure?: boolean;
  /** Extra CAs, trusted in addition to the system's roots. */
  ca?: Buffer[];
}

export interface OpenSocketOptions {
  headers: Record<string, string>;
  tls: TlsSettings;
  /** The WebSocket handshake (TCP + TLS + upgrade) must finish within this. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** For error messages: the URL without secrets. */
  displayUrl: string;
}

/** Node's TLS options for a tunnel connection: verified unless the user opted out. */
export function tlsOptions(tls: TlsSettings): { rejectUnauthorized: boolean; ca?: (string | Buffer)[] } {
  return {
    rejectUnauthorized: !tls.insecure,
    ...(tls.ca && tls.ca.length > 0 ? { ca: [...rootCertificates, ...tls.ca] } : {}),
  };
}

function upgradeRejection(res: IncomingMessage, displayUrl: string): SeamoonError {
  const status = res.statusCode ?? 0;
  if (status === 401 || status === 403) {
    return new SeamoonError('AUTH_FAILED', `tunnel rejected the token (HTTP ${status} from ${displayUrl})`);
  }
  if (status === 508) {
    // A cascade loop: refused by policy, answered like a denied target (SOCKS 0x02).
    return new SeamoonError(
      'EGRESS_DENIED',
      `tunnel ${displayUrl} refused the stream: cascade loop detected`,
    );
  }
  return new SeamoonError(
    'TUNNEL_UNAVAILABLE',
    `tunnel refused the websocket upgrade with HTTP ${status} (${displayUrl})`,
  );
}

/**
 * Opens one WebSocket to a tunnel route. Every failure becomes a SeamoonError the app can be
 * answered with: a 401 is AUTH_FAILED, anything that keeps us from reaching the server
 * (refused, reset, TLS, timeout, other statuses) is TUNNEL_UNAVAILABLE with the reason.
 */
export function openTunnelSocket(url: string, options: OpenSocketOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new SeamoonError('CLOSED', 'dial aborted'));
      return;
    }
    const socket = new WebSocket(url, {
      headers: options.headers,
      perMessageDeflate: false,
      followRedirects: false,
      ...tlsOptions(options.tls),
    });
    let settled = false;
    const settle = (err?: SeamoonError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) {
        socket.terminate();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const timer = setTimeout(() => {
      settle(
        new SeamoonError(
          'TUNNEL_UNAVAILABLE',
          `tunnel ${options.displayUrl} did not answer within ${options.timeoutMs} ms`,
        ),
      );
    }, options.timeoutMs);
    const onAbort = () => settle(new SeamoonError('CLOSED', 'dial aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });

    socket.once('open', () => settle());
    socket.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      settle(upgradeRejection(res, options.displayUrl));
    });
    // Stays attached: errors after the handshake are the stream adapter's business, but an
    // error racing with terminate() must not become an uncaught exception.
    socket.on('error', (err) => {
      const cause = toSeamoonError(err);
      settle(
        new SeamoonError('TUNNEL_UNAVAILABLE', `tunnel ${options.displayUrl} unreachable: ${cause.message}`, {
          cause: err,
        }),
      );
    });
  });
}
