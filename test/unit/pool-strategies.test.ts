import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { FailureTracker } from '../../src/client/pool/failure-tracker.js';
import {
  type Candidate,
  createStrategy,
  LeastLatencyStrategy,
  RoundRobinStrategy,
  StickyStrategy,
  siteOf,
} from '../../src/client/pool/strategies.js';
import { TunnelPool } from '../../src/client/pool/tunnel-pool.js';
import type { Tunnel, TunnelHealth } from '../../src/client/tunnel/types.js';
import { type ErrorCode, SeamoonError } from '../../src/core/errors.js';

const target = (host: string) => ({ host, port: 443 });
const three: Candidate[] = [0, 1, 2].map((index) => ({ index, active: 0 }));

describe('strategies', () => {
  test('round-robin walks the pool order and skips tunnels out of rotation', () => {
    const rr = new RoundRobinStrategy();
    assert.deepEqual(
      [1, 2, 3, 4].map(() => rr.pick(three).index),
      [0, 1, 2, 0],
    );
    const withoutOne = three.filter((c) => c.index !== 1);
    assert.deepEqual(
      [1, 2, 3].map(() => rr.pick(withoutOne).index),
      [2, 0, 2],
    );
  });

  test('random only returns candidates and reaches all of them', () => {
    const random = createStrategy('random');
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(random.pick(three, target('a')).index);
    assert.deepEqual([...seen].sort(), [0, 1, 2]);
  });

  test('sticky keeps a site on one tunnel for the TTL, then may move it', () => {
    let now = 1_000;
    const sticky = new StickyStrategy({ ttlMs: 60_000, now: () => now });
    const first = sticky.pick(three, target('www.example.com')).index;
    for (let i = 0; i < 20; i++) {
      // Other sites in between rotate the spread, the sticky site does not move.
      sticky.pick(three, target(`site${i}.test`));
      assert.equal(sticky.pick(three, target('login.example.com')).index, first);
      now += 1_000;
    }
    // Its tunnel leaves the rotation: the site moves, and stays on the new one.
    const others = three.filter((c) => c.index !== first);
    const moved = sticky.pick(others, target('example.com')).index;
    assert.notEqual(moved, first);
    assert.equal(sticky.pick(three, target('example.com')).index, moved);
    // After the TTL without traffic the entry is gone (spread decides again).
    now += 61_000;
    const sites = new Set([0, 1, 2, 3].map(() => sticky.pick(three, target(`x${Math.random()}.test`)).index));
    assert.ok(sites.size > 1);
  });

  test('siteOf groups subdomains and keeps IPs whole', () => {
    assert.equal(siteOf('a.b.example.com'), 'example.com');
    assert.equal(siteOf('www.bbc.co.uk'), 'bbc.co.uk');
    assert.equal(siteOf('Example.COM.'), 'example.com');
    assert.equal(siteOf('10.1.2.3'), '10.1.2.3');
    assert.equal(siteOf('::1'), '::1');
  });

  test('least-latency prefers the fastest, shares among near-equals by load', () => {
    const ll = new LeastLatencyStrategy({ toleranceMs: 10 });
    const measured: Candidate[] = [
      { index: 0, latencyMs: 120, active: 0 },
      { index: 1, latencyMs: 30, active: 5 },
      { index: 2, latencyMs: 35, active: 1 },
    ];
    assert.equal(ll.pick(measured).index, 2);
    measured[2].active = 9;
    assert.equal(ll.pick(measured).index, 1);
    assert.equal(ll.pick([{ index: 4, active: 0 }, measured[0]]).index, 0, 'unmeasured come last');
  });

  test('unknown strategy names are refused', () => {
    assert.throws(() => createStrategy('fastest'), /unknown strategy/);
  });
});

describe('failure tracker (maxFails / failTimeout)', () => {
  test('out after maxFails, back after failTimeout, cleared by success', () => {
    let now = 0;
    const tracker = new FailureTracker({ maxFails: 2, failTimeoutMs: 10_000, now: () => now });
    tracker.recordFailure();
    assert.equal(tracker.isFailed(), false);
    tracker.recordFailure();
    assert.equal(tracker.isFailed(), true);
    now += 9_999;
    assert.equal(tracker.isFailed(), true);
    now += 2;
    assert.equal(tracker.isFailed(), false, 'one more chance after failTimeout');
    tracker.recordFailure();
    assert.equal(tracker.isFailed(), true, 'and out again on the next failure');
    tracker.recordSuccess();
    assert.equal(tracker.isFailed(), false);
  });
});

