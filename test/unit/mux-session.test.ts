import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { SeamoonError } from '../../src/core/errors.js';
import {
  encodeFrame,
  Flag,
  type Frame,
  FrameDecoder,
  FrameType,
  GoAwayCode,
} from '../../src/transport/mux/frame.js';
import { YamuxSession } from '../../src/transport/mux/session.js';
import type { YamuxStream } from '../../src/transport/mux/stream.js';

/** Real loopback TCP pairs, so backpressure behaves as it will in production. */
let server: Server;
const accepted: Socket[] = [];
const waiting: Array<(socket: Socket) => void> = [];
const opened: Socket[] = [];

before(async () => {
  server = createServer((socket) => {
    accepted.push(socket);
    waiting.shift()?.(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

after(async () => {
  for (const socket of [...accepted, ...opened]) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

async function socketPair(): Promise<[Socket, Socket]> {
  const acceptedSocket = new Promise<Socket>((resolve) => waiting.push(resolve));
  const client = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
  opened.push(client);
  await once(client, 'connect');
  return [client, await acceptedSocket];
}

async function sessionPair(
  options: { maxStreamWindow?: number } = {},
): Promise<{ client: YamuxSession; server: YamuxSession }> {
  const [a, b] = await socketPair();
  return {
    client: new YamuxSession(a, { role: 'client', ...options }),
    server: new YamuxSession(b, { role: 'server', ...options }),
  };
}

/** A raw peer that speaks yamux by hand, to check what goes on the wire. */
async function rawPeer(
  role: 'client' | 'server',
): Promise<{ session: YamuxSession; raw: Socket; frames: Frame[] }> {
  const [a, b] = await socketPair();
  const session = new YamuxSession(a, { role });
  const decoder = new FrameDecoder(16 * 1024 * 1024);
  const frames: Frame[] = [];
  b.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
  return { session, raw: b, frames };
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

function nextStream(session: YamuxSession): Promise<YamuxStream> {
  return new Promise((resolve) => session.onStream(resolve));
}

describe('yamux session', () => {
  test('the first write rides on the SYN frame, client ids are odd', async () => {
    const { session, raw, frames } = await rawPeer('client');
    const a = session.openStream();
    a.write('GET');
    const b = session.openStream();
    await until(() => frames.length >= 2);
    assert.equal(frames[0].type, FrameType.Data);
    assert.equal(frames[0].flags, Flag.SYN);
    assert.equal(frames[0].streamId, 1);
    assert.equal(frames[0].payload?.toString(), 'GET');
    // A stream nobody wrote to is announced with an empty Window Update.
    assert.equal(frames[1].type, FrameType.WindowUpdate);
    assert.equal(frames[1].flags, Flag.SYN);
    assert.equal(frames[1].streamId, 3);
    assert.equal(b.id, 3);
    session.close();
    raw.destroy();
  });

  test('accepting a stream answers ACK; server ids are even', async () => {
    const { session, raw, frames } = await rawPeer('server');
    const accepted = nextStream(session);
    raw.write(encodeFrame({ type: FrameType.Data, flags: Flag.SYN, streamId: 1 }, Buffer.from('hi')));
    const stream = await accepted;
    assert.equal(stream.id, 1);
    await until(() => frames.length >= 1);
    assert.equal(frames[0].type, FrameType.WindowUpdate);
    assert.equal(frames[0].flags, Flag.ACK);
    assert.equal(frames[0].streamId, 1);
    const own = session.openStream();
    assert.equal(own.id, 2);
    own.destroy();
    session.close();
    raw.destroy();
  });

  test('a peer opening a stream with our parity is a protocol error (Go Away 1)', async () => {
    const { session, raw, frames } = await rawPeer('client');
    const closed = new Promise<Error | undefined>((resolve) => session.onClose(resolve));
    raw.write(encodeFrame({ type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: 1, length: 0 }));
    const error = await closed;
    assert.match(String(error?.message), /parity/);
    await until(() => frames.some((f) => f.type === FrameType.GoAway));
    assert.equal(frames.find((f) => f.type === FrameType.GoAway)?.length, GoAwayCode.ProtocolError);
    raw.destroy();
  });

  test('echo with half-close in both directions', async () => {
    const { client, server } = await sessionPair();
    server.onStream((stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      // Half-close: the client ended its side, we can still answer and then end ours.
      stream.once('end', () => stream.end(Buffer.concat(chunks).toString().toUpperCase()));
    });
    const stream = client.openStream();
    const reply = readAll(stream);
    stream.end('ping pong');
    assert.equal((await reply).toString(), 'PING PONG');
    await until(() => client.streamCount === 0 && server.streamCount === 0);
    client.close();
    server.close();
  });

  test('send window: stops at 256 KiB until the peer grants more', async () => {
    const { session, raw, frames } = await rawPeer('server');
    const accepted = nextStream(session);
    raw.write(encodeFrame({ type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: 1, length: 0 }));
    const stream = await accepted;
    stream.write(Buffer.alloc(1024 * 1024, 7));
    const dataBytes = () =>
      frames.filter((f) => f.type === FrameType.Data).reduce((sum, f) => sum + (f.payload?.length ?? 0), 0);
    await until(() => dataBytes() === 256 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(dataBytes(), 256 * 1024, 'no byte beyond the window');
    assert.equal(stream.sendWindow, 0);
    raw.write(encodeFrame({ type: FrameType.WindowUpdate, flags: 0, streamId: 1, length: 100_000 }));
    await until(() => dataBytes() === 256 * 1024 + 100_000);
    session.close();
    raw.destroy();
  });

  test('receive window: consumed data is granted back, overrun is a protocol error', async () => {
    const { session, raw, frames } = await rawPeer('server');
    const accepted = nextStream(session);
    raw.write(encodeFrame({ type: FrameType.Data, flags: Flag.SYN, streamId: 1 }, Buffer.alloc(200_000)));
    const stream = await accepted;
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    await until(() => received === 200_000);
    await until(() => frames.some((f) => f.type === FrameType.WindowUpdate && f.length > 0));
    const granted = frames.filter((f) => f.type === FrameType.WindowUpdate).reduce((s, f) => s + f.length, 0);
    assert.ok(granted >= 128 * 1024 && granted <= 200_000, `granted ${granted}`);

    // Now overrun: send more than the remaining window in one go.
    const closed = new Promise<Error | undefined>((resolve) => session.onClose(resolve));
    const remaining = 256 * 1024 - 200_000 + granted;
    raw.write(encodeFrame({ type: FrameType.Data, flags: 0, streamId: 1 }, Buffer.alloc(remaining + 1)));
    assert.match(String((await closed)?.message), /window/);
    raw.destroy();
  });

  test('a slow reader does not block a fast stream on the same session', async () => {
    const { client, server } = await sessionPair();
    const size = 4 * 1024 * 1024;
    server.onStream((stream) => {
      stream.once('data', (first: Buffer) => {
        if (first.toString() === 'slow') stream.write(Buffer.alloc(size, 1));
        else stream.end(Buffer.alloc(size, 2));
      });
    });
    const slow = client.openStream();
    slow.write('slow');
    slow.pause(); // never read: its window fills and stays full
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fast = client.openStream();
    const body = readAll(fast);
    fast.write('fast');
    const started = Date.now();
    const data = await body;
    assert.equal(data.length, size);
    assert.ok(Date.now() - started < 5000);
    assert.ok(slow.receiveWindow === 0 || slow.readableLength > 0, 'slow stream holds its window');
    client.close();
    server.close();
  });

  test('reset fails only that stream', async () => {
    const { client, server } = await sessionPair();
    server.onStream((stream) => {
      stream.once('data', (chunk: Buffer) => {
        if (chunk.toString() === 'reset me') stream.destroy();
        else stream.end(chunk);
      });
    });
    const doomed = client.openStream();
    doomed.write('reset me');
    const [error] = (await once(doomed, 'error')) as [SeamoonError];
    assert.equal(error.code, 'CLOSED');
    assert.match(error.message, /reset by peer/);
    const healthy = client.openStream();
    const reply = readAll(healthy);
    healthy.end('still fine');
    assert.equal((await reply).toString(), 'still fine');
    client.close();
    server.close();
  });

  test('ping measures the round trip; a raw ping is answered with ACK and the same value', async () => {
    const { client, server } = await sessionPair();
    const rtt = await client.ping(2000);
    assert.ok(rtt >= 0 && rtt < 2000);
    assert.equal(client.lastRttMs, rtt);
    client.close();
    server.close();

    const { session, raw, frames } = await rawPeer('server');
    raw.write(encodeFrame({ type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: 0xdeadbeef }));
    await until(() => frames.length > 0);
    assert.deepEqual(
      {
        type: frames[0].type,
        flags: frames[0].flags,
        streamId: frames[0].streamId,
        length: frames[0].length,
      },
      { type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: 0xdeadbeef },
    );
    session.close();
    raw.destroy();
  });

  test('an unanswered keepalive ping closes the session', async () => {
    const [a, b] = await socketPair();
    const session = new YamuxSession(a, { role: 'client', keepAliveIntervalMs: 50, pingTimeoutMs: 100 });
    const closed = new Promise<Error | undefined>((resolve) => session.onClose(resolve));
    // b never answers
    const error = (await closed) as SeamoonError;
    assert.equal(error.code, 'TUNNEL_UNAVAILABLE');
    b.destroy();
  });

  test('go away: no new streams, existing ones finish', async () => {
    const { client, server } = await sessionPair();
    server.onStream((stream) => {
      stream.on('data', (chunk: Buffer) => stream.write(chunk));
      stream.once('end', () => stream.end());
    });
    const existing = client.openStream();
    const reply = readAll(existing);
    existing.write('before ');
    await until(() => server.streamCount === 1);
    server.goAway();
    await until(() => !client.acceptsNewStreams);
    assert.throws(
      () => client.openStream(),
      (e: SeamoonError) => e.code === 'TUNNEL_UNAVAILABLE',
    );
    existing.end('after');
    assert.equal((await reply).toString(), 'before after');
    client.close();
    server.close();
  });

  test('a dead connection fails every stream of that session only', async () => {
    const one = await sessionPair();
    const two = await sessionPair();
    for (const s of [one.server, two.server])
      s.onStream((stream) => stream.on('data', (c: Buffer) => stream.write(c)));
    const lost = [one.client.openStream(), one.client.openStream()];
    const errors = lost.map((s) => once(s, 'error'));
    for (const s of lost) s.write('x');
    const survivor = two.client.openStream();
    survivor.write('y');
    await once(survivor, 'data');
    one.server.close();
    for (const [error] of (await Promise.all(errors)) as Array<[SeamoonError]>)
      assert.equal(error.code, 'CLOSED');
    survivor.write('z');
    const [echo] = (await once(survivor, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'z');
    two.client.close();
    two.server.close();
  });

  test('500 concurrent streams over 2 sessions, sha256-checked both ways', async () => {
    const sessions = [await sessionPair({ maxStreamWindow: 1024 * 1024 }), await sessionPair()];
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const payload = (i: number, dir: number) => {
      const out = Buffer.allocUnsafe(8 * 1024 + ((i * 997) % 40_000));
      for (let k = 0; k < out.length; k++) out[k] = (k * 31 + i * 7 + dir) & 0xff;
      return out;
    };
    for (const { server: s } of sessions) {
      s.onStream((stream) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.once('end', () => {
          const request = Buffer.concat(chunks);
          const i = request.readUInt32BE(0);
          const ok = digest(request.subarray(4)) === digest(payload(i, 0));
          stream.end(ok ? payload(i, 1) : Buffer.from('bad'));
        });
      });
    }
    const runs = Array.from({ length: 500 }, async (_, i) => {
      const stream = sessions[i % 2].client.openStream();
      const reply = readAll(stream);
      const index = Buffer.alloc(4);
      index.writeUInt32BE(i);
      stream.end(Buffer.concat([index, payload(i, 0)]));
      return digest(await reply) === digest(payload(i, 1));
    });
    const results = await Promise.all(runs);
    assert.equal(results.filter(Boolean).length, 500);
    for (const pair of sessions) {
      pair.client.close();
      pair.server.close();
    }
  });
});
