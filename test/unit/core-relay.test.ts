import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { relay } from '../../src/core/relay.js';
import { patternBytes, sha256 } from '../helpers/origin.js';

const REPLY = patternBytes(8 * 1024 * 1024, 7);

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

describe('relay', () => {
  let origin: Server;
  let middle: Server;
  let middlePort: number;
  const counted = { up: 0, down: 0 };

  before(async () => {
    // Answers only after the client half-closed: the reply must survive the client's FIN.
    origin = createServer({ allowHalfOpen: true }, (socket) => {
      socket.resume();
      socket.once('end', () => socket.end(REPLY));
    });
    const originPort = await listen(origin);
    middle = createServer({ allowHalfOpen: true }, (app: Socket) => {
      const target = connect({ host: '127.0.0.1', port: originPort, allowHalfOpen: true });
      void relay(app, target, {
        onUp: (n) => {
          counted.up += n;
        },
        onDown: (n) => {
          counted.down += n;
        },
      });
    });
    middlePort = await listen(middle);
  });

  after(() => {
    origin.close();
    middle.close();
  });

  test('a reply sent after the client half-closed arrives whole, even to a slow reader', async () => {
    const client = connect({ host: '127.0.0.1', port: middlePort, allowHalfOpen: true });
    await new Promise((resolve) => client.once('connect', resolve));
    client.end('request');
    // Read nothing for a while so the relay's writes to us queue up behind backpressure.
    client.pause();
    await sleep(300);
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.resume();
    await new Promise((resolve) => client.once('close', resolve));
    const body = Buffer.concat(chunks);
    assert.equal(body.length, REPLY.length);
    assert.equal(sha256(body), sha256(REPLY));
    assert.equal(counted.up, 'request'.length);
    assert.equal(counted.down, REPLY.length);
  });

  test('bytes still queued for a slow writer are flushed before the relay tears down', async () => {
    // An app side whose writes complete slowly: when the target ends, the last chunks are
    // still queued in it. Destroying at that moment would drop them.
    const received: Buffer[] = [];
    const app = new Duplex({
      allowHalfOpen: true,
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        setTimeout(() => {
          received.push(chunk);
          callback();
        }, 2);
      },
    });
    const target = connect({
      host: '127.0.0.1',
      port: (origin.address() as AddressInfo).port,
      allowHalfOpen: true,
    });
    const done = relay(app, target);
    app.push('request');
    app.push(null);
    const result = await done;
    const body = Buffer.concat(received);
    assert.equal(result.down, REPLY.length);
    assert.equal(body.length, REPLY.length);
    assert.equal(sha256(body), sha256(REPLY));
  });
});
