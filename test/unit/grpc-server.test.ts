import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  type AddressInfo,
  createServer as createNetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { MethodDefinition } from '@grpc/grpc-js';
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { silentLogger } from '../../src/core/logger.js';
import { TokenChecker } from '../../src/server/auth.js';
import { type RunningGrpcServer, startGrpcServer } from '../../src/server/grpc-server.js';
import { RouteTable } from '../../src/server/routes.js';
import { ClientCallStream } from '../../src/transport/grpc/call-stream.js';
import type { Pong } from '../../src/transport/grpc/messages.js';
import { GOST_SERVICE, HEALTH_METHOD, TUNNEL_SERVICE } from '../../src/transport/grpc/service.js';

const TOKEN = 'grpc-unit-token';

/** Routes that make the transport observable without any proxy protocol. */
function testRoutes(handled: string[]): RouteTable {
  const echo = (name: string, auth: 'token' | 'self') => ({
    name,
    kind: 'stream' as const,
    auth,
    handle: (stream: import('node:stream').Duplex) =>
      new Promise<void>((resolve) => {
        handled.push(name);
        stream.on('data', (chunk: Buffer) => stream.write(chunk));
        stream.on('end', () => stream.end());
        stream.on('close', () => resolve());
      }),
  });
  return new RouteTable()
    .add(echo('auto', 'token'))
    .add(echo('vless', 'self'))
    .add({
      name: 'http',
      kind: 'stream',
      auth: 'token',
      handle: async (stream, request) => {
        handled.push('http');
        stream.write(Buffer.from(`last words ${request.headers['x-tag'] ?? ''}`));
      },
    })
    .add({
      name: 'socks5-udp',
      kind: 'message',
      auth: 'token',
      handle: (channel) =>
        new Promise<void>((resolve) => {
          handled.push('socks5-udp');
          channel.onMessage((message) => channel.send(Buffer.concat([Buffer.from('re:'), message])));
          channel.onClose(resolve);
        }),
    });
}

function metadata(token?: string, extra: Record<string, string> = {}): Metadata {
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  for (const [key, value] of Object.entries(extra)) md.set(key, value);
  return md;
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}

