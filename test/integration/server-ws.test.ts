import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createWebSocketStream, WebSocket } from 'ws';
import { type Origin, startHttpOrigin, startUdpEcho, type UdpEcho } from '../helpers/origin.js';
import {
  type RunningProcess,
  startLocalServer,
  startSeamoon,
  waitForListening,
} from '../helpers/processes.js';

/**
 * The real `seamoon server` process, driven with the `ws` client speaking the raw route
 * protocols (SOCKS5 bytes, HTTP proxy requests, UDP frames) to local origins only.
 */

const TOKEN = 'integration-token-Zq8';

interface Tunnel {
  ws: WebSocket;
  stream: Duplex;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once `predicate(received)` holds. */
  until(predicate: (data: Buffer) => boolean, timeoutMs?: number): Promise<Buffer>;
  closed: Promise<void>;
}

function openTunnel(
  url: string,
  options: { token?: string; headers?: Record<string, string>; protocol?: string } = {},
) {
  return new Promise<Tunnel>((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const ws = options.protocol
      ? new WebSocket(url, options.protocol, { headers })
      : new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    ws.once('error', reject);
    ws.once('open', () => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => {});
      let data = Buffer.alloc(0);
      const waiters = new Set<() => void>();
      stream.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        for (const wake of waiters) wake();
      });
      const closed = new Promise<void>((done) => ws.once('close', () => done()));
      resolve({
        ws,
        stream,
        received: () => data,
        until(predicate, timeoutMs = 10_000) {
          return new Promise((done, fail) => {
            const check = () => {
              if (predicate(data)) {
                clearTimeout(timer);
                waiters.delete(check);
                done(data);
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out; received ${JSON.stringify(data.toString('latin1'))}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          });
        },
        closed,
      });
    });
  });
}

function socksConnectRequest(host: string, port: number): Buffer {
  const portBytes = Buffer.from([port >> 8, port & 0xff]);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) {
    return Buffer.concat([Buffer.from([5, 1, 0, 1, ...host.split('.').map(Number)]), portBytes]);
  }
  const name = Buffer.from(host);
  return Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, portBytes]);
}

/** Greeting + CONNECT + the app's first bytes, all in one write (nothing may be lost). */
function socksOpening(host: string, port: number, firstBytes: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from([5, 1, 0]), socksConnectRequest(host, port), firstBytes]);
}

function httpGet(path: string, host: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
}

