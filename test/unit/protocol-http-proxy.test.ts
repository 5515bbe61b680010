import assert from 'node:assert/strict';
import { Agent, createServer as createHttpServer, type Server as HttpServer, request } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { SeamoonError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { createDirectOutbound } from '../../src/outbound/direct.js';
import { EgressGuard } from '../../src/outbound/egress-guard.js';
import type { Outbound } from '../../src/outbound/types.js';
import { handleAuto } from '../../src/protocol/auto.js';
import { handleHttpProxy } from '../../src/protocol/http-proxy.js';
import { encodeRequest } from '../../src/protocol/socks5-codec.js';
import { StreamReader } from '../../src/protocol/stream-reader.js';
import { DEFAULT_TIMEOUTS, type ProxyHandler, type ProxyHandlerContext } from '../../src/protocol/types.js';
import { wsToDuplex } from '../../src/transport/ws-stream.js';
import { curl, curlThrough } from '../helpers/curl.js';
import { makeSelfSignedCert, type Origin, startHttpOrigin, startHttpsOrigin } from '../helpers/origin.js';
import { freePort } from '../helpers/processes.js';

async function listen(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

const directOutbound = (allowPrivate: boolean) =>
  createDirectOutbound({ guard: new EgressGuard({ allowPrivate, allow: [] }), log: silentLogger });

async function startProxy(ctx: Partial<ProxyHandlerContext>, handler: ProxyHandler = handleHttpProxy) {
  const sockets = new Set<Duplex>();
  // allowHalfOpen: the handler (relay) decides when to end each direction, as a real listener should.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    void handler(socket, {
      outbound: directOutbound(true),
      log: silentLogger,
      timeouts: { ...DEFAULT_TIMEOUTS, handshakeMs: 2000 },
      ...ctx,
    });
  });
  const port = await listen(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Sends raw bytes, returns everything the proxy sent until it closed. */
async function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(bytes);
  await new Promise((resolve) => socket.once('close', resolve));
  return Buffer.concat(chunks).toString('latin1');
}

