import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTunnel } from '../../src/client/tunnel/registry.js';
import type { Tunnel } from '../../src/client/tunnel/types.js';
import { SeamoonError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { parseServerOptions } from '../../src/server/config.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { type Origin, startHttpOrigin } from '../helpers/origin.js';
import { freePort } from '../helpers/v2ray.js';

/**
 * Cascades that point back at themselves: every stream used to be forwarded around the loop
 * until something ran out. Each server now refuses a stream whose SM-HOPS already names it, and
 * the refusal travels back to the client as a denied target (SOCKS 0x02).
 */

const TOKEN = 'cascade-loop-token';

function startHop(port: number, type: 'grpc' | 'websocket', cascade?: string, hopId?: string) {
  const options = parseServerOptions(
    {
      addr: '127.0.0.1',
      port: String(port),
      type,
      token: TOKEN,
      allowPrivate: true,
      logLevel: 'silent',
      cascade,
      cascadeToken: cascade ? TOKEN : undefined,
    },
    {},
  );
  return startServer(options, { log: silentLogger, env: {}, hopId });
}

async function dialError(tunnel: Tunnel, origin: Origin): Promise<SeamoonError> {
  const err = await tunnel.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 5_000 }).then(
    (stream) => {
      stream.destroy();
      throw new Error('the dial through the loop succeeded');
    },
    (error: unknown) => error,
  );
  assert.ok(err instanceof SeamoonError, String(err));
  return err;
}

describe('cascade loops are refused', () => {
  let origin: Origin;
  const servers: RunningServer[] = [];
  const tunnels: Tunnel[] = [];

  before(async () => {
    origin = await startHttpOrigin();
  });

  after(async () => {
    for (const tunnel of tunnels) await tunnel.close();
    for (const server of servers) await server.close();
    await origin.close();
  });

  async function open(url: string, extra: { compat?: boolean; hops?: string[] } = {}): Promise<Tunnel> {
    const tunnel = await createTunnel(url, { token: TOKEN, ...extra });
    tunnels.push(tunnel);
    return tunnel;
  }

  test('a gRPC server cascading to itself refuses the stream instead of forwarding it forever', async () => {
    const port = await freePort();
    servers.push(await startHop(port, 'grpc', `grpc://127.0.0.1:${port}`));
    const err = await dialError(await open(`grpc://127.0.0.1:${port}`), origin);
    assert.equal(err.code, 'EGRESS_DENIED', err.message);
  });

  test('a two-server loop s1 → s2 → s1 is refused at s1', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    servers.push(await startHop(p1, 'grpc', `grpc://127.0.0.1:${p2}`));
    servers.push(await startHop(p2, 'grpc', `grpc://127.0.0.1:${p1}`));
    const err = await dialError(await open(`grpc://127.0.0.1:${p1}`), origin);
    assert.equal(err.code, 'EGRESS_DENIED', err.message);
  });

  test('a WebSocket server answers 508 to an upgrade whose hops name it or are too many', async () => {
    const server = await startHop(0, 'websocket', undefined, 'hop-ws-one');
    servers.push(server);
    const url = `ws://127.0.0.1:${server.address.port}`;

    const looped = await dialError(await open(url, { compat: true, hops: ['hop-a', 'hop-ws-one'] }), origin);
    assert.equal(looped.code, 'EGRESS_DENIED');
    assert.match(looped.message, /loop/);

    const nine = Array.from({ length: 9 }, (_, i) => `hop-${i}`);
    const tooLong = await dialError(await open(url, { compat: true, hops: nine }), origin);
    assert.equal(tooLong.code, 'EGRESS_DENIED');

    const passing = await open(url, { compat: true, hops: ['hop-a', 'hop-b'] });
    const stream = await passing.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 5_000 });
    stream.destroy();
  });

  test('a WebSocket server cascading to itself over the default mux tunnel refuses the loop', async () => {
    const port = await freePort();
    servers.push(await startHop(port, 'websocket', `ws://127.0.0.1:${port}`));
    const tunnel = await open(`ws://127.0.0.1:${port}`);
    // The server's own next-hop connections were first tried before it listened (refused);
    // once they reconnect, the server answers them 508 and the loop shows up as a refusal.
    let err = await dialError(tunnel, origin);
    for (let attempt = 0; attempt < 50 && err.code !== 'EGRESS_DENIED'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      err = await dialError(tunnel, origin);
    }
    assert.equal(err.code, 'EGRESS_DENIED', err.message);
  });

  test('the mux tunnel sends its hop list: an upgrade naming the server is answered 508', async () => {
    const server = await startHop(0, 'websocket', undefined, 'hop-mux-one');
    servers.push(server);
    const url = `ws://127.0.0.1:${server.address.port}`;
    const looped = await dialError(await open(url, { hops: ['hop-mux-one'] }), origin);
    assert.equal(looped.code, 'EGRESS_DENIED');
    const passing = await open(url, { hops: ['hop-elsewhere'] });
    const stream = await passing.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 5_000 });
    stream.destroy();
  });

  test('a chain without a loop still reaches the origin through the hops', async () => {
    const last = await startHop(0, 'grpc');
    servers.push(last);
    const first = await startHop(0, 'grpc', `grpc://127.0.0.1:${last.address.port}`);
    servers.push(first);
    const tunnel = await open(`grpc://127.0.0.1:${first.address.port}`);
    const stream = await tunnel.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 5_000 });
    stream.end('GET /hello HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 200/);
  });
});