/** Byte offsets of complete HTTP responses (with Content-Length bodies) in `data`. */
function parseResponses(data: Buffer): Array<{ status: number; body: string }> {
  const out: Array<{ status: number; body: string }> = [];
  let rest = data.toString('latin1');
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return out;
    const head = rest.slice(0, end);
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? '0');
    if (rest.length < end + 4 + length) return out;
    out.push({ status: Number(head.split(' ')[1]), body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
}

function udpFrame(host: string, port: number, payload: Buffer, lengthPrefixed: boolean): Buffer {
  const rsv = lengthPrefixed ? payload.length : 0;
  return Buffer.concat([
    Buffer.from([rsv >> 8, rsv & 0xff, 0, 1, ...host.split('.').map(Number), port >> 8, port & 0xff]),
    payload,
  ]);
}

describe('seamoon server (websocket), allowing private targets', () => {
  let server: RunningProcess;
  let base: string;
  let originA: Origin;
  let originB: Origin;
  let udpEcho: UdpEcho;

  before(async () => {
    [originA, originB, udpEcho] = await Promise.all([startHttpOrigin(), startHttpOrigin(), startUdpEcho()]);
    server = startLocalServer(['--token', TOKEN, '--allow-private', '--log-level', 'debug'], {
      SM_TOKEN: '',
    });
    base = `ws://127.0.0.1:${await waitForListening(server)}`;
  });

  after(async () => {
    await server?.stop();
    await Promise.all([originA?.close(), originB?.close(), udpEcho?.close()]);
  });

  test('/_health answers four plain-text lines without a token', async () => {
    const res = await fetch(`${base.replace('ws:', 'http:')}/_health`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    const lines = (await res.text()).split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], 'OK');
    assert.match(lines[1] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.match(lines[2] ?? '', /^\d+\.\d+\.\d+-/);
    assert.match(lines[3] ?? '', /^v2ray-core:-/);
  });

  test('401 without or with a wrong token (bearer and path forms), 404 for unknown paths', async () => {
    await assert.rejects(openTunnel(`${base}/socks5`), /HTTP 401/);
    await assert.rejects(openTunnel(`${base}/socks5`, { token: 'wrong' }), /HTTP 401/);
    await assert.rejects(openTunnel(`${base}/wrong/socks5`), /HTTP 401/);
    await assert.rejects(openTunnel(`${base}/${TOKEN}x/socks5`), /HTTP 401/);
    await assert.rejects(openTunnel(`${base}/nothing-here`, { token: TOKEN }), /HTTP 404/);
    const res = await fetch(`${base.replace('ws:', 'http:')}/socks5`);
    assert.equal(res.status, 401);
    assert.equal(await res.text(), 'unauthorized\n');
  });

  test('SOCKS5 over /socks5 (path token) reaches the origin; bytes after the request are kept', async () => {
    const tunnel = await openTunnel(`${base}/${TOKEN}/socks5`);
    tunnel.stream.write(socksOpening('127.0.0.1', originA.port, httpGet('/hello', 'a')));
    const data = await tunnel.until((d) => d.includes('hello from origin'));
    assert.deepEqual([...data.subarray(0, 4)], [5, 0, 5, 0]);
    tunnel.ws.close();
  });

  test('HTTP over /http: two keep-alive requests go to two different origins', async () => {
    const tunnel = await openTunnel(`${base}/http`, { token: TOKEN });
    const hostA = `127.0.0.1:${originA.port}`;
    const hostB = `localhost:${originB.port}`;
    tunnel.stream.write(httpGet(`http://${hostA}/host`, hostA));
    await tunnel.until((d) => parseResponses(d).length === 1);
    tunnel.stream.write(httpGet(`http://${hostB}/host`, hostB));
    const responses = parseResponses(await tunnel.until((d) => parseResponses(d).length === 2));
    assert.deepEqual(responses, [
      { status: 200, body: hostA },
      { status: 200, body: hostB },
    ]);
    tunnel.ws.close();
  });

  test('/auto serves SOCKS5 and HTTP', async () => {
    const socks = await openTunnel(`${base}/auto`, { token: TOKEN });
    socks.stream.write(socksOpening('127.0.0.1', originA.port, httpGet('/hello', 'a')));
    await socks.until((d) => d.includes('hello from origin'));
    socks.ws.close();

    const http = await openTunnel(`${base}/auto`, { token: TOKEN });
    const host = `127.0.0.1:${originB.port}`;
    http.stream.write(httpGet(`http://${host}/hello`, host));
    const [response] = parseResponses(await http.until((d) => parseResponses(d).length === 1));
    assert.deepEqual(response, { status: 200, body: 'hello from origin' });
    http.ws.close();
  });

  test('UDP frames over /socks5-udp reach a UDP echo and come back length-prefixed', async () => {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(`${base}/socks5-udp`, { headers: { authorization: `Bearer ${TOKEN}` } });
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });
    const replies: Buffer[] = [];
    const got = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (replies.length >= n) {
            ws.off('message', check);
            resolve();
          }
        };
        ws.on('message', (data: Buffer) => replies.push(data));
        ws.on('message', check);
        check();
      });
    ws.send(udpFrame('127.0.0.1', udpEcho.port, Buffer.from('ping'), false));
    await got(1);
    ws.send(udpFrame('127.0.0.1', udpEcho.port, Buffer.from('pong!'), true));
    await got(2);
    const expected = (payload: string) => udpFrame('127.0.0.1', udpEcho.port, Buffer.from(payload), true);
    assert.deepEqual(replies[0], expected('echo:ping'));
    assert.deepEqual(replies[1], expected('echo:pong!'));
    ws.close();
  });

  test('UDP ASSOCIATE on /socks5 advertises SM-UDP-ADDR, and is refused (0x07) without it', async () => {
    const associate = Buffer.from([5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0]);
    const withAddr = await openTunnel(`${base}/socks5`, {
      token: TOKEN,
      headers: { 'SM-UDP-ADDR': '127.0.0.1:5353' },
    });
    withAddr.stream.write(associate);
    const reply = await withAddr.until((d) => d.length >= 12);
    assert.deepEqual([...reply.subarray(0, 12)], [5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0x14, 0xe9]);
    withAddr.ws.close();

    const without = await openTunnel(`${base}/socks5`, { token: TOKEN });
    without.stream.write(associate);
    const refused = await without.until((d) => d.length >= 4);
    assert.deepEqual([...refused.subarray(0, 4)], [5, 0, 5, 7]);
    without.ws.close();
  });

  test('early data in Sec-WebSocket-Protocol is delivered first and the subprotocol echoed', async () => {
    const early = socksOpening('127.0.0.1', originA.port, httpGet('/hello', 'a')).toString('base64url');
    const tunnel = await openTunnel(`${base}/socks5`, { token: TOKEN, protocol: early });
    assert.equal(tunnel.ws.protocol, early);
    // Nothing is written after the upgrade: the whole exchange rode in the handshake.
    const data = await tunnel.until((d) => d.includes('hello from origin'));
    assert.deepEqual([...data.subarray(0, 2)], [5, 0]);
    tunnel.ws.close();
  });

  test('malformed bytes close the stream and the server keeps serving', async () => {
    const socks = await openTunnel(`${base}/socks5`, { token: TOKEN });
    socks.stream.write(Buffer.from('\x04\x01garbage that is not SOCKS5'));
    await socks.closed;

    const http = await openTunnel(`${base}/http`, { token: TOKEN });
    http.stream.write(Buffer.from('NOT A REQUEST\r\n\r\n'));
    const [response] = parseResponses(await http.until((d) => parseResponses(d).length === 1));
    assert.equal(response?.status, 400);
    await http.closed;

    const next = await openTunnel(`${base}/socks5`, { token: TOKEN });
    next.stream.write(socksOpening('127.0.0.1', originA.port, httpGet('/hello', 'a')));
    await next.until((d) => d.includes('hello from origin'));
    next.ws.close();
  });

  test('the token never appears in the server output', () => {
    assert.ok(server.output().includes('listening on'));
    assert.equal(server.output().includes(TOKEN), false);
  });
});