describe('gRPC tunnel server (in process)', () => {
  let server: RunningGrpcServer;
  let client: Client;
  const handled: string[] = [];

  const open = (method: MethodDefinition<Buffer, Buffer>, md: Metadata) =>
    new ClientCallStream(
      client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, md),
      (err) => err,
    );

  before(async () => {
    server = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      routes: testRoutes(handled),
      tokens: new TokenChecker(TOKEN),
      handshakeTimeoutMs: 2_000,
      log: silentLogger,
      startedAt: new Date(2026, 0, 2, 3, 4, 5),
    });
    client = new Client(`127.0.0.1:${server.address.port}`, credentials.createInsecure());
  });

  after(async () => {
    client.close();
    await server.close();
  });

  test('Auto carries bytes both ways with backpressure and half-close (4 MiB, sha256)', async () => {
    const stream = open(TUNNEL_SERVICE.Auto, metadata(TOKEN));
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const received = readAll(stream);
    for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
      if (!stream.write(payload.subarray(offset, offset + 64 * 1024))) {
        await new Promise((resolve) => stream.once('drain', resolve));
      }
    }
    stream.end();
    const echoed = await received;
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.equal(echoed.length, payload.length);
    assert.equal(digest(echoed), digest(payload));
  });

  test('a write larger than the 4 MiB message limit travels as several messages', async () => {
    const stream = open(TUNNEL_SERVICE.Auto, metadata(TOKEN));
    const payload = Buffer.alloc(6 * 1024 * 1024, 0x5a);
    const received = readAll(stream);
    stream.end(payload);
    const echoed = await received;
    assert.equal(echoed.length, payload.length);
    assert.ok(echoed.equals(payload));
  });

  test('a route that returns still delivers its last reply, and sees metadata as headers', async () => {
    const stream = open(TUNNEL_SERVICE.Http, metadata(TOKEN, { 'x-tag': 'seen' }));
    stream.end();
    assert.equal((await readAll(stream)).toString(), 'last words seen');
  });

  test('a wrong or missing token is UNAUTHENTICATED and never reaches the route', async () => {
    const before = handled.length;
    for (const md of [metadata('wrong'), metadata()]) {
      const stream = open(TUNNEL_SERVICE.Auto, md);
      stream.write(Buffer.from('hello'));
      const err = await new Promise<ServiceError>((resolve) => stream.once('error', resolve));
      assert.equal(err.code, status.UNAUTHENTICATED);
    }
    assert.equal(handled.length, before);
  });

  test('self-authenticating routes need no token; absent routes are UNIMPLEMENTED', async () => {
    const vless = open(TUNNEL_SERVICE.V2rayVless, metadata());
    vless.end(Buffer.from('raw protocol bytes'));
    assert.equal((await readAll(vless)).toString(), 'raw protocol bytes');

    const vmess = open(TUNNEL_SERVICE.V2rayVmess, metadata(TOKEN));
    vmess.write(Buffer.from('x'));
    const err = await new Promise<ServiceError>((resolve) => vmess.once('error', resolve));
    assert.equal(err.code, status.UNIMPLEMENTED);
  });

  test("gost's GostTunel/Tunnel reaches the auto route with gost's Chunk", async () => {
    const stream = open(GOST_SERVICE.Tunnel, metadata(TOKEN));
    stream.end(Buffer.from('via gost'));
    assert.equal((await readAll(stream)).toString(), 'via gost');
  });

  test('Socks5Udp keeps message boundaries', async () => {
    const method = TUNNEL_SERVICE.Socks5Udp;
    const call = client.makeBidiStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      metadata(TOKEN),
    );
    const replies: string[] = [];
    const done = new Promise<void>((resolve) =>
      call.on('data', (message: Buffer) => {
        replies.push(message.toString());
        if (replies.length === 3) resolve();
      }),
    );
    for (const text of ['one', 'two', 'three']) call.write(Buffer.from(text));
    await done;
    assert.deepEqual(replies, ['re:one', 're:two', 're:three']);
    call.on('error', () => {}); // cancelling reports CANCELLED to ourselves
    call.cancel();
  });

  test('Health answers without a token', async () => {
    const pong = await new Promise<Pong>((resolve, reject) =>
      client.makeUnaryRequest(
        HEALTH_METHOD.path,
        HEALTH_METHOD.requestSerialize,
        HEALTH_METHOD.responseDeserialize,
        { version: 'test' },
        (err, value) => (err || !value ? reject(err) : resolve(value)),
      ),
    );
    assert.equal(pong.status, 'OK');
    assert.equal(pong.time, '2026-01-02 03:04:05');
    assert.match(pong.version, /^\d+\.\d+\.\d+/);
  });

  test('a client that cancels frees its stream on the server', async () => {
    const stream = open(TUNNEL_SERVICE.Auto, metadata(TOKEN));
    stream.write(Buffer.from('ping'));
    await new Promise((resolve) => stream.once('data', resolve));
    assert.ok(server.stats().active >= 1);
    stream.destroy();
    const deadline = Date.now() + 5_000;
    while (server.stats().active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.stats().active, 0);
  });

  test('a client whose connection drops (no goodbye) frees its stream on the server', async () => {
    // A TCP relay in between lets the test cut the connection under a live stream.
    const relaySockets = new Set<Socket>();
    const relay = createNetServer((socket) => {
      const upstream = netConnect(server.address.port, '127.0.0.1');
      relaySockets.add(socket).add(upstream);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayPort = (relay.address() as AddressInfo).port;
    const viaRelay = new Client(`127.0.0.1:${relayPort}`, credentials.createInsecure());
    try {
      const method = TUNNEL_SERVICE.Auto;
      const stream = new ClientCallStream(
        viaRelay.makeBidiStreamRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          metadata(TOKEN),
        ),
        (err) => err,
      );
      stream.on('error', () => {});
      stream.write(Buffer.from('ping'));
      await new Promise((resolve) => stream.once('data', resolve));
      const activeBefore = server.stats().active;
      assert.ok(activeBefore >= 1);
      for (const socket of relaySockets) socket.destroy();
      const deadline = Date.now() + 5_000;
      while (server.stats().active >= activeBefore && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(server.stats().active < activeBefore);
    } finally {
      viaRelay.close();
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  test('an HTTP/1.1 WebSocket upgrade gets a readable answer instead of a reset', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(server.address.port, '127.0.0.1', () => {
        socket.write('GET /socks5 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      socket.once('close', () => resolve(text));
      socket.once('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 505 /);
    assert.match(answer, /gRPC tunnel server/);
    assert.match(answer, /-t websocket/);
  });
});
