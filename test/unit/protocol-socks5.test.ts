import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Target } from '../../src/core/address.js';
import { silentLogger } from '../../src/core/logger.js';
import { createDirectOutbound } from '../../src/outbound/direct.js';
import { EgressGuard } from '../../src/outbound/egress-guard.js';
import { handleSocks5 } from '../../src/protocol/socks5.js';
import { socks5Connect, socks5UdpAssociate } from '../../src/protocol/socks5-client.js';
import { encodeAddress, encodeRequest } from '../../src/protocol/socks5-codec.js';
import { StreamReader } from '../../src/protocol/stream-reader.js';
import { DEFAULT_TIMEOUTS, type ProxyHandlerContext } from '../../src/protocol/types.js';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** A SOCKS5 server on 127.0.0.1 running the handler under test. */
async function startProxy(ctx: Partial<ProxyHandlerContext>, allowPrivate = true) {
  const sockets = new Set<Duplex>();
  const done: Promise<void>[] = [];
  // allowHalfOpen: the handler (relay) decides when to end each direction, as a real listener should.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    done.push(
      handleSocks5(socket, {
        outbound: createDirectOutbound({
          guard: new EgressGuard({ allowPrivate, allow: [] }),
          log: silentLogger,
        }),
        log: silentLogger,
        timeouts: { ...DEFAULT_TIMEOUTS, handshakeMs: 2000 },
        ...ctx,
      }),
    );
  });
  const port = await listen(server);
  return {
    port,
    done,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A raw client: write exact bytes, read exact bytes, see the close. */
async function rawClient(port: number) {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const reader = new StreamReader(socket, { timeoutMs: 3000 });
  return {
    socket,
    closed,
    reader,
    write: (bytes: Buffer | string) => socket.write(bytes),
    read: (n: number) => reader.readExactly(n),
    /** Everything until the server closes. */
    rest: async () => {
      reader.release();
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      await closed;
      return Buffer.concat(chunks);
    },
  };
}

describe('SOCKS5 handler', () => {
  let echo: Server;
  let echoPort: number;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let authProxy: Awaited<ReturnType<typeof startProxy>>;
  let guardedProxy: Awaited<ReturnType<typeof startProxy>>;
  const clients: Socket[] = [];

  before(async () => {
    echo = createServer((socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    echoPort = await listen(echo);
    proxy = await startProxy({});
    authProxy = await startProxy({ credentials: { username: 'alice', password: 's3cret' } });
    guardedProxy = await startProxy({}, false);
  });
  after(async () => {
    for (const socket of clients) socket.destroy();
    await proxy.close();
    await authProxy.close();
    await guardedProxy.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  const echoTarget = (): Target => ({ host: '127.0.0.1', port: echoPort });

  test('CONNECT to an IPv4 target: success reply with the bound address, then data both ways', async () => {
    const c = await rawClient(proxy.port);
    clients.push(c.socket);
    c.write(hex('05 01 00'));
    assert.deepEqual(await c.read(2), hex('05 00'));
    c.write(encodeRequest(1, echoTarget()));
    const reply = await c.read(10);
    assert.deepEqual(reply.subarray(0, 4), hex('05 00 00 01'));
    assert.deepEqual(reply.subarray(4, 8), hex('7f000001'), 'bound address is the outbound local address');
    assert.notEqual(reply.readUInt16BE(8), 0);
    c.write('ping');
    assert.equal((await c.read(4)).toString(), 'ping');
    c.socket.end();
    await c.rest();
  });

  test('CONNECT to a domain: bytes pipelined with the greeting and request are not lost', async () => {
    const c = await rawClient(proxy.port);
    clients.push(c.socket);
    c.write(
      Buffer.concat([
        hex('05 01 00'),
        encodeRequest(1, { host: 'localhost', port: echoPort }),
        Buffer.from('early'),
      ]),
    );
    assert.deepEqual(await c.read(2), hex('05 00'));
    const head = await c.read(4);
    assert.equal(head[1], 0x00);
    await c.read(head[3] === 0x04 ? 18 : 6);
    assert.equal((await c.read(5)).toString(), 'early');
    c.socket.destroy();
  });

  test('CONNECT to an IPv6 target (ATYP 4)', async (t) => {
    const echo6 = createServer((socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    const listening = await new Promise<boolean>((resolve) => {
      echo6.once('error', () => resolve(false));
      echo6.listen(0, '::1', () => resolve(true));
    });
    if (!listening) {
      t.skip('no IPv6 loopback here');
      return;
    }
    try {
      const port = (echo6.address() as { port: number }).port;
      const c = await rawClient(proxy.port);
      clients.push(c.socket);
      c.write(Buffer.concat([hex('05 01 00'), encodeRequest(1, { host: '::1', port }), Buffer.from('six')]));
      assert.deepEqual(await c.read(2), hex('05 00'));
      const reply = await c.read(22);
      assert.deepEqual(reply.subarray(0, 4), hex('05 00 00 04'), 'bound address is the IPv6 local end');
      assert.equal((await c.read(3)).toString(), 'six');
      c.socket.destroy();
    } finally {
      await new Promise((resolve) => echo6.close(resolve));
    }
  });

  test('request, data and half-close in one go: the data still reaches the target', async () => {
    const c = await rawClient(proxy.port);
    c.socket.end(Buffer.concat([hex('05 01 00'), encodeRequest(1, echoTarget()), Buffer.from('last words')]));
    const all = await c.rest();
    assert.deepEqual(all.subarray(0, 2), hex('05 00'));
    assert.equal(all[3], 0x00);
    assert.equal(all.subarray(12).toString(), 'last words');
  });

  test('refused port → 0x05, denied target → 0x02, both then closed', async () => {
    const free = createServer();
    const freePort = await listen(free);
    await new Promise((resolve) => free.close(resolve));

    const refused = await rawClient(proxy.port);
    refused.write(Buffer.concat([hex('05 01 00'), encodeRequest(1, { host: '127.0.0.1', port: freePort })]));
    assert.deepEqual(await refused.read(2), hex('05 00'));
    assert.deepEqual((await refused.rest()).subarray(0, 2), hex('05 05'));

    for (const host of ['127.0.0.1', 'localhost', '::1']) {
      const denied = await rawClient(guardedProxy.port);
      denied.write(Buffer.concat([hex('05 01 00'), encodeRequest(1, { host, port: echoPort })]));
      assert.deepEqual(await denied.read(2), hex('05 00'));
      assert.deepEqual((await denied.rest()).subarray(0, 3), hex('05 02 00'), host);
    }
  });

  test('BIND → 0x07, unknown command → 0x07, bad ATYP → 0x08, UDP ASSOCIATE without support → 0x07', async () => {
    const cases: Array<[Buffer, number]> = [
      [Buffer.concat([hex('05 02 00'), encodeAddress(echoTarget())]), 0x07],
      [Buffer.concat([hex('05 09 00'), encodeAddress(echoTarget())]), 0x07],
      [hex('05 01 00 05 7f000001 0050'), 0x08],
      [Buffer.concat([hex('05 03 00'), encodeAddress({ host: '0.0.0.0', port: 0 })]), 0x07],
    ];
    for (const [request, expected] of cases) {
      const c = await rawClient(proxy.port);
      c.write(Buffer.concat([hex('05 01 00'), request]));
      assert.deepEqual(await c.read(2), hex('05 00'));
      const reply = await c.rest();
      assert.equal(reply[0], 0x05);
      assert.equal(reply[1], expected, request.toString('hex'));
    }
  });

  test('unknown methods (gost 0x80/0x82/0x88) are ignored; nothing acceptable → 0xFF and close', async () => {
    const c = await rawClient(proxy.port);
    c.write(hex('05 04 80 82 88 00'));
    assert.deepEqual(await c.read(2), hex('05 00'));
    c.socket.destroy();

    const none = await rawClient(proxy.port);
    none.write(hex('05 02 80 01'));
    assert.deepEqual(await none.rest(), hex('05 ff'));

    const noPassword = await rawClient(authProxy.port);
    noPassword.write(hex('05 01 00'));
    assert.deepEqual(
      await noPassword.rest(),
      hex('05 ff'),
      'no-auth is refused when credentials are required',
    );
  });

  test('RFC 1929: right credentials pass, wrong ones get status 0x01 and a close', async () => {
    const ok = await rawClient(authProxy.port);
    clients.push(ok.socket);
    ok.write(hex('05 02 00 02'));
    assert.deepEqual(await ok.read(2), hex('05 02'));
    ok.write(Buffer.concat([hex('01 05'), Buffer.from('alice'), hex('06'), Buffer.from('s3cret')]));
    assert.deepEqual(await ok.read(2), hex('01 00'));
    ok.write(Buffer.concat([encodeRequest(1, echoTarget()), Buffer.from('hi')]));
    assert.equal((await ok.read(10))[1], 0x00);
    assert.equal((await ok.read(2)).toString(), 'hi');
    ok.socket.destroy();

    for (const [user, pass] of [
      ['alice', 'wrong!'],
      ['bob', 's3cret'],
      ['', ''],
    ]) {
      const bad = await rawClient(authProxy.port);
      bad.write(hex('05 01 02'));
      assert.deepEqual(await bad.read(2), hex('05 02'));
      bad.write(
        Buffer.concat([
          hex('01'),
          Buffer.from([user.length]),
          Buffer.from(user),
          Buffer.from([pass.length]),
          Buffer.from(pass),
        ]),
      );
      assert.deepEqual(await bad.rest(), hex('01 01'), `${user}:${pass}`);
    }
  });

  test('garbage, wrong version and truncated requests close the stream; the server keeps serving', async () => {
    for (const garbage of [
      hex('04 01 00 50 7f000001 00'),
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      hex('05 01 00 04 01'),
    ]) {
      const c = await rawClient(proxy.port);
      c.write(garbage);
      if (garbage[0] === 0x05 && garbage[1] === 0x01 && garbage.length > 3) {
        // Greeting accepted, then a request with the wrong version.
        assert.deepEqual(await c.read(2), hex('05 00'));
      }
      await c.rest();
    }
    const half = await rawClient(proxy.port);
    half.write(hex('05 01 00 05 01 00 03'));
    half.socket.end(); // ends mid-request
    await half.rest();

    const c = await rawClient(proxy.port);
    clients.push(c.socket);
    c.write(Buffer.concat([hex('05 01 00'), encodeRequest(1, echoTarget()), Buffer.from('still')]));
    await c.read(12);
    assert.equal((await c.read(5)).toString(), 'still');
    c.socket.destroy();
  });

  test('handshake timeout closes a silent client', async () => {
    const quick = await startProxy({ timeouts: { ...DEFAULT_TIMEOUTS, handshakeMs: 100 } });
    try {
      const c = await rawClient(quick.port);
      c.write(hex('05 01'));
      const started = Date.now();
      await c.rest();
      assert.ok(Date.now() - started < 2000);
    } finally {
      await quick.close();
    }
  });

  test('optimistic CONNECT replies at once and carries the first bytes into the dial', async () => {
    const seen: Array<Buffer | undefined> = [];
    const direct = createDirectOutbound({
      guard: new EgressGuard({ allowPrivate: true, allow: [] }),
      log: silentLogger,
    });
    const optimistic = await startProxy({
      optimisticConnect: true,
      outbound: {
        name: 'spy',
        dial: (target, options) => {
          seen.push(options?.firstBytes);
          return direct.dial(target, options);
        },
      },
    });
    try {
      const c = await rawClient(optimistic.port);
      clients.push(c.socket);
      c.write(Buffer.concat([hex('05 01 00'), encodeRequest(1, echoTarget()), Buffer.from('first')]));
      assert.deepEqual(await c.read(12), hex('05 00 05 00 00 01 00000000 0000'));
      assert.equal((await c.read(5)).toString(), 'first');
      c.write('second');
      assert.equal((await c.read(6)).toString(), 'second');
      assert.equal(seen[0]?.toString(), 'first');
      c.socket.destroy();

      // A failed optimistic dial can only close the stream.
      const free = createServer();
      const freePort = await listen(free);
      await new Promise((resolve) => free.close(resolve));
      const failed = await rawClient(optimistic.port);
      failed.write(Buffer.concat([hex('05 01 00'), encodeRequest(1, { host: '127.0.0.1', port: freePort })]));
      assert.deepEqual(await failed.rest(), hex('05 00 05 00 00 01 00000000 0000'));
    } finally {
      await optimistic.close();
    }
  });

  test('UDP ASSOCIATE with an associator: reply carries its address, control stream held open', async () => {
    let controlClosed = false;
    const hints: Array<Target | undefined> = [];
    const udpProxy = await startProxy({
      udp: {
        associate: async (control, hint) => {
          hints.push(hint);
          control.once('close', () => {
            controlClosed = true;
          });
          return { host: '127.0.0.1', port: 4242 };
        },
      },
    });
    try {
      const c = await rawClient(udpProxy.port);
      c.write(Buffer.concat([hex('05 01 00'), encodeRequest(3, { host: '0.0.0.0', port: 0 })]));
      assert.deepEqual(await c.read(2), hex('05 00'));
      assert.deepEqual(await c.read(10), hex('05 00 00 01 7f000001 1092'));
      assert.deepEqual(hints, [undefined]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(c.socket.destroyed, false, 'control stream stays open');
      c.socket.end();
      await c.rest();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(controlClosed, true);
    } finally {
      await udpProxy.close();
    }
  });

  test('socks5Connect / socks5UdpAssociate (client side) against the handler', async () => {
    const stream = connect(authProxy.port, '127.0.0.1');
    clients.push(stream);
    const { bound } = await socks5Connect(stream, echoTarget(), {
      credentials: { username: 'alice', password: 's3cret' },
      timeoutMs: 2000,
    });
    assert.equal(bound.host, '127.0.0.1');
    stream.write('via client');
    const echoed = await new StreamReader(stream, { timeoutMs: 2000 }).readExactly(10);
    assert.equal(echoed.toString(), 'via client');
    stream.destroy();

    const pipelined = connect(proxy.port, '127.0.0.1');
    clients.push(pipelined);
    await socks5Connect(pipelined, echoTarget(), { timeoutMs: 2000, pipeline: true });
    pipelined.write('one trip');
    assert.equal(
      (await new StreamReader(pipelined, { timeoutMs: 2000 }).readExactly(8)).toString(),
      'one trip',
    );
    pipelined.destroy();

    const wrong = connect(authProxy.port, '127.0.0.1');
    wrong.on('error', () => {});
    await assert.rejects(
      socks5Connect(wrong, echoTarget(), {
        credentials: { username: 'alice', password: 'x' },
        timeoutMs: 2000,
      }),
      { code: 'AUTH_FAILED' },
    );
    wrong.destroy();

    const denied = connect(guardedProxy.port, '127.0.0.1');
    denied.on('error', () => {});
    await assert.rejects(socks5Connect(denied, echoTarget(), { timeoutMs: 2000 }), { code: 'EGRESS_DENIED' });
    denied.destroy();

    const udp = connect(proxy.port, '127.0.0.1');
    udp.on('error', () => {});
    await assert.rejects(socks5UdpAssociate(udp, { host: '0.0.0.0', port: 0 }, { timeoutMs: 2000 }), {
      code: 'UNSUPPORTED_COMMAND',
    });
    udp.destroy();
  });
});