describe('seamoon server (websocket) egress guard on by default', () => {
  let server: RunningProcess;
  let base: string;
  let origin: Origin;

  before(async () => {
    origin = await startHttpOrigin();
    server = startLocalServer(['--token', TOKEN], { SM_TOKEN: '' });
    base = `ws://127.0.0.1:${await waitForListening(server)}`;
  });

  after(async () => {
    await server?.stop();
    await origin?.close();
  });

  test('SOCKS5 CONNECT to loopback forms is refused with reply 0x02', async () => {
    for (const host of ['127.0.0.1', '127.1', '2130706433', 'localhost', '::1', '::ffff:127.0.0.1']) {
      const tunnel = await openTunnel(`${base}/socks5`, { token: TOKEN });
      const request = host.includes(':')
        ? Buffer.concat([
            Buffer.from([5, 1, 0, 5, 1, 0, 4]),
            host === '::1'
              ? Buffer.from('00000000000000000000000000000001', 'hex')
              : Buffer.from('00000000000000000000ffff7f000001', 'hex'),
            Buffer.from([origin.port >> 8, origin.port & 0xff]),
          ])
        : socksOpening(host, origin.port);
      tunnel.stream.write(request);
      const data = await tunnel.until((d) => d.length >= 4);
      assert.deepEqual([...data.subarray(0, 4)], [5, 0, 5, 2], host);
      await tunnel.closed;
    }
  });

  test('UDP datagrams to a loopback target are dropped', async () => {
    const echo = await startUdpEcho();
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(`${base}/socks5-udp`, { headers: { authorization: `Bearer ${TOKEN}` } });
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });
    try {
      let replies = 0;
      let echoed = 0;
      ws.on('message', () => {
        replies += 1;
      });
      echo.socket.on('message', () => {
        echoed += 1;
      });
      ws.send(udpFrame('127.0.0.1', echo.port, Buffer.from('ping'), false));
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(echoed, 0);
      assert.equal(replies, 0);
    } finally {
      ws.close();
      await echo.close();
    }
  });

  test('HTTP proxy to a loopback target answers 403', async () => {
    const tunnel = await openTunnel(`${base}/http`, { token: TOKEN });
    const host = `127.0.0.1:${origin.port}`;
    tunnel.stream.write(httpGet(`http://${host}/hello`, host));
    const [response] = parseResponses(await tunnel.until((d) => parseResponses(d).length === 1));
    assert.equal(response?.status, 403);
    tunnel.ws.close();
  });
});

