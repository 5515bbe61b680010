import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { TunnelPool } from '../../src/client/pool/tunnel-pool.js';
import { createWsMuxTunnel } from '../../src/client/tunnel/ws-mux.js';
import { silentLogger } from '../../src/core/logger.js';
import { parseServerOptions } from '../../src/server/config.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { patternBytes, sha256 } from '../helpers/origin.js';

const TOKEN = 'pool-failover-token';

async function startTunnelServer(): Promise<RunningServer> {
  const options = parseServerOptions(
    { addr: '127.0.0.1', port: '0', token: TOKEN, allowPrivate: true, logLevel: 'silent' },
    {},
  );
  return startServer(options, { log: silentLogger, env: {} });
}

/** Sends `payload`, half-closes, and resolves with whether the echo came back intact. */
function roundTrip(stream: Duplex, payload: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(sha256(Buffer.concat(chunks)) === sha256(payload)));
    stream.once('error', () => resolve(false));
    stream.end(payload);
  });
}

describe('tunnel pool over three seamoon servers', () => {
  const servers: RunningServer[] = [];
  let echo: Server;
  let echoPort = 0;
  let pool: TunnelPool;

  before(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startTunnelServer());
    echo = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    echoPort = (echo.address() as AddressInfo).port;
    pool = new TunnelPool(
      servers.map((s) =>
        createWsMuxTunnel(new URL(`ws://127.0.0.1:${s.address.port}`), {
          token: TOKEN,
          warm: 1,
          log: silentLogger,
        }),
      ),
      { strategy: 'round-robin', maxFails: 1, failTimeoutMs: 10_000, healthIntervalMs: 0 },
    );
    await pool.checkHealth();
  });

  after(async () => {
    await pool?.close();
    for (const s of servers) await s.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  test('kill one of three mid-run: its streams fail, every new connection succeeds', async () => {
    const target = { host: '127.0.0.1', port: echoPort };
    // 30 long-lived connections, spread 10/10/10 by round-robin, each has sent a first byte.
    const live = await Promise.all(Array.from({ length: 30 }, () => pool.dial(target)));
    assert.deepEqual(
      pool.stats().map((s) => s.active),
      [10, 10, 10],
    );
    for (const stream of live) stream.write('x');
    await Promise.all(live.map((stream) => once(stream, 'data')));
    const outcomes = live.map(
      (stream) =>
        new Promise<'ok' | 'failed'>((resolve) => {
          stream.once('error', () => resolve('failed'));
          stream.once('close', () => resolve('failed'));
          stream.once('data', () => resolve('ok'));
        }),
    );

    await servers[1].close(); // the middle tunnel's server goes away
    for (const stream of live) if (!stream.destroyed) stream.write('y');
    const results = await Promise.all(outcomes);
    const failedOn = (member: number) => results.filter((r, i) => i % 3 === member && r === 'failed').length;
    assert.equal(failedOn(1), 10, 'every stream of the dead tunnel failed');
    assert.equal(failedOn(0) + failedOn(2), 0, 'streams of the other tunnels were untouched');
    for (const stream of live) stream.destroy();

    // New connections: none fails (a dial that hits the dead tunnel moves on transparently).
    const fresh = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const stream = await pool.dial(target);
        return roundTrip(stream, patternBytes(2048 + i * 100, i + 1));
      }),
    );
    assert.equal(fresh.filter(Boolean).length, 60);
    const stats = pool.stats();
    assert.equal(stats[1].failing, true);
    assert.ok(stats[1].failures >= 1);
    assert.equal(stats[0].total + stats[2].total, 20 + 60);
  });
});
