import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Deterministic pseudo-random bytes (xorshift32), so a test can compute the expected sha256. */
export function patternBytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Routes: `/hello` → "hello from origin"; `/host` → the Host header it saw;
 * `/bytes?n=N&seed=S` → patternBytes(N, S) streamed; `/echo` → request body back;
 * anything else → 404.
 */
function originHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://origin');
  if (url.pathname === '/hello') {
    res.end('hello from origin');
  } else if (url.pathname === '/host') {
    res.end(req.headers.host ?? '');
  } else if (url.pathname === '/headers') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.headers));
  } else if (url.pathname === '/bytes') {
    const n = Number(url.searchParams.get('n') ?? '0');
    const seed = Number(url.searchParams.get('seed') ?? '1');
    const body = patternBytes(n, seed);
    res.setHeader('content-length', String(n));
    const step = 64 * 1024;
    let offset = 0;
    const writeMore = () => {
      while (offset < body.length) {
        const chunk = body.subarray(offset, offset + step);
        offset += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', writeMore);
          return;
        }
      }
      res.end();
    };
    writeMore();
  } else if (url.pathname === '/echo') {
    req.pipe(res);
  } else {
    res.statusCode = 404;
    res.end('not found');
  }
}

export interface Origin {
  server: Server;
  port: number;
  close(): Promise<void>;
}

async function listen(server: Server, host: string): Promise<Origin> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function startHttpOrigin(host = '127.0.0.1'): Promise<Origin> {
  return listen(createServer(originHandler), host);
}

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  dir: string;
  keyPath: string;
  certPath: string;
}

/** A self-signed certificate for 127.0.0.1/localhost, generated with the real openssl. */
export function makeSelfSignedCert(commonName = 'localhost'): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), 'seamoon-tls-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(keyPath), cert: readFileSync(certPath), dir, keyPath, certPath };
}

export function startHttpsOrigin(tls: TlsMaterial, host = '127.0.0.1'): Promise<Origin> {
  return listen(createHttpsServer({ key: tls.key, cert: tls.cert }, originHandler), host);
}

export interface UdpEcho {
  socket: UdpSocket;
  port: number;
  close(): Promise<void>;
}

/** Replies to every datagram with `echo:` + payload. */
export async function startUdpEcho(host = '127.0.0.1'): Promise<UdpEcho> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (msg, rinfo) => {
    socket.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return {
    socket,
    port: socket.address().port,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
