import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/core/logger.js';
import { relay } from '../../src/core/relay.js';
import { createDirectOutbound } from '../../src/outbound/direct.js';
import { EgressGuard } from '../../src/outbound/egress-guard.js';
import { encodeFrame, Flag, FrameDecoder, FrameType, HEADER_SIZE } from '../../src/transport/mux/frame.js';
import { YamuxSession } from '../../src/transport/mux/session.js';

/** A connection that records every write and flushes only when told to (a congested tunnel). */
class HeldConnection extends Duplex {
  readonly writes: Buffer[] = [];
  #callbacks: Array<() => void> = [];
  #holding: boolean;

  constructor(holding: boolean) {
    super();
    this.#holding = holding;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.writes.push(chunk);
    if (this.#holding) this.#callbacks.push(callback);
    else callback();
  }

  override _read(): void {}
}

/** Records every batch handed to the connection: one `_write` chunk, or all chunks of one `_writev`. */
class BatchRecorder extends Duplex {
  readonly batches: Buffer[][] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.batches.push([chunk]);
    callback();
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: () => void): void {
    this.batches.push(chunks.map(({ chunk }) => chunk));
    callback();
  }

  override _read(): void {}
}

/** Serves an endless stream of bytes to every connection, written as fast as the socket takes them. */
let origin: Server;
const originSockets: Socket[] = [];
before(async () => {
  const block = Buffer.alloc(256 * 1024, 7);
  origin = createServer((socket) => {
    originSockets.push(socket);
    socket.on('error', () => {});
    const pump = () => {
      while (!socket.destroyed && socket.write(block));
      if (!socket.destroyed) socket.once('drain', pump);
    };
    pump();
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
});
after(async () => {
  for (const socket of originSockets) socket.destroy();
  await new Promise((resolve) => origin.close(resolve));
});

const outbound = createDirectOutbound({
  guard: new EgressGuard({ allowPrivate: true, allow: [] }),
  log: silentLogger,
});

const originTarget = () => ({ host: '127.0.0.1', port: (origin.address() as AddressInfo).port });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('mux data frames', () => {
  test('a large data frame is its header and the caller’s own payload, handed over in one batch', async () => {
    const conn = new BatchRecorder();
    const session = new YamuxSession(conn, { role: 'client' });
    const stream = session.openStream();
    const payload = Buffer.alloc(40_000, 3);
    stream.write(payload);
    await sleep(0);
    // One batch = one writev to the kernel: the header costs no syscall or TCP segment of its own.
    assert.equal(conn.batches.length, 1, 'header and payload are written together');
    const [header, written] = conn.batches[0]!;
    assert.equal(header!.length, HEADER_SIZE);
    assert.equal(written!.buffer, payload.buffer, 'the payload is the same memory, not a copy');
    assert.deepEqual(
      Buffer.concat([header!, written!]),
      encodeFrame({ type: FrameType.Data, flags: Flag.SYN, streamId: stream.id }, payload),
    );
    session.close();
  });

  test('a small data frame is one buffer', async () => {
    const conn = new BatchRecorder();
    const session = new YamuxSession(conn, { role: 'client' });
    const stream = session.openStream();
    const payload = Buffer.alloc(1_000, 5);
    stream.write(payload);
    await sleep(0);
    assert.deepEqual(conn.batches, [
      [encodeFrame({ type: FrameType.Data, flags: Flag.SYN, streamId: stream.id }, payload)],
    ]);
    session.close();
  });
});

/** A connection that takes writes only when released, one round at a time. */
class SteppedConnection extends Duplex {
  readonly writes: Buffer[] = [];
  #callbacks: Array<() => void> = [];

  constructor(options: { writableHighWaterMark?: number } = {}) {
    super(options);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.writes.push(chunk);
    this.#callbacks.push(callback);
  }

  override _read(): void {}

  release(): void {
    for (const callback of this.#callbacks.splice(0)) callback();
  }
}

describe('sharing a congested connection', () => {
  test('streams waiting for drain take turns instead of the first one sending all it has', async () => {
    const conn = new SteppedConnection();
    const session = new YamuxSession(conn, { role: 'client' });
    const first = session.openStream();
    const second = session.openStream();
    first.write(Buffer.alloc(200_000, 1));
    second.write(Buffer.alloc(200_000, 2));
    for (let round = 0; round < 40; round++) {
      await sleep(0);
      conn.release();
    }
    await sleep(0);
    const dataFrames = new FrameDecoder(1 << 20)
      .push(Buffer.concat(conn.writes))
      .filter((frame) => frame.type === FrameType.Data)
      .map((frame) => frame.streamId);
    assert.equal(dataFrames.length, 8, 'both 200 kB writes went out as 4 frames each');
    assert.ok(
      dataFrames.slice(0, 4).includes(second.id),
      `the second stream got a turn early (frame order: ${dataFrames.join(', ')})`,
    );
    session.close();
  });
});

describe('a connection with a large buffer of its own', () => {
  test('is never reported congested without a drain to follow, so streams do not stall', {
    timeout: 5_000,
  }, async () => {
    // Writes below the connection's high-water mark return true and no 'drain' ever comes.
    const conn = new SteppedConnection({ writableHighWaterMark: 4 << 20 });
    const session = new YamuxSession(conn, { role: 'client' });
    const stream = session.openStream();
    const written = new Promise<void>((resolve) => stream.write(Buffer.alloc(250_000, 9), () => resolve()));
    for (let round = 0; round < 20; round++) {
      await sleep(0);
      conn.release();
    }
    await written;
    const data = new FrameDecoder(1 << 20)
      .push(Buffer.concat(conn.writes))
      .filter((frame) => frame.type === FrameType.Data)
      .reduce((sum, frame) => sum + (frame.payload?.length ?? 0), 0);
    assert.equal(data, 250_000);
    session.close();
  });
});

describe('target reads under a congested tunnel', () => {
  test('a paused target socket stops reading at once instead of buffering one more read', async () => {
    const target = await outbound.dial(originTarget());
    let received = 0;
    const first = new Promise<void>((resolve) => {
      target.once('data', (chunk: Buffer) => {
        received += chunk.length;
        target.pause();
        resolve();
      });
    });
    await first;
    // The origin keeps writing; a socket that still read in the background would buffer it.
    await sleep(100);
    assert.equal(target.readableLength, 0, 'nothing read while paused');
    assert.equal((target as Socket).bytesRead, received);
    target.destroy();
  });

  test('a mux stream relaying a fast target whose tunnel does not drain holds a bounded amount', async () => {
    const conn = new HeldConnection(true);
    const session = new YamuxSession(conn, { role: 'server' });
    const opening = new Promise<Duplex>((resolve) => session.onStream(resolve));
    // The client opens a stream and grants a large window, as seamoon connect does.
    conn.push(encodeFrame({ type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: 1, length: 8 << 20 }));
    const opened = await opening;
    const target = await outbound.dial(originTarget());
    const done = relay(opened, target);
    // Let the origin fill every buffer on the way; nothing is flushed to the tunnel.
    await sleep(300);
    const read = (target as Socket).bytesRead;
    const queued = conn.writableLength;
    // Everything read from the target went to the tunnel (the session's 256 KiB allowance plus
    // at most one pending chunk); none of it sits unread in the target socket.
    assert.equal(target.readableLength, 0);
    assert.ok(read <= queued + 64 * 1024, `read ${read} bytes for ${queued} queued`);
    assert.ok(queued <= 256 * 1024 + 64 * 1024 + 1024, `queued ${queued} bytes`);
    opened.destroy();
    await done;
    session.close();
  });
});