describe('seamoon server command line', () => {
  test('without a token one is generated and printed exactly once', async () => {
    const server = startLocalServer(['--log-level', 'debug'], {
      SM_TOKEN: '',
    });
    try {
      const port = await waitForListening(server);
      const token = (await server.waitFor(/token: ([A-Za-z0-9_-]{32})/))[1]!;
      const tunnel = await openTunnel(`ws://127.0.0.1:${port}/${token}/socks5`);
      tunnel.ws.close();
      await assert.rejects(openTunnel(`ws://127.0.0.1:${port}/socks5`, { token: `${token}x` }), /HTTP 401/);
      assert.equal(server.output().split(token).length - 1, 1);
    } finally {
      await server.stop();
    }
  });

  test('SM_TOKEN is used and SIGTERM closes gracefully with status 0', async () => {
    const server = startLocalServer([], { SM_TOKEN: 'from-env-token' });
    const port = await waitForListening(server);
    const tunnel = await openTunnel(`ws://127.0.0.1:${port}/socks5`, { token: 'from-env-token' });
    assert.equal(server.output().includes('from-env-token'), false);
    assert.equal(await server.stop('SIGTERM'), 0);
    await tunnel.closed;
  });

  test('--no-auth warns loudly and serves without a token', async () => {
    const server = startLocalServer(['--no-auth'], {
      SM_TOKEN: 'ignored',
    });
    try {
      const port = await waitForListening(server);
      assert.match(server.output(), /WARNING: --no-auth/);
      const tunnel = await openTunnel(`ws://127.0.0.1:${port}/socks5`);
      tunnel.ws.close();
    } finally {
      await server.stop();
    }
  });

  test('-t grpc starts the gRPC transport', async () => {
    // Before the gRPC transport existed this was a one-line "not available yet" error (exit 2).
    const server = startLocalServer(['-t', 'grpc', '--token', TOKEN]);
    try {
      await server.waitFor(/listening on 127\.0\.0\.1:\d+ \(grpc\)/);
    } finally {
      await server.stop();
    }
  });

  for (const [args, message] of [
    [['-p', '70000'], /invalid port "70000"/],
    [['-t', 'quic'], /unknown transport type "quic"/],
    [['--allow', 'not-a-cidr'], /invalid --allow CIDR/],
    [['--no-such-flag'], /unknown option/],
  ] as const) {
    test(`bad flags (${args.join(' ')}) → one-line error, exit status 2`, async () => {
      const proc = startSeamoon(['server', '-a', '127.0.0.1', ...args]);
      const code = await new Promise<number | null>((resolve) => proc.proc.once('exit', resolve));
      assert.equal(code, 2);
      assert.match(proc.output(), message);
      assert.equal(/\n\s+at /.test(proc.output()), false, 'no stack trace');
    });
  }

  test('--help explains the flags and the routes', async () => {
    const proc = startSeamoon(['server', '--help']);
    const code = await new Promise<number | null>((resolve) => proc.proc.once('exit', resolve));
    assert.equal(code, 0);
    for (const word of [
      '--addr',
      '--port',
      '--type',
      '--token',
      '--no-auth',
      '--allow-private',
      '/socks5-udp',
      '/_health',
    ]) {
      assert.ok(proc.output().includes(word), word);
    }
  });
});
