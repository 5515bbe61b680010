import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WarmSessionPool } from '../../src/client/pool/warm-sessions.js';
import { SeamoonError } from '../../src/core/errors.js';
import { YamuxSession } from '../../src/transport/mux/session.js';

let server: Server;
const sockets = new Set<Socket>();
const serverSessions: YamuxSession[] = [];

before(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    serverSessions.push(new YamuxSession(socket, { role: 'server' }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** A connect() that works while `up.value` is true and records when it was called. */
function connector(up: { value: boolean }, calls: number[]) {
  return async () => {
    calls.push(Date.now());
    if (!up.value) throw new SeamoonError('TUNNEL_UNAVAILABLE', 'server down');
    const socket = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
    sockets.add(socket);
    await once(socket, 'connect');
    return new YamuxSession(socket, { role: 'client' });
  };
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('warm session pool', () => {
  test('keeps N sessions open, spreads streams, replaces a dead one', async () => {
    const calls: number[] = [];
    const pool = new WarmSessionPool({ size: 2, connect: connector({ value: true }, calls) });
    pool.start();
    await until(() => pool.stats().ready === 2);
    const first = await pool.acquire(1000);
    first.openStream().write('a');
    const second = await pool.acquire(1000);
    assert.notEqual(first, second, 'least-loaded session is chosen');
    first.close();
    await until(() => pool.stats().ready === 2 && calls.length === 3);
    pool.close();
  });

  test('opens one more session when every session is busy', async () => {
    const calls: number[] = [];
    const pool = new WarmSessionPool({ size: 1, busyStreams: 2, connect: connector({ value: true }, calls) });
    pool.start();
    await until(() => pool.stats().ready === 1);
    const first = await pool.acquire(1000);
    first.openStream().write('a');
    first.openStream().write('b');
    assert.equal(await pool.acquire(1000), first, 'still the only ready session');
    await until(() => pool.stats().ready === 2);
    assert.notEqual(await pool.acquire(1000), first, 'the new session takes the next streams');
    pool.close();
  });

  test('fails fast while the server is down, backs off, recovers when it is back', async () => {
    const up = { value: false };
    const calls: number[] = [];
    const pool = new WarmSessionPool({
      size: 1,
      connect: connector(up, calls),
      initialBackoffMs: 40,
      maxBackoffMs: 200,
    });
    pool.start();
    const started = Date.now();
    await assert.rejects(pool.acquire(5000), (e: SeamoonError) => e.code === 'TUNNEL_UNAVAILABLE');
    assert.ok(Date.now() - started < 1000, 'no waiting for the dial timeout');
    await until(() => calls.length >= 4);
    const gaps = calls.slice(1).map((t, i) => t - calls[i]);
    assert.ok(gaps[2] >= gaps[0], `backoff grows: ${gaps}`);
    up.value = true;
    // The next scheduled retry (at most maxBackoffMs away) brings the pool back.
    await until(() => pool.stats().ready === 1, 2000);
    const session = await pool.acquire(2000);
    assert.equal(session.closed, false);
    assert.equal(pool.stats().failures, 0);
    pool.close();
  });
});
