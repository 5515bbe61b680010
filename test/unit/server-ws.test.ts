import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { silentLogger } from '../../src/core/logger.js';
import { TokenChecker } from '../../src/server/auth.js';
import { RouteTable } from '../../src/server/routes.js';
import { type RunningWsServer, startWsServer } from '../../src/server/ws-server.js';

const TOKEN = 'unit-token';

/** Routes that make the transport's behaviour observable without any proxy protocol. */
function testRoutes(): RouteTable {
  return new RouteTable()
    .add({
      name: 'echo',
      kind: 'stream',
      auth: 'token',
      handle: (stream) =>
        new Promise<void>((resolve) => {
          stream.on('data', (chunk: Buffer) => stream.write(chunk));
          stream.on('end', () => stream.end());
          stream.on('close', () => resolve());
        }),
    })
    .add({
      name: 'reply-and-return',
      kind: 'stream',
      auth: 'token',
      handle: async (stream) => {
        stream.write(Buffer.from('last words'));
      },
    })
    .add({
      name: 'throws',
      kind: 'stream',
      auth: 'token',
      handle: async () => {
        throw new Error('route blew up');
      },
    })
    .add({
      name: 'open',
      kind: 'stream',
      auth: 'self',
      handle: async (stream) => {
        stream.write(Buffer.from('no token needed'));
      },
    })
    .add({
      name: 'datagrams',
      kind: 'message',
      auth: 'token',
      handle: (channel, request) =>
        new Promise<void>((resolve) => {
          channel.onMessage((message) =>
            channel.send(Buffer.concat([Buffer.from(`${request.headers['x-tag'] ?? ''}:`), message])),
          );
          channel.onClose(resolve);
        }),
    });
}

interface Opened {
  ws: WebSocket;
  messages: Buffer[];
}

function open(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}, protocol?: string) {
  return new Promise<Opened>((resolve, reject) => {
    const ws = protocol === undefined ? new WebSocket(url, options) : new WebSocket(url, protocol, options);
    const messages: Buffer[] = [];
    ws.on('message', (data) => messages.push(data as Buffer));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      res.resume();
    });
    ws.once('error', reject);
  });
}

function nextMessage(opened: Opened, count = 1): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), 5_000);
    const check = () => {
      if (opened.messages.length >= count) {
        clearTimeout(timer);
        opened.ws.off('message', check);
        resolve(opened.messages.slice(0, count));
      }
    };
    opened.ws.on('message', check);
    check();
  });
}