/** A tunnel whose behaviour each test scripts. */
function fakeTunnel(
  name: string,
  behaviour: { fail?: ErrorCode; healthy?: boolean; latencyMs?: number },
): Tunnel & { dials: string[] } {
  const dials: string[] = [];
  return {
    name,
    displayUrl: `ws://${name}`,
    dials,
    async dial(t) {
      dials.push(t.host);
      if (behaviour.fail) throw new SeamoonError(behaviour.fail, `${name} failed`);
      const stream = new PassThrough();
      return stream;
    },
    async health(): Promise<TunnelHealth> {
      return { ok: behaviour.healthy ?? true, latencyMs: behaviour.latencyMs ?? 10, error: 'down' };
    },
    async close() {},
  };
}

describe('tunnel pool', () => {
  test('a tunnel failure is retried on the next tunnel and counted', async () => {
    const dead = fakeTunnel('dead', { fail: 'TUNNEL_UNAVAILABLE' });
    const live = fakeTunnel('live', {});
    const pool = new TunnelPool([dead, live], { healthIntervalMs: 0 });
    const stream = await pool.dial(target('a.test'));
    stream.destroy();
    assert.deepEqual(dead.dials, ['a.test']);
    assert.deepEqual(live.dials, ['a.test']);
    const [deadStats, liveStats] = pool.stats();
    assert.equal(deadStats.failing, true);
    assert.equal(deadStats.failures, 1);
    assert.equal(liveStats.total, 1);
    // While failing, the dead tunnel is not even tried.
    (await pool.dial(target('b.test'))).destroy();
    (await pool.dial(target('c.test'))).destroy();
    assert.deepEqual(dead.dials, ['a.test']);
    await pool.close();
  });

  test('a target error is not retried elsewhere', async () => {
    const a = fakeTunnel('a', { fail: 'CONNECTION_REFUSED' });
    const b = fakeTunnel('b', {});
    const pool = new TunnelPool([a, b], { healthIntervalMs: 0 });
    await assert.rejects(pool.dial(target('x.test')), (e: SeamoonError) => e.code === 'CONNECTION_REFUSED');
    assert.equal(b.dials.length, 0);
    assert.equal(pool.stats()[0].failing, false);
    await pool.close();
  });

  test('all tunnels down: the last tunnel error reaches the app', async () => {
    const pool = new TunnelPool(
      [fakeTunnel('a', { fail: 'TUNNEL_UNAVAILABLE' }), fakeTunnel('b', { fail: 'AUTH_FAILED' })],
      { healthIntervalMs: 0 },
    );
    await assert.rejects(pool.dial(target('x.test')), (e: SeamoonError) => e.code === 'AUTH_FAILED');
    await pool.close();
  });

  test('unhealthy tunnels leave the rotation and come back', async () => {
    const flaky = { healthy: false };
    const a = fakeTunnel('a', flaky);
    const b = fakeTunnel('b', {});
    const pool = new TunnelPool([a, b], { healthIntervalMs: 0 });
    await pool.checkHealth();
    for (let i = 0; i < 4; i++) (await pool.dial(target(`h${i}.test`))).destroy();
    assert.equal(a.dials.length, 0);
    flaky.healthy = true;
    await pool.checkHealth();
    for (let i = 0; i < 4; i++) (await pool.dial(target(`k${i}.test`))).destroy();
    assert.equal(a.dials.length, 2);
    assert.equal(pool.stats()[0].healthy, true);
    await pool.close();
  });

  test('bytes and active connections are counted per tunnel', async () => {
    const pool = new TunnelPool([fakeTunnel('a', {})], { healthIntervalMs: 0 });
    const stream = await pool.dial(target('a.test'));
    stream.write(Buffer.alloc(1000));
    const echoed = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
    assert.equal(echoed.length, 1000);
    assert.deepEqual(
      (({ active, total, bytesUp, bytesDown }) => ({ active, total, bytesUp, bytesDown }))(pool.stats()[0]),
      { active: 1, total: 1, bytesUp: 1000, bytesDown: 1000 },
    );
    stream.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(pool.stats()[0].active, 0);
    await pool.close();
  });

  test('connection rotation pins one app connection to a tunnel; request rotation does not', async () => {
    const a = fakeTunnel('a', {});
    const b = fakeTunnel('b', {});
    const pinned = new TunnelPool([a, b], { healthIntervalMs: 0 }).forConnection();
    for (let i = 0; i < 4; i++) (await pinned.dial(target(`r${i}.test`))).destroy();
    assert.deepEqual([a.dials.length, b.dials.length], [4, 0]);
    const c = fakeTunnel('c', {});
    const d = fakeTunnel('d', {});
    const free = new TunnelPool([c, d], { healthIntervalMs: 0, rotation: 'request' }).forConnection();
    for (let i = 0; i < 4; i++) (await free.dial(target(`r${i}.test`))).destroy();
    assert.deepEqual([c.dials.length, d.dials.length], [2, 2]);
  });
});
