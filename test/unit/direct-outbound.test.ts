import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/core/logger.js';
import { createDirectOutbound } from '../../src/outbound/direct.js';
import { EgressGuard } from '../../src/outbound/egress-guard.js';
import { startUdpEcho, type UdpEcho } from '../helpers/origin.js';

interface Echo {
  server: Server;
  port: number;
}

/** A TCP echo server that greets first, so a test can tell it really reached this server. */
async function startEcho(host: string, port = 0): Promise<Echo> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.write(`hello ${host}\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

function readLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text);
    });
    socket.once('error', reject);
  });
}

describe('direct outbound', () => {
  let v4: Echo;
  let v6: Echo | undefined;
  let udp: UdpEcho;
  const sockets: Socket[] = [];
  const open = createDirectOutbound({
    guard: new EgressGuard({ allowPrivate: true, allow: [] }),
    log: silentLogger,
  });
  const guarded = createDirectOutbound({
    guard: new EgressGuard({ allowPrivate: false, allow: [] }),
    log: silentLogger,
  });

  before(async () => {
    v4 = await startEcho('127.0.0.1');
    // Same port on ::1 when free, so "localhost" reaches an echo whichever family it resolves to first.
    v6 = await startEcho('::1', v4.port).catch(() => undefined);
    udp = await startUdpEcho('127.0.0.1');
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => v4.server.close(resolve));
    if (v6) await new Promise((resolve) => v6?.server.close(resolve));
    await udp.close();
  });

  test('connects to odd IPv4 spellings after normalising them (allowPrivate)', async () => {
    for (const host of ['127.0.0.1', '127.1', '2130706433', 'localhost']) {
      const stream = (await open.dial({ host, port: v4.port }, { timeoutMs: 2000 })) as Socket;
      sockets.push(stream);
      const line = await readLine(stream);
      assert.match(line, /^hello (127\.0\.0\.1|::1)\n/, host);
      stream.destroy();
    }
  });

  test('writes firstBytes right after connecting', async () => {
    const stream = (await open.dial(
      { host: '127.0.0.1', port: v4.port },
      { timeoutMs: 2000, firstBytes: Buffer.from('early\n') },
    )) as Socket;
    sockets.push(stream);
    let text = '';
    await new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('early\n')) resolve();
      });
    });
    assert.equal(text, 'hello 127.0.0.1\nearly\n');
    stream.destroy();
  });

  test('the guard refuses every loopback form after resolution', async () => {
    for (const host of [
      '127.0.0.1',
      '127.1',
      '2130706433',
      '0x7f.1',
      '::1',
      '::ffff:127.0.0.1',
      'localhost',
    ]) {
      await assert.rejects(
        guarded.dial({ host, port: v4.port }, { timeoutMs: 2000 }),
        { code: 'EGRESS_DENIED' },
        host,
      );
    }
    assert.equal(v4.server.listening, true);
  });

  test('refused port → CONNECTION_REFUSED', async () => {
    const closed = await startEcho('127.0.0.1');
    const port = closed.port;
    await new Promise((resolve) => closed.server.close(resolve));
    await assert.rejects(open.dial({ host: '127.0.0.1', port }, { timeoutMs: 2000 }), {
      code: 'CONNECTION_REFUSED',
    });
  });

  test('unknown name → DNS_FAILED', async () => {
    await assert.rejects(open.dial({ host: 'no-such-host.invalid', port: 80 }, { timeoutMs: 5000 }), {
      code: 'DNS_FAILED',
    });
  });

  test('deadline covers resolution → DIAL_TIMEOUT; abort signal → CLOSED', async () => {
    const stuck = createDirectOutbound({
      guard: new EgressGuard({ allowPrivate: true, allow: [] }),
      log: silentLogger,
      resolve: () => new Promise(() => {}),
    });
    const started = Date.now();
    await assert.rejects(stuck.dial({ host: 'slow.example', port: 80 }, { timeoutMs: 100 }), {
      code: 'DIAL_TIMEOUT',
    });
    assert.ok(Date.now() - started < 1000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(
      stuck.dial({ host: 'slow.example', port: 80 }, { timeoutMs: 5000, signal: controller.signal }),
      { code: 'CLOSED' },
    );
  });

  test('tries the next address when the first one fails', async () => {
    const closed = await startEcho('127.0.0.2').catch(() => undefined);
    // 127.0.0.2 with nobody listening on v4.port, then 127.0.0.1 where the echo is.
    if (closed) await new Promise((resolve) => closed.server.close(resolve));
    const twoAddresses = createDirectOutbound({
      guard: new EgressGuard({ allowPrivate: true, allow: [] }),
      log: silentLogger,
      resolve: async () => ['127.0.0.2', '127.0.0.1'],
    });
    const stream = (await twoAddresses.dial(
      { host: 'two.example', port: v4.port },
      { timeoutMs: 2000 },
    )) as Socket;
    sockets.push(stream);
    assert.equal(stream.remoteAddress, '127.0.0.1');
    stream.destroy();
  });

  test('UDP: datagrams go out and come back with their source; denied targets are dropped', async () => {
    const session = await open.openUdp?.();
    assert.ok(session);
    const got = new Promise<{ host: string; port: number; text: string }>((resolve) => {
      session.onMessage((source, payload) => resolve({ ...source, text: payload.toString() }));
    });
    session.send({ host: '127.0.0.1', port: udp.port }, Buffer.from('ping'));
    assert.deepEqual(await got, { host: '127.0.0.1', port: udp.port, text: 'echo:ping' });
    session.close();

    const denied = await guarded.openUdp?.();
    assert.ok(denied);
    let received = 0;
    denied.onMessage(() => {
      received += 1;
    });
    denied.send({ host: '127.0.0.1', port: udp.port }, Buffer.from('ping'));
    denied.send({ host: 'localhost', port: udp.port }, Buffer.from('ping'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(received, 0);
    const closed = new Promise<void>((resolve) => denied.onClose(() => resolve()));
    denied.close();
    await closed;
  });

  test('UDP session closes itself when idle', async () => {
    const short = createDirectOutbound({
      guard: new EgressGuard({ allowPrivate: true, allow: [] }),
      log: silentLogger,
      udpIdleMs: 100,
    });
    const session = await short.openUdp?.();
    assert.ok(session);
    const closed = new Promise<void>((resolve) => session.onClose(() => resolve()));
    session.send({ host: '127.0.0.1', port: udp.port }, Buffer.from('x'));
    await closed;
  });
});
