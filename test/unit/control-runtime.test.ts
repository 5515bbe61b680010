import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { LoginLimiter, tokenFromHeader } from '../../src/control/api/auth.js';
import { countingOutbound, TrafficCounter } from '../../src/control/lifecycle/counting-outbound.js';
import { type ConsoleEvent, EventBus } from '../../src/control/lifecycle/events.js';
import { JobRunner } from '../../src/control/lifecycle/jobs.js';
import { mbps } from '../../src/control/lifecycle/speed-test.js';
import { tunnelUrl } from '../../src/control/lifecycle/tunnel-url.js';
import { renderMetrics } from '../../src/control/metrics.js';
import { DEFAULT_TUNNEL_CONFIG, type ProxyRecord, type TunnelRecord } from '../../src/control/model.js';
import { silentLogger } from '../../src/core/logger.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('JobRunner', () => {
  test('serializes jobs on one object and runs other objects concurrently', async () => {
    const events = new EventBus();
    const seen: ConsoleEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const jobs = new JobRunner(events, silentLogger);
    const order: string[] = [];
    const slow = jobs.submit('tunnel', 1, 'deploy', async ({ progress }) => {
      order.push('a-start');
      progress(50, 'half');
      await sleep(80);
      order.push('a-end');
    });
    const sameObject = jobs.submit('tunnel', 1, 'health', async () => {
      order.push('b');
    });
    const otherObject = jobs.submit('tunnel', 2, 'deploy', async () => {
      order.push('c');
    });
    await otherObject.done;
    // The other object's job finished while the slow one still runs.
    assert.deepEqual(order, ['a-start', 'c']);
    assert.equal(await slow.done, true);
    assert.equal(await sameObject.done, true);
    assert.deepEqual(order, ['a-start', 'c', 'a-end', 'b']);
    const progress = seen
      .filter((e) => e.type === 'job' && e.job_id === slow.id)
      .map((e) => e.type === 'job' && e.state);
    assert.deepEqual(progress, ['queued', 'running', 'running', 'done']);
  });

  test('a failing job reports failed with its message and does not block the next', async () => {
    const events = new EventBus();
    const seen: ConsoleEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const jobs = new JobRunner(events, silentLogger);
    const bad = jobs.submit('proxy', 1, 'start', async () => {
      throw new Error('port 127.0.0.1:1080 is already in use');
    });
    const next = jobs.submit('proxy', 1, 'stop', async () => {});
    assert.equal(await bad.done, false);
    assert.equal(await next.done, true);
    const failed = seen.find((e) => e.type === 'job' && e.state === 'failed');
    assert.ok(failed && failed.type === 'job');
    assert.match(failed.message, /already in use/);
    await jobs.idle();
  });
});

describe('helpers', () => {
  test('Mbps is bits per second over 10^6', () => {
    assert.equal(mbps(12_500_000, 1), 100);
    assert.equal(mbps(1_000_000, 2), 4);
    assert.equal(mbps(5, 0), 0);
  });

  test('bearer or raw tokens are accepted from the header', () => {
    assert.equal(tokenFromHeader('Bearer abc.def'), 'abc.def');
    assert.equal(tokenFromHeader('bearer   abc'), 'abc');
    assert.equal(tokenFromHeader('abc.def'), 'abc.def');
    assert.equal(tokenFromHeader(''), undefined);
    assert.equal(tokenFromHeader(undefined), undefined);
  });

  test('login limiter blocks after 5 failures within a minute, per address', () => {
    const limiter = new LoginLimiter(5, 60_000);
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) {
      assert.equal(limiter.retryAfter('a', t0 + i), 0);
      limiter.fail('a', t0 + i);
    }
    assert.ok(limiter.retryAfter('a', t0 + 10) > 0);
    assert.equal(limiter.retryAfter('b', t0 + 10), 0);
    assert.equal(limiter.retryAfter('a', t0 + 60_010), 0);
  });

  test('tunnel URLs follow transport, TLS and port', () => {
    const base = { config: DEFAULT_TUNNEL_CONFIG };
    assert.equal(
      tunnelUrl({ ...base, address: '127.0.0.1', port: 9000, type: 'websocket' }),
      'ws://127.0.0.1:9000',
    );
    assert.equal(
      tunnelUrl({
        config: { ...DEFAULT_TUNNEL_CONFIG, tls: true },
        address: 'x.example',
        port: 0,
        type: 'websocket',
      }),
      'wss://x.example',
    );
    assert.equal(tunnelUrl({ ...base, address: '::1', port: 8089, type: 'grpc' }), 'grpc://[::1]:8089');
  });

  test('counting outbound counts written and delivered bytes and open streams', async () => {
    const counter = new TrafficCounter();
    let written = 0;
    // Like a socket: what is written goes away, what is read comes from the other side.
    const fake = () =>
      new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          written += chunk.length;
          callback();
        },
      });
    const outbound = countingOutbound({ name: 'fake', dial: async () => fake() }, counter);
    const stream = await outbound.dial({ host: 'example.com', port: 80 });
    assert.equal(counter.active, 1);
    stream.write(Buffer.alloc(100));
    stream.push(Buffer.alloc(40));
    stream.push(Buffer.alloc(2));
    const received: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => received.push(chunk));
    await sleep(10);
    assert.equal(written, 100);
    assert.equal(counter.bytesUp, 100);
    assert.equal(counter.bytesDown, Buffer.concat(received).length);
    assert.equal(counter.bytesDown, 42);
    stream.destroy();
    await sleep(10);
    assert.equal(counter.active, 0);
  });

  test('counting outbound does not count a Transform twice', async () => {
    const counter = new TrafficCounter();
    const outbound = countingOutbound({ name: 'echo', dial: async () => new PassThrough() }, counter);
    const stream = await outbound.dial({ host: 'example.com', port: 80 });
    let echoed = 0;
    stream.on('data', (chunk: Buffer) => {
      echoed += chunk.length;
    });
    stream.write(Buffer.alloc(64));
    await sleep(10);
    assert.equal(echoed, 64);
    assert.equal(counter.bytesUp, 64);
    assert.equal(counter.bytesDown, 64);
    stream.destroy();
  });

  test('metrics are valid exposition text with escaped labels', () => {
    const proxy = { id: 1, name: 'a"b', in_bound: 10, out_bound: 20 } as ProxyRecord;
    const tunnel = { id: 2, name: 'local', status: 2, latency_ms: 5 } as TunnelRecord;
    const text = renderMetrics([proxy], [tunnel], {
      proxies: [
        {
          id: 1,
          conn: 3,
          bytes_up: 0,
          bytes_down: 0,
          rate_up: 0,
          rate_down: 0,
          latency_ms: 0,
          last_error: '',
        },
      ],
      tunnels: [],
    });
    assert.match(text, /^# HELP seamoon_proxy_up/m);
    assert.match(text, /seamoon_proxy_connections\{id="1",proxy="a\\"b"\} 3/);
    assert.match(text, /seamoon_proxy_bytes_total\{id="1",proxy="a\\"b",direction="down"\} 10/);
    assert.match(text, /seamoon_tunnel_status\{id="2",tunnel="local"\} 2/);
    for (const line of text.trim().split('\n'))
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+\{[^}]*\} \d+)$/);
  });
});