function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('WebSocket tunnel server (in-process, test routes)', () => {
  let server: RunningWsServer;
  let base: string;
  const auth = { headers: { authorization: `Bearer ${TOKEN}` } };

  before(async () => {
    server = await startWsServer({
      host: '127.0.0.1',
      port: 0,
      routes: testRoutes(),
      tokens: new TokenChecker(TOKEN),
      handshakeTimeoutMs: 2_000,
      log: silentLogger,
      startedAt: new Date(),
    });
    base = `ws://127.0.0.1:${server.address.port}`;
  });

  after(async () => {
    await server.close();
  });

  test('GET /_health answers the four-line text without a token', async () => {
    const res = await get(server.address.port, '/_health');
    assert.equal(res.status, 200);
    assert.equal(res.type, 'text/plain');
    const lines = res.body.split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], 'OK');
    assert.match(lines[1] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  test('plain GET on a route: 401 without token, 426 with it, 404 elsewhere', async () => {
    assert.equal((await get(server.address.port, '/echo')).status, 401);
    assert.equal((await get(server.address.port, '/echo', auth.headers)).status, 426);
    assert.equal((await get(server.address.port, `/${TOKEN}/echo`)).status, 426);
    assert.equal((await get(server.address.port, '/nope', auth.headers)).status, 404);
  });

  test('upgrade: 401 without or with a wrong token, 404 for unknown paths', async () => {
    await assert.rejects(open(`${base}/echo`), /HTTP 401/);
    await assert.rejects(open(`${base}/echo`, { headers: { authorization: 'Bearer nope' } }), /HTTP 401/);
    await assert.rejects(open(`${base}/nope/echo`), /HTTP 401/);
    await assert.rejects(open(`${base}/nope`, auth), /HTTP 404/);
    await assert.rejects(open(`${base}/${TOKEN}/nope`), /HTTP 404/);
  });

  test('stream route echoes with bearer and with path token', async () => {
    for (const [url, options] of [
      [`${base}/echo`, auth],
      [`${base}/${TOKEN}/echo`, {}],
    ] as const) {
      const opened = await open(url, options);
      opened.ws.send(Buffer.from('ping'));
      const [reply] = await nextMessage(opened);
      assert.equal(reply?.toString(), 'ping');
      opened.ws.close();
    }
  });

  test('text messages are carried as bytes', async () => {
    const opened = await open(`${base}/echo`, auth);
    opened.ws.send('as text');
    const [reply] = await nextMessage(opened);
    assert.equal(reply?.toString(), 'as text');
    opened.ws.close();
  });

  test('early data is read first and the subprotocol echoed', async () => {
    const early = Buffer.from([0x05, 0x01, 0x00, 0xff, 0x10]);
    const opened = await open(`${base}/echo`, auth, early.toString('base64url'));
    assert.equal(opened.ws.protocol, early.toString('base64url'));
    opened.ws.send(Buffer.from('after'));
    const received: Buffer[] = [];
    while (Buffer.concat(received).length < early.length + 5) {
      received.push(...(await nextMessage(opened, opened.messages.length + 1)).slice(received.length));
    }
    assert.deepEqual(Buffer.concat(received), Buffer.concat([early, Buffer.from('after')]));
    opened.ws.close();
  });

  test('message route: early data is the first datagram, headers reach the route', async () => {
    const opened = await open(
      `${base}/datagrams`,
      { headers: { ...auth.headers, 'x-tag': 't1' } },
      Buffer.from('first').toString('base64url'),
    );
    opened.ws.send(Buffer.from('second'));
    const replies = await nextMessage(opened, 2);
    assert.deepEqual(
      replies.map((m) => m.toString()),
      ['t1:first', 't1:second'],
    );
    opened.ws.close();
  });

  test('a reply written just before the route returns still arrives', async () => {
    const opened = await open(`${base}/reply-and-return`, auth);
    const closed = new Promise<number>((resolve) => opened.ws.once('close', (code) => resolve(code)));
    const [reply] = await nextMessage(opened);
    assert.equal(reply?.toString(), 'last words');
    // A clean close handshake (1005 = close frame without a status), not a dropped socket (1006).
    assert.notEqual(await closed, 1006);
  });

  test('self-authenticating routes need no token', async () => {
    const opened = await open(`${base}/open`);
    const [reply] = await nextMessage(opened);
    assert.equal(reply?.toString(), 'no token needed');
    opened.ws.close();
  });

  test('a failing route closes its stream and the server keeps serving', async () => {
    const broken = await open(`${base}/throws`, auth);
    await new Promise((resolve) => broken.ws.once('close', resolve));
    const opened = await open(`${base}/echo`, auth);
    opened.ws.send(Buffer.from('still here'));
    const [reply] = await nextMessage(opened);
    assert.equal(reply?.toString(), 'still here');
    opened.ws.close();
  });

  test('stats count open and total streams', async () => {
    const before = server.stats();
    const opened = await open(`${base}/echo`, auth);
    opened.ws.send(Buffer.from('x'));
    await nextMessage(opened);
    assert.ok(server.stats().active >= 1);
    assert.equal(server.stats().total, before.total + 1);
    opened.ws.close();
    await new Promise((resolve) => opened.ws.once('close', resolve));
  });
});

describe('WebSocket tunnel server shutdown', () => {
  test('close() ends open streams and stops listening', async () => {
    const server = await startWsServer({
      host: '127.0.0.1',
      port: 0,
      routes: testRoutes(),
      tokens: new TokenChecker(undefined),
      handshakeTimeoutMs: 2_000,
      log: silentLogger,
      startedAt: new Date(),
    });
    const opened = await open(`ws://127.0.0.1:${server.address.port}/echo`);
    const closed = new Promise<number>((resolve) => opened.ws.once('close', (code) => resolve(code)));
    await server.close();
    assert.equal(await closed, 1001);
    await assert.rejects(open(`ws://127.0.0.1:${server.address.port}/echo`), /ECONNREFUSED/);
  });
});

describe('WebSocket tunnel server timeouts', () => {
  test('the upgrade-request timeouts do not cut an established tunnel stream', async () => {
    const server = await startWsServer({
      host: '127.0.0.1',
      port: 0,
      routes: testRoutes(),
      tokens: new TokenChecker(undefined),
      handshakeTimeoutMs: 300,
      log: silentLogger,
      startedAt: new Date(),
    });
    try {
      const opened = await open(`ws://127.0.0.1:${server.address.port}/echo`);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      opened.ws.send(Buffer.from('late'));
      const [reply] = await nextMessage(opened);
      assert.equal(reply?.toString(), 'late');
      opened.ws.close();
    } finally {
      await server.close();
    }
  });

  test('a connection that never sends its request is dropped', async () => {
    const server = await startWsServer({
      host: '127.0.0.1',
      port: 0,
      routes: testRoutes(),
      tokens: new TokenChecker(undefined),
      handshakeTimeoutMs: 300,
      log: silentLogger,
      startedAt: new Date(),
    });
    try {
      const { connect } = await import('node:net');
      const socket = connect(server.address.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume();
      socket.write('GET /echo HTTP/1.1\r\nHost: x\r\n');
      const started = Date.now();
      await new Promise((resolve) => socket.once('close', resolve));
      assert.ok(Date.now() - started < 5_000);
    } finally {
      await server.close();
    }
  });
});

describe('WebSocket tunnel server over TLS', () => {
  test('serves wss:// with the given certificate', async () => {
    const { makeSelfSignedCert } = await import('../helpers/origin.js');
    const { rmSync } = await import('node:fs');
    const tls = makeSelfSignedCert();
    const server = await startWsServer({
      host: '127.0.0.1',
      port: 0,
      routes: testRoutes(),
      tokens: new TokenChecker(TOKEN),
      handshakeTimeoutMs: 2_000,
      log: silentLogger,
      startedAt: new Date(),
      tls: { cert: tls.cert, key: tls.key },
    });
    try {
      const opened = await open(`wss://127.0.0.1:${server.address.port}/${TOKEN}/echo`, { ca: tls.cert });
      opened.ws.send(Buffer.from('over tls'));
      const [reply] = await nextMessage(opened);
      assert.equal(reply?.toString(), 'over tls');
      opened.ws.close();
    } finally {
      await server.close();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});
