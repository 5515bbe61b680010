import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { after, describe, test } from 'node:test';
import { parseListenSpec } from '../../src/client/listen-spec.js';
import { type LocalProxy, startLocalProxy } from '../../src/client/local-proxy.js';
import type { Target } from '../../src/core/address.js';
import { SeamoonError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Outbound } from '../../src/outbound/types.js';

/** A target that echoes what it gets, living inside the test process. */
function echoStream(): Duplex {
  return new Duplex({
    read() {},
    write(chunk, _encoding, callback) {
      this.push(chunk);
      callback();
    },
    final(callback) {
      this.push(null);
      callback();
    },
  });
}

const fakeOutbound: Outbound = {
  name: 'fake',
  async dial(target: Target) {
    if (target.host === 'denied.test') throw new SeamoonError('EGRESS_DENIED', 'not allowed');
    return echoStream();
  },
};

function socksConnect(port: number, host: string): Promise<{ socket: Socket; reply: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const name = Buffer.from(host);
    socket.write(
      Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]), name, Buffer.from([0, 80])]),
    );
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 12) {
        socket.off('data', onData);
        resolve({ socket, reply: got[3] });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('startLocalProxy', () => {
  const proxies: LocalProxy[] = [];
  after(async () => {
    await Promise.all(proxies.map((proxy) => proxy.close()));
  });

  test('relays through the outbound, counts bytes live and errors by code', async () => {
    const proxy = await startLocalProxy({
      spec: parseListenSpec('socks5://127.0.0.1:0'),
      outbound: fakeOutbound,
      log: silentLogger,
    });
    proxies.push(proxy);
    assert.ok(proxy.address.port > 0);
    assert.equal(proxy.stats.label, `socks5://127.0.0.1:${proxy.address.port}`);

    const denied = await socksConnect(proxy.address.port, 'denied.test');
    assert.equal(denied.reply, 0x02);
    denied.socket.destroy();

    const { socket, reply } = await socksConnect(proxy.address.port, 'echo.test');
    assert.equal(reply, 0x00);
    const echoed = await new Promise<string>((resolve) => {
      socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
      socket.write('ping');
    });
    assert.equal(echoed, 'ping');
    const snapshot = proxy.stats.snapshot();
    assert.equal(snapshot.total, 2);
    assert.equal(snapshot.active >= 1, true, 'the echo connection is still open');
    assert.equal(snapshot.bytesUp, 4);
    assert.equal(snapshot.bytesDown, 4);
    assert.deepEqual(snapshot.errors, { EGRESS_DENIED: 1 });

    // close() ends connections that are still open.
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await proxy.close();
    await closed;
    assert.equal(proxy.stats.active, 0);
  });

  test('a port in use is a clear error', async () => {
    const first = await startLocalProxy({
      spec: parseListenSpec('mixed://127.0.0.1:0'),
      outbound: fakeOutbound,
      log: silentLogger,
    });
    proxies.push(first);
    await assert.rejects(
      startLocalProxy({
        spec: parseListenSpec(`mixed://127.0.0.1:${first.address.port}`),
        outbound: fakeOutbound,
        log: silentLogger,
      }),
      (err: unknown) =>
        err instanceof SeamoonError &&
        /cannot listen on mixed:\/\/127\.0\.0\.1:\d+: .*EADDRINUSE/.test(err.message),
    );
  });

  test('UDP ASSOCIATE without a UDP-capable outbound is answered 0x07', async () => {
    const proxy = await startLocalProxy({
      spec: parseListenSpec('socks5://127.0.0.1:0'),
      outbound: fakeOutbound,
      log: silentLogger,
    });
    proxies.push(proxy);
    const reply = await new Promise<number>((resolve, reject) => {
      const socket = connect(proxy.address.port, '127.0.0.1');
      socket.write(Buffer.from([5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
      let got = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= 4) {
          socket.destroy();
          resolve(got[3]);
        }
      });
      socket.once('error', reject);
    });
    assert.equal(reply, 0x07);
  });
});
