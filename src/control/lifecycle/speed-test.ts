import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { SeamoonError, toSeamoonError } from '../../core/errors.js';
import type { Outbound } from '../../outbound/types.js';

export interface SpeedResult {
  bytes: number;
  seconds: number;
  /** Megabits per second: bytes × 8 / seconds / 10^6 (the original stored bytes/s and called it Mbps). */
  mbps: number;
  /** Time to the response headers, a latency estimate through the whole path. */
  firstByteMs: number;
}

export interface SpeedTestOptions {
  timeoutMs?: number;
  /** Stop after this many bytes so a huge file cannot run forever. */
  maxBytes?: number;
}

export function mbps(bytes: number, seconds: number): number {
  return seconds > 0 ? (bytes * 8) / seconds / 1e6 : 0;
}

/**
 * Downloads `url` through `outbound` (the proxy's own tunnels) and measures the throughput.
 * Plain HTTP/1.1 over the dialed stream; https is wrapped in TLS with normal verification.
 */
export async function runSpeedTest(
  outbound: Outbound,
  url: string,
  options: SpeedTestOptions = {},
): Promise<SpeedResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBytes = options.maxBytes ?? 200 * 1024 * 1024;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SeamoonError('BAD_ADDRESS', `speed test URL is not a URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SeamoonError('BAD_ADDRESS', 'speed test URL must be http:// or https://');
  }
  const secure = parsed.protocol === 'https:';
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = parsed.port === '' ? (secure ? 443 : 80) : Number(parsed.port);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const started = performance.now();
  try {
    const raw = await outbound.dial({ host, port }, { timeoutMs, signal: controller.signal });
    const stream: Duplex = secure ? tlsConnect({ socket: raw, servername: host }) : raw;
    return await new Promise<SpeedResult>((resolve, reject) => {
      const req = httpRequest(
        {
          method: 'GET',
          host,
          port,
          path: `${parsed.pathname}${parsed.search}`,
          headers: { host: parsed.host, 'user-agent': 'seamoon-speedtest', connection: 'close' },
          // http accepts any Duplex as the connection; its typings only name net.Socket.
          createConnection: () => stream as unknown as Socket,
          signal: controller.signal,
        },
        (res) => {
          const firstByteMs = performance.now() - started;
          if ((res.statusCode ?? 0) >= 400) {
            res.resume();
            reject(new SeamoonError('GENERAL', `speed test URL answered HTTP ${res.statusCode}`));
            return;
          }
          let bytes = 0;
          const finish = () => {
            const seconds = (performance.now() - started) / 1000;
            resolve({ bytes, seconds, mbps: mbps(bytes, seconds), firstByteMs: Math.round(firstByteMs) });
            res.destroy();
            stream.destroy();
          };
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes >= maxBytes) finish();
          });
          res.once('end', finish);
          res.once('error', reject);
        },
      );
      req.once('error', reject);
      req.end();
    });
  } catch (err) {
    if (controller.signal.aborted)
      throw new SeamoonError('DIAL_TIMEOUT', `speed test timed out after ${timeoutMs} ms`);
    throw toSeamoonError(err);
  } finally {
    clearTimeout(timer);
  }
}