/** An origin that says who it is, so a request answered by the wrong host is visible. */
async function startNamedOrigin(name: string) {
  const server = createHttpServer((req, res) => {
    res.end(`${name} ${req.url}`);
  });
  const port = await listen(server);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('HTTP proxy handler', () => {
  let origin: Origin;
  let originA: Awaited<ReturnType<typeof startNamedOrigin>>;
  let originB: Awaited<ReturnType<typeof startNamedOrigin>>;
  let echo: Server;
  let echoPort: number;
  let proxy: Awaited<ReturnType<typeof startProxy>>;

  before(async () => {
    origin = await startHttpOrigin();
    originA = await startNamedOrigin('A');
    originB = await startNamedOrigin('B');
    echo = createServer((socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    echoPort = await listen(echo);
    proxy = await startProxy({});
  });
  after(async () => {
    await proxy.close();
    await origin.close();
    await originA.close();
    await originB.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  test('plain GET through curl', async () => {
    const body = await curlThrough(proxy.url, `http://127.0.0.1:${origin.port}/hello`);
    assert.equal(body.toString(), 'hello from origin');
  });

  test('keep-alive: two requests to two origins on one connection, each answered by its own host', async () => {
    const result = await curl([
      '-v',
      '-x',
      proxy.url,
      `http://127.0.0.1:${originA.port}/one`,
      `http://127.0.0.1:${originB.port}/two`,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout.toString(), 'A /oneB /two');
    assert.match(result.stderr, /Re-using existing connection/i, 'curl reused its proxy connection');

    // The same with Node's client and an explicit shared socket.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (url: string) =>
      new Promise<{ body: string; reused: boolean }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: proxy.port, path: url, agent }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          res.on('end', () => resolve({ body, reused: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end();
      });
    const first = await get(`http://127.0.0.1:${originB.port}/x`);
    const second = await get(`http://localhost:${originA.port}/y`);
    agent.destroy();
    assert.deepEqual(first, { body: 'B /x', reused: false });
    assert.deepEqual(second, { body: 'A /y', reused: true });
  });

  test('hop-by-hop headers are removed, Host follows the absolute URI, bodies pass', async () => {
    const raw = await rawExchange(
      proxy.port,
      `GET http://127.0.0.1:${origin.port}/headers HTTP/1.1\r\nHost: wrong.example\r\n` +
        'Connection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n' +
        'TE: trailers\r\nX-Keep: 2\r\n\r\n',
    );
    assert.match(raw, /^HTTP\/1\.1 200 /);
    const headers = JSON.parse(
      raw.slice(raw.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, ''),
    );
    assert.equal(headers['x-keep'], '2');
    assert.equal(headers.host, `127.0.0.1:${origin.port}`);
    for (const name of ['x-hop', 'keep-alive', 'proxy-connection', 'te'])
      assert.equal(headers[name], undefined, name);

    const posted = await curl([
      '-x',
      proxy.url,
      '--data-binary',
      'body-bytes',
      `http://127.0.0.1:${origin.port}/echo`,
    ]);
    assert.equal(posted.stdout.toString(), 'body-bytes');
    const chunked = await curl([
      '-x',
      proxy.url,
      '-H',
      'Transfer-Encoding: chunked',
      '--data-binary',
      'chunked-body',
      `http://127.0.0.1:${origin.port}/echo`,
    ]);
    assert.equal(chunked.stdout.toString(), 'chunked-body');
  });

  test('CONNECT: 200 without Content-Length, bytes pipelined after the head are not lost', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    const reader = new StreamReader(socket, { timeoutMs: 3000 });
    socket.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\n\r\nearly`);
    const head = await reader.readUntil('\r\n\r\n', 4096);
    assert.equal(head.toString(), 'HTTP/1.1 200 Connection established\r\n\r\n');
    assert.equal((await reader.readExactly(5)).toString(), 'early');
    socket.write('later');
    assert.equal((await reader.readExactly(5)).toString(), 'later');
    reader.release();
    socket.destroy();
  });

  test('HTTPS through CONNECT to a local TLS origin (curl -k)', async () => {
    const tls = makeSelfSignedCert();
    const secure = await startHttpsOrigin(tls);
    try {
      const body = await curlThrough(proxy.url, `https://127.0.0.1:${secure.port}/hello`, ['-k']);
      assert.equal(body.toString(), 'hello from origin');
    } finally {
      await secure.close();
    }
  });

  test('Upgrade through an absolute-URI request reaches the origin (WebSocket 101)', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    const port = (wss.address() as { port: number }).port;
    wss.on('connection', (ws) => ws.send('welcome'));
    try {
      const socket = connect(proxy.port, '127.0.0.1');
      socket.on('error', () => {});
      const reader = new StreamReader(socket, { timeoutMs: 3000 });
      socket.write(
        `GET http://127.0.0.1:${port}/chat HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
          'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      const head = (await reader.readUntil('\r\n\r\n', 4096)).toString();
      assert.match(head, /^HTTP\/1\.1 101 /);
      assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
      // First server frame: FIN+text, length 7, "welcome".
      const frame = await reader.readExactly(9);
      assert.equal(frame.subarray(2).toString(), 'welcome');
      reader.release();
      socket.destroy();
    } finally {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });

  test('malformed → 400, origin-form → 400, oversized head → 431', async () => {
    assert.match(await rawExchange(proxy.port, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(
      await rawExchange(proxy.port, 'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      /^HTTP\/1\.1 400 /,
    );
    assert.match(await rawExchange(proxy.port, 'CONNECT nonsense HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400 /);
    const big = `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`;
    assert.match(await rawExchange(proxy.port, big), /^HTTP\/1\.1 431 /);
    const still = await curl(['-x', proxy.url, `http://127.0.0.1:${origin.port}/hello`]);
    assert.equal(still.stdout.toString(), 'hello from origin');
  });

  test('denied → 403, refused → 502, dial timeout → 504 (GET and CONNECT)', async () => {
    const guarded = await startProxy({ outbound: directOutbound(false) });
    const timingOut: Outbound = {
      name: 'slow',
      dial: async () => {
        throw new SeamoonError('DIAL_TIMEOUT', 'timed out');
      },
    };
    const slow = await startProxy({ outbound: timingOut });
    try {
      const closedPort = await freePort();
      const cases: Array<[number, string, number]> = [
        [guarded.port, `127.0.0.1:${origin.port}`, 403],
        [guarded.port, `localhost:${origin.port}`, 403],
        [guarded.port, `[::1]:${origin.port}`, 403],
        [proxy.port, `127.0.0.1:${closedPort}`, 502],
        [proxy.port, `no-such-host.invalid:80`, 502],
        [slow.port, `127.0.0.1:${origin.port}`, 504],
      ];
      for (const [port, authority, status] of cases) {
        const get = await rawExchange(port, `GET http://${authority}/ HTTP/1.1\r\nConnection: close\r\n\r\n`);
        assert.match(get, new RegExp(`^HTTP/1\\.1 ${status} `), `GET ${authority}`);
        const tunnel = await rawExchange(port, `CONNECT ${authority} HTTP/1.1\r\n\r\n`);
        assert.match(tunnel, new RegExp(`^HTTP/1\\.1 ${status} `), `CONNECT ${authority}`);
      }
    } finally {
      await guarded.close();
      await slow.close();
    }
  });

  test('a stalled origin is dropped after the idle timeout', async () => {
    const silent = createServer((socket) => {
      socket.on('error', () => {});
      socket.resume(); // reads the request, never answers
    });
    const silentPort = await listen(silent);
    const quick = await startProxy({ timeouts: { ...DEFAULT_TIMEOUTS, handshakeMs: 2000, idleMs: 200 } });
    try {
      const started = Date.now();
      const answer = await rawExchange(
        quick.port,
        `GET http://127.0.0.1:${silentPort}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      assert.equal(answer, '');
      assert.ok(Date.now() - started < 2000, 'closed by the idle timer, not a later one');
    } finally {
      await quick.close();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('407 without or with wrong credentials; the right ones pass and are not forwarded', async () => {
    const locked = await startProxy({ credentials: { username: 'alice', password: 's3cret' } });
    try {
      const missing = await rawExchange(
        locked.port,
        `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nConnection: close\r\n\r\n`,
      );
      assert.match(missing, /^HTTP\/1\.1 407 /);
      assert.match(missing, /\r\nProxy-Authenticate: Basic realm="seamoon"\r\n/i);
      const wrong = await curl([
        '-x',
        locked.url,
        '-U',
        'alice:nope',
        `http://127.0.0.1:${origin.port}/hello`,
        '-w',
        '%{http_code}',
      ]);
      assert.match(wrong.stdout.toString(), /407$/);
      const tunnel = await rawExchange(locked.port, `CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\n\r\n`);
      assert.match(
        tunnel,
        /^HTTP\/1\.1 407 [^\r]*\r\n(.*\r\n)*Proxy-Authenticate: Basic realm="seamoon"\r\n/i,
      );

      const ok = await curl([
        '-x',
        locked.url,
        '-U',
        'alice:s3cret',
        `http://127.0.0.1:${origin.port}/headers`,
      ]);
      assert.equal(ok.exitCode, 0, ok.stderr);
      assert.equal(JSON.parse(ok.stdout.toString())['proxy-authorization'], undefined);
      const secure = await curl([
        '-x',
        locked.url,
        '-U',
        'alice:s3cret',
        '-p',
        `http://127.0.0.1:${origin.port}/hello`,
      ]);
      assert.equal(secure.stdout.toString(), 'hello from origin', 'CONNECT with credentials (curl -p)');
    } finally {
      await locked.close();
    }
  });
});

describe('auto handler', () => {
  let origin: Origin;
  let auto: Awaited<ReturnType<typeof startProxy>>;
  before(async () => {
    origin = await startHttpOrigin();
    auto = await startProxy({}, handleAuto);
  });
  after(async () => {
    await auto.close();
    await origin.close();
  });

  test('0x05 → SOCKS5 (curl socks5h), anything else → HTTP (curl -x http)', async () => {
    const socks = await curl([
      '-x',
      `socks5h://127.0.0.1:${auto.port}`,
      `http://localhost:${origin.port}/hello`,
    ]);
    assert.equal(socks.exitCode, 0, socks.stderr);
    assert.equal(socks.stdout.toString(), 'hello from origin');
    const http = await curl([
      '-x',
      auto.url,
      `http://127.0.0.1:${origin.port}/hello`,
      `http://localhost:${origin.port}/host`,
    ]);
    assert.equal(http.stdout.toString(), `hello from originlocalhost:${origin.port}`);
  });

  test('the sniffed byte and everything after it reach the handler', async () => {
    const raw = await rawExchange(
      auto.port,
      Buffer.concat([
        Buffer.from([0x05, 0x01, 0x00]),
        encodeRequest(1, { host: '127.0.0.1', port: origin.port }),
        Buffer.from('GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      ]),
    );
    assert.match(raw, /hello from origin$/);
  });
});

describe('handlers over a WebSocket stream (not a socket)', () => {
  let origin: Origin;
  let wss: WebSocketServer;
  let wsPort: number;
  let echo: Server;
  let echoPort: number;

  before(async () => {
    origin = await startHttpOrigin();
    echo = createServer((socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    echoPort = await listen(echo);
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    wsPort = (wss.address() as { port: number }).port;
    wss.on('connection', (socket) => {
      void handleAuto(wsToDuplex(socket), {
        outbound: directOutbound(true),
        log: silentLogger,
        timeouts: { ...DEFAULT_TIMEOUTS, handshakeMs: 2000 },
      });
    });
  });
  after(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await origin.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  async function openStream(): Promise<Duplex> {
    const socket = new WebSocket(`ws://127.0.0.1:${wsPort}/`);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const stream = wsToDuplex(socket);
    stream.on('error', () => {});
    return stream;
  }

  test('HTTP keep-alive GETs and a CONNECT with pipelined bytes', async () => {
    const stream = await openStream();
    const reader = new StreamReader(stream, { timeoutMs: 3000 });
    // Two pipelined requests in one message.
    stream.write(
      `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: a\r\n\r\n` +
        `GET http://localhost:${origin.port}/host HTTP/1.1\r\nHost: b\r\n\r\n`,
    );
    const first = (await reader.readUntil('\r\n\r\n', 4096)).toString();
    assert.match(first, /^HTTP\/1\.1 200 /);
    const length1 = Number(/content-length: (\d+)/i.exec(first)?.[1]);
    assert.equal((await reader.readExactly(length1)).toString(), 'hello from origin');
    const second = (await reader.readUntil('\r\n\r\n', 4096)).toString();
    const length2 = Number(/content-length: (\d+)/i.exec(second)?.[1]);
    assert.equal((await reader.readExactly(length2)).toString(), `localhost:${origin.port}`);
    reader.release();
    stream.destroy();

    const tunnel = await openStream();
    const tunnelReader = new StreamReader(tunnel, { timeoutMs: 3000 });
    tunnel.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\n\r\nearly`);
    assert.equal(
      (await tunnelReader.readUntil('\r\n\r\n', 4096)).toString(),
      'HTTP/1.1 200 Connection established\r\n\r\n',
    );
    assert.equal((await tunnelReader.readExactly(5)).toString(), 'early');
    tunnelReader.release();
    tunnel.destroy();
  });

  test('SOCKS5 with the request and data in the first message', async () => {
    const stream = await openStream();
    const reader = new StreamReader(stream, { timeoutMs: 3000 });
    stream.write(
      Buffer.concat([
        Buffer.from([0x05, 0x01, 0x00]),
        encodeRequest(1, { host: '127.0.0.1', port: echoPort }),
        Buffer.from('data'),
      ]),
    );
    const reply = await reader.readExactly(12);
    assert.equal(reply[3], 0x00);
    assert.equal((await reader.readExactly(4)).toString(), 'data');
    reader.release();
    stream.destroy();
  });
});
