import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { probeHealth } from '../../src/client/tunnel/health-probe.js';
import { openTunnelSocket } from '../../src/client/tunnel/ws-open.js';
import { SeamoonError } from '../../src/core/errors.js';

function listen<T extends Server | TcpServer>(server: T): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function expectCode(code: string, fragment: RegExp) {
  return (err: unknown) => err instanceof SeamoonError && err.code === code && fragment.test(err.message);
}

describe('openTunnelSocket', () => {
  let httpServer: Server;
  let wss: WebSocketServer;
  let silent: TcpServer;
  const silentSockets = new Set<Socket>();
  let httpPort = 0;
  let silentPort = 0;
  let closedPort = 0;
  let lastHeaders: IncomingHttpHeaders = {};

  before(async () => {
    wss = new WebSocketServer({ noServer: true });
    httpServer = createServer((req, res) => {
      if (req.url === '/_health') res.end('OK\n2026-12-04 20:00:00\n0.1.0\nv2ray-core:-');
      else res.writeHead(404).end();
    });
    httpServer.on('upgrade', (req, socket, head) => {
      lastHeaders = req.headers;
      if (req.url === '/denied/socks5') {
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      if (req.url === '/broken/socks5') {
        socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => ws.close());
    });
    httpPort = await listen(httpServer);
    // Accepts TCP, never answers: a tunnel that hangs.
    silent = createTcpServer((socket) => silentSockets.add(socket));
    silentPort = await listen(silent);
    const probe = createTcpServer();
    closedPort = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  after(async () => {
    for (const socket of silentSockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
    httpServer.closeAllConnections();
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    wss.close();
  });

  const base = { tls: {}, timeoutMs: 2000, displayUrl: 'ws://test' };

  test('opens and sends the given headers', async () => {
    const socket = await openTunnelSocket(`ws://127.0.0.1:${httpPort}/socks5`, {
      ...base,
      headers: { authorization: 'Bearer T', 'sm-onion': 'enable' },
    });
    socket.terminate();
    assert.equal(lastHeaders.authorization, 'Bearer T');
    assert.equal(lastHeaders['sm-onion'], 'enable');
    assert.equal(lastHeaders['sec-websocket-extensions'], undefined, 'no permessage-deflate offered');
  });

  test('401 → AUTH_FAILED "tunnel rejected the token"', async () => {
    await assert.rejects(
      openTunnelSocket(`ws://127.0.0.1:${httpPort}/denied/socks5`, { ...base, headers: {} }),
      expectCode('AUTH_FAILED', /tunnel rejected the token/),
    );
  });

  test('other statuses → TUNNEL_UNAVAILABLE with the status', async () => {
    await assert.rejects(
      openTunnelSocket(`ws://127.0.0.1:${httpPort}/broken/socks5`, { ...base, headers: {} }),
      expectCode('TUNNEL_UNAVAILABLE', /HTTP 502/),
    );
  });

  test('connection refused → TUNNEL_UNAVAILABLE with the reason', async () => {
    await assert.rejects(
      openTunnelSocket(`ws://127.0.0.1:${closedPort}/socks5`, { ...base, headers: {} }),
      expectCode('TUNNEL_UNAVAILABLE', /ECONNREFUSED/),
    );
  });

  test('a silent server → TUNNEL_UNAVAILABLE after the timeout, not a hang', async () => {
    const started = Date.now();
    await assert.rejects(
      openTunnelSocket(`ws://127.0.0.1:${silentPort}/socks5`, { ...base, timeoutMs: 300, headers: {} }),
      expectCode('TUNNEL_UNAVAILABLE', /did not answer within 300 ms/),
    );
    assert.ok(Date.now() - started < 2000);
  });

  test('abort signal → CLOSED', async () => {
    const controller = new AbortController();
    const pending = openTunnelSocket(`ws://127.0.0.1:${silentPort}/socks5`, {
      ...base,
      headers: {},
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, expectCode('CLOSED', /aborted/));
  });

  test('health probe parses the page and measures latency', async () => {
    const health = await probeHealth(`http://127.0.0.1:${httpPort}/_health`, {}, 2000);
    assert.equal(health.ok, true);
    assert.equal(health.version, '0.1.0');
    assert.equal(health.startedAt, '2026-12-04 20:00:00');
    assert.ok(health.latencyMs >= 0);
    const missing = await probeHealth(`http://127.0.0.1:${httpPort}/nope`, {}, 2000);
    assert.equal(missing.ok, false);
    assert.match(missing.error ?? '', /HTTP 404/);
    const refused = await probeHealth(`http://127.0.0.1:${closedPort}/_health`, {}, 2000);
    assert.equal(refused.ok, false);
    const silentHealth = await probeHealth(`http://127.0.0.1:${silentPort}/_health`, {}, 200);
    assert.match(silentHealth.error ?? '', /timed out/);
  });
});
