import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeHeader, FrameType, HEADER_SIZE } from '../../src/transport/mux/frame.js';
import { YamuxSession } from '../../src/transport/mux/session.js';
import type { YamuxStream } from '../../src/transport/mux/stream.js';
import { wsToDuplex } from '../../src/transport/ws-stream.js';

/** A yamux session straight on a WebSocket, against a peer session on the byte-stream adapter. */
let wss: WebSocketServer;
const serverSockets: WebSocket[] = [];
const waiting: Array<(socket: WebSocket) => void> = [];

before(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (socket) => {
    serverSockets.push(socket);
    waiting.shift()?.(socket);
  });
  await once(wss, 'listening');
});

after(async () => {
  for (const socket of serverSockets) socket.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

async function wsPair(): Promise<{ client: WebSocket; server: WebSocket }> {
  const accepted = new Promise<WebSocket>((resolve) => waiting.push(resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, {
    perMessageDeflate: false,
  });
  await once(client, 'open');
  return { client, server: await accepted };
}

/** The peer echoes every stream back. */
function echoServer(socket: WebSocket): YamuxSession {
  const stream = wsToDuplex(socket);
  stream.on('error', () => {});
  const session = new YamuxSession(stream, { role: 'server' });
  session.onStream((muxStream) => muxStream.pipe(muxStream));
  return session;
}

function collect(stream: YamuxStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

const sha = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

describe('yamux session on a WebSocket', () => {
  test('a stream echoes 3 MiB through congestion intact, and the messages carry whole frames', async () => {
    const { client, server } = await wsPair();
    const messages: Buffer[] = [];
    server.on('message', (data: Buffer) => messages.push(data));
    const peer = echoServer(server);
    const session = new YamuxSession(client, { role: 'client', maxStreamWindow: 1 << 20 });
    const stream = session.openStream();
    const payload = randomBytes(3 << 20);
    const echoed = collect(stream);
    // One write far above the session's in-flight allowance: it must wait for the socket and go on.
    stream.end(payload);
    const back = await echoed;
    assert.equal(back.length, payload.length);
    assert.equal(sha(back), sha(payload));
    // A frame is one message, or (large data) its header message followed by its payload message.
    let dataBytes = 0;
    for (let i = 0; i < messages.length; i++) {
      const header = decodeHeader(messages[i]!);
      if (header.type !== FrameType.Data) continue;
      if (messages[i]!.length === HEADER_SIZE && header.length > 0) {
        assert.equal(messages[i + 1]!.length, header.length, 'the payload message follows its header');
        i += 1;
      } else {
        assert.equal(messages[i]!.length, HEADER_SIZE + header.length);
      }
      dataBytes += header.length;
    }
    assert.equal(dataBytes, payload.length);
    session.close();
    peer.close();
  });

  test('the socket closing fails the open streams and closes the session', async () => {
    const { client, server } = await wsPair();
    echoServer(server);
    const session = new YamuxSession(client, { role: 'client' });
    const stream = session.openStream();
    const failed = new Promise<Error>((resolve) => stream.once('error', resolve));
    const closed = new Promise<Error | undefined>((resolve) => session.onClose(resolve));
    stream.write(Buffer.from('hello'));
    server.terminate();
    const error = await failed;
    assert.match(error.message, /mux connection closed/);
    assert.match((await closed)?.message ?? '', /mux connection closed/);
    assert.equal(session.closed, true);
    assert.equal(session.acceptsNewStreams, false);
  });

  test('writes batched on the byte-stream adapter still arrive as one message each, in order', async () => {
    const { client, server } = await wsPair();
    const received: string[] = [];
    const all = new Promise<void>((resolve) =>
      server.on('message', (data: Buffer) => {
        received.push(data.toString());
        if (received.length === 3) resolve();
      }),
    );
    const stream = wsToDuplex(client);
    stream.cork();
    stream.write(Buffer.from('one'));
    stream.write(Buffer.from('two'));
    stream.write(Buffer.from('three'));
    stream.uncork();
    await all;
    assert.deepEqual(received, ['one', 'two', 'three']);
    stream.destroy();
  });

  test('closing the session terminates its WebSocket', async () => {
    const { client, server } = await wsPair();
    echoServer(server);
    const session = new YamuxSession(client, { role: 'client' });
    const serverSawClose = once(server, 'close');
    session.close();
    await serverSawClose;
    assert.equal(client.readyState === client.CLOSED || client.readyState === client.CLOSING, true);
  });
});
