import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { StreamReader } from '../../src/protocol/stream-reader.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('StreamReader', () => {
  test('readExactly across chunks, peek does not consume', async () => {
    const stream = new PassThrough();
    const reader = new StreamReader(stream);
    const pending = reader.readExactly(5);
    stream.write('ab');
    await tick();
    stream.write('cdefg');
    assert.equal((await pending).toString(), 'abcde');
    assert.equal((await reader.peek(1)).toString(), 'f');
    assert.equal((await reader.readExactly(2)).toString(), 'fg');
    reader.release();
    stream.destroy();
  });

  test('readUntil returns through the delimiter and enforces the cap', async () => {
    const stream = new PassThrough();
    const reader = new StreamReader(stream);
    stream.write('HEAD\r\n\r\nbody');
    assert.equal((await reader.readUntil('\r\n\r\n', 64)).toString(), 'HEAD\r\n\r\n');
    assert.equal(reader.buffered, 4);
    stream.write('x'.repeat(100));
    await assert.rejects(reader.readUntil('\r\n', 64), { code: 'BAD_REQUEST' });
    stream.destroy();
  });

  test('release hands every over-read byte to the next consumer, in order', async () => {
    const stream = new PassThrough();
    const reader = new StreamReader(stream);
    stream.write(Buffer.from('HDR|rest-1'));
    await reader.readUntil('|', 16);
    assert.equal(reader.release(), 6);
    const seen: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => seen.push(chunk));
    stream.end('|rest-2');
    await new Promise((resolve) => stream.once('end', resolve));
    assert.equal(Buffer.concat(seen).toString(), 'rest-1|rest-2');
  });

  test('a second reader after release sees the unshifted bytes first', async () => {
    const stream = new PassThrough();
    const first = new StreamReader(stream);
    stream.write('\x05more');
    assert.deepEqual([...(await first.peek(1))], [5]);
    first.release();
    const second = new StreamReader(stream);
    assert.equal((await second.readExactly(5)).toString(), '\x05more');
    second.release();
    stream.destroy();
  });

  test('end, close and timeout reject with a SeamoonError', async () => {
    const ended = new PassThrough();
    const r1 = new StreamReader(ended);
    ended.end('ab');
    await assert.rejects(r1.readExactly(3), { code: 'CLOSED' });

    const destroyed = new PassThrough();
    const r2 = new StreamReader(destroyed);
    const pending = r2.readExactly(1);
    destroyed.destroy();
    await assert.rejects(pending, { code: 'CLOSED' });

    // The reader's deadline timer is unref'd (a live socket keeps a real process up); a
    // PassThrough does not, so hold the event loop open meanwhile.
    const hold = setInterval(() => {}, 1000);
    const silent = new PassThrough();
    const r3 = new StreamReader(silent, { timeoutMs: 50 });
    await assert.rejects(r3.readExactly(1), { code: 'HANDSHAKE_TIMEOUT' });
    clearInterval(hold);
    r3.release();
    silent.destroy();
  });

  test('readAvailable returns what is there, or waits briefly and returns empty', async () => {
    const stream = new PassThrough();
    const reader = new StreamReader(stream);
    const started = Date.now();
    assert.equal((await reader.readAvailable(30)).length, 0);
    assert.ok(Date.now() - started >= 25);
    setTimeout(() => stream.write('late'), 5);
    assert.equal((await reader.readAvailable(1000)).toString(), 'late');
    reader.release();
    stream.destroy();
  });

  test('a flood during the handshake is held back by backpressure, and nothing is lost', async () => {
    const stream = new PassThrough({ highWaterMark: 16 * 1024 });
    const reader = new StreamReader(stream);
    const chunk = Buffer.alloc(16 * 1024, 7);
    // Keep writing while the stream accepts more, yielding so the reader can pull.
    let writes = 0;
    for (let i = 0; i < 64; i++) {
      writes += 1;
      if (!stream.write(chunk)) break;
      await tick();
    }
    await tick();
    assert.ok(reader.buffered <= 80 * 1024, `buffered ${reader.buffered}`);
    assert.ok(writes < 64, 'the writer saw backpressure');
    assert.equal((await reader.readExactly(3)).length, 3);
    reader.release();
    let total = 0;
    stream.on('data', (c: Buffer) => {
      total += c.length;
    });
    stream.end();
    await new Promise((resolve) => stream.once('end', resolve));
    assert.equal(total + 3, writes * chunk.length);
  });
});
