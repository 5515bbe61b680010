import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type AddressInfo, createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createWsMuxTunnel, type MuxTunnel } from '../../src/client/tunnel/ws-mux.js';
import type { SeamoonError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { parseServerOptions } from '../../src/server/config.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { type Origin, patternBytes, sha256, startHttpOrigin } from '../helpers/origin.js';

const TOKEN = 'mux-test-token-5678';

function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

function httpGet(path: string, port: number): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
}

function body(response: Buffer): string {
  const text = response.toString('latin1');
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

async function startTunnelServer(allowPrivate = true): Promise<RunningServer> {
  const options = parseServerOptions(
    { addr: '127.0.0.1', port: '0', token: TOKEN, allowPrivate, logLevel: 'silent' },
    {},
  );
  return startServer(options, { log: silentLogger, env: {} });
}

describe('ws-mux tunnel against a real seamoon server', () => {
  let server: RunningServer;
  let origin: Origin;
  let echo: Server;
  let echoPort = 0;
  let closedPort = 0;
  let tunnel: MuxTunnel;

  before(async () => {
    server = await startTunnelServer();
    origin = await startHttpOrigin();
    echo = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as AddressInfo).port;
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    tunnel = createWsMuxTunnel(new URL(`ws://127.0.0.1:${server.address.port}`), {
      token: TOKEN,
      warm: 2,
      log: silentLogger,
    });
  });

  after(async () => {
    await tunnel?.close();
    await server?.close();
    await origin?.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  test('a dial waits for the status, then carries a request', async () => {
    const stream = await tunnel.dial({ host: '127.0.0.1', port: origin.port });
    const response = readAll(stream);
    stream.write(httpGet('/hello', origin.port));
    assert.equal(body(await response), 'hello from origin');
  });

  test('optimistic dial: first bytes ride in the opening frame', async () => {
    const stream = await tunnel.dial(
      { host: 'localhost', port: origin.port },
      { firstBytes: httpGet('/host', origin.port) },
    );
    assert.equal(body(await readAll(stream)), `127.0.0.1:${origin.port}`);
  });

  test('warm sessions are open before the first dial and reused', async () => {
    assert.equal(tunnel.sessions().ready, 2);
    const before = server.stats().total;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const s = await tunnel.dial({ host: '127.0.0.1', port: origin.port });
        const r = readAll(s);
        s.write(httpGet('/hello', origin.port));
        await r;
      }),
    );
    assert.equal(server.stats().total, before, 'no new WebSocket for new app connections');
  });

  test('target errors map to codes; in optimistic mode the stream fails with it', async () => {
    await assert.rejects(
      tunnel.dial({ host: '127.0.0.1', port: closedPort }),
      (err: SeamoonError) => err.code === 'CONNECTION_REFUSED',
    );
    const stream = await tunnel.dial(
      { host: '127.0.0.1', port: closedPort },
      { firstBytes: Buffer.from('x') },
    );
    await assert.rejects(readAll(stream), (err: SeamoonError) => err.code === 'CONNECTION_REFUSED');
  });

  test('a wrong token is AUTH_FAILED', async () => {
    const bad = createWsMuxTunnel(new URL(`ws://127.0.0.1:${server.address.port}`), {
      token: 'wrong',
      log: silentLogger,
    });
    try {
      await assert.rejects(
        bad.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 3000 }),
        (err: SeamoonError) => err.code === 'AUTH_FAILED',
      );
    } finally {
      await bad.close();
    }
  });

  test('the egress guard applies to fast-path streams (EGRESS_DENIED)', async () => {
    const guarded = await startTunnelServer(false);
    const viaGuarded = createWsMuxTunnel(new URL(`ws://127.0.0.1:${guarded.address.port}`), {
      token: TOKEN,
      log: silentLogger,
    });
    try {
      await assert.rejects(
        viaGuarded.dial({ host: '127.0.0.1', port: origin.port }),
        (err: SeamoonError) => err.code === 'EGRESS_DENIED',
      );
    } finally {
      await viaGuarded.close();
      await guarded.close();
    }
  });

  test('health reports ok with the server version and a latency', async () => {
    const health = await tunnel.health({ timeoutMs: 3000 });
    assert.equal(health.ok, true, health.error);
    assert.ok(health.latencyMs >= 0);
  });

  test('500 concurrent streams over 2 connections, sha256-checked both ways', async () => {
    const runs = Array.from({ length: 500 }, async (_, i) => {
      const up = patternBytes(4096 + ((i * 7919) % 60_000), i + 1);
      const stream = await tunnel.dial(
        { host: '127.0.0.1', port: echoPort },
        { firstBytes: up.subarray(0, 100) },
      );
      const back = readAll(stream);
      stream.end(up.subarray(100));
      return sha256(await back) === sha256(up);
    });
    const ok = (await Promise.all(runs)).filter(Boolean).length;
    assert.equal(ok, 500);
    assert.equal(tunnel.sessions().ready, 2);
  });

  test('a download through one stream is byte-exact', async () => {
    const n = 3 * 1024 * 1024;
    const stream = await tunnel.dial({ host: '127.0.0.1', port: origin.port });
    const response = readAll(stream);
    stream.write(httpGet(`/bytes?n=${n}&seed=9`, origin.port));
    const raw = await response;
    const payload = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
    assert.equal(createHash('sha256').update(payload).digest('hex'), sha256(patternBytes(n, 9)));
  });
});
