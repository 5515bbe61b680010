import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Target } from '../../src/core/address.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Outbound, UdpOptions, UdpSession } from '../../src/outbound/types.js';
import { encodeUdpFrame } from '../../src/protocol/socks5-codec.js';
import { DEFAULT_TIMEOUTS, type Timeouts } from '../../src/protocol/types.js';
import { buildRouteTable } from '../../src/server/builtin-routes.js';
import type { MessageChannel, MessageRoute, TunnelRequest } from '../../src/server/routes.js';

/**
 * An outbound whose UDP session records what was sent and echoes it back from the target;
 * `openUdp` resolves only once `opening` has (a next hop still handshaking).
 */
function echoingOutbound(opening: Promise<void> = Promise.resolve()) {
  const sent: Array<{ target: Target; payload: string }> = [];
  const udpOptions: Array<UdpOptions | undefined> = [];
  let closed = false;
  const outbound: Outbound = {
    name: 'fake',
    dial: () => Promise.reject(new Error('no TCP here')),
    async openUdp(options) {
      udpOptions.push(options);
      await opening;
      let onMessage: (source: Target, payload: Buffer) => void = () => {};
      const closeListeners: Array<() => void> = [];
      const session: UdpSession = {
        send(target, payload) {
          sent.push({ target, payload: payload.toString() });
          queueMicrotask(() => onMessage(target, Buffer.from(`echo:${payload}`)));
        },
        onMessage(listener) {
          onMessage = listener;
        },
        onClose(listener) {
          closeListeners.push(listener);
        },
        close() {
          closed = true;
          for (const listener of closeListeners) listener();
        },
      };
      return session;
    },
  };
  return { outbound, sent, udpOptions, isClosed: () => closed };
}

function fakeChannel() {
  const out: Buffer[] = [];
  let onMessage: (message: Buffer) => void = () => {};
  const closeListeners: Array<() => void> = [];
  const channel: MessageChannel = {
    send: (message) => out.push(message),
    onMessage: (listener) => {
      onMessage = listener;
    },
    onClose: (listener) => closeListeners.push(listener),
    close: () => {
      for (const listener of closeListeners.splice(0)) listener();
    },
  };
  return { channel, out, deliver: (message: Buffer) => onMessage(message) };
}

const request: TunnelRequest = {
  transport: 'ws',
  headers: {},
  remoteAddress: '127.0.0.1',
  log: silentLogger,
};
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** The `/socks5-udp` route of a table built around `outbound`. */
async function socks5UdpRoute(
  outbound: Outbound,
  timeouts: Timeouts = DEFAULT_TIMEOUTS,
): Promise<MessageRoute> {
  const table = await buildRouteTable({ outbound, timeouts, log: silentLogger, env: {} });
  const route = table.get('socks5-udp');
  if (route?.kind !== 'message') throw new Error('socks5-udp is not a message route');
  return route;
}

describe('built-in routes', () => {
  test('the table holds the original routes', async () => {
    const { outbound } = echoingOutbound();
    const table = await buildRouteTable({ outbound, timeouts: DEFAULT_TIMEOUTS, log: silentLogger, env: {} });
    for (const name of ['http', 'socks5', 'auto', 'socks5-udp']) assert.ok(table.get(name), name);
    assert.equal(table.get('socks5-udp')?.kind, 'message');
    assert.equal(table.get('socks5')?.auth, 'token');
  });

  test('/socks5-udp: RSV 0 and length-prefixed frames, several per message; replies length-prefixed', async () => {
    const fake = echoingOutbound();
    const route = await socks5UdpRoute(fake.outbound);
    const { channel, out, deliver } = fakeChannel();
    const done = route.handle(channel, request);
    await tick();
    const a = { host: '127.0.0.1', port: 5353 };
    const b = { host: 'example.test', port: 53 };
    deliver(encodeUdpFrame({ target: a, payload: Buffer.from('one') }));
    deliver(
      Buffer.concat([
        encodeUdpFrame({ target: a, payload: Buffer.from('two') }, true),
        encodeUdpFrame({ target: b, payload: Buffer.from('three') }, true),
      ]),
    );
    deliver(encodeUdpFrame({ target: a, payload: Buffer.from('fragment'), frag: 1 }));
    deliver(Buffer.from([0, 0, 0, 9, 1, 2, 3])); // unknown address type: dropped, session kept
    await tick();
    assert.deepEqual(
      fake.sent.map((s) => s.payload),
      ['one', 'two', 'three'],
    );
    assert.deepEqual(fake.sent[2]?.target, b);
    assert.deepEqual(out, [
      encodeUdpFrame({ target: a, payload: Buffer.from('echo:one') }, true),
      encodeUdpFrame({ target: a, payload: Buffer.from('echo:two') }, true),
      encodeUdpFrame({ target: b, payload: Buffer.from('echo:three') }, true),
    ]);
    channel.close();
    await done;
    assert.equal(fake.isClosed(), true);
  });

  test('/socks5-udp keeps the datagrams that arrive while the UDP session is still opening', async () => {
    let open!: () => void;
    const fake = echoingOutbound(new Promise<void>((resolve) => (open = resolve)));
    const route = await socks5UdpRoute(fake.outbound);
    const { channel, out, deliver } = fakeChannel();
    const done = route.handle(channel, request);
    const target = { host: '127.0.0.1', port: 5353 };
    for (const payload of ['first', 'second', 'third']) {
      deliver(encodeUdpFrame({ target, payload: Buffer.from(payload) }));
    }
    open();
    await tick();
    assert.deepEqual(
      fake.sent.map((s) => s.payload),
      ['first', 'second', 'third'],
    );
    assert.equal(out.length, 3);
    channel.close();
    await done;
    assert.equal(fake.isClosed(), true);
  });

  test('/socks5-udp hands the hops a cascaded stream came through to the outbound', async () => {
    const fake = echoingOutbound();
    const route = await socks5UdpRoute(fake.outbound);
    const { channel } = fakeChannel();
    const done = route.handle(channel, { ...request, headers: { 'sm-hops': 'aa11, bb22' } });
    await tick();
    channel.close();
    await done;
    assert.deepEqual(fake.udpOptions, [{ hops: ['aa11', 'bb22'] }]);
  });

  test('/socks5-udp closes an idle session', async () => {
    const fake = echoingOutbound();
    const timeouts = { ...DEFAULT_TIMEOUTS, idleMs: 100 };
    const route = await socks5UdpRoute(fake.outbound, timeouts);
    const { channel } = fakeChannel();
    const started = Date.now();
    // The route's idle timer does not hold the process open; this keeps the test's loop alive.
    const keepAlive = setTimeout(() => {}, 5_000);
    await route.handle(channel, request);
    clearTimeout(keepAlive);
    assert.ok(Date.now() - started >= 90);
    assert.equal(fake.isClosed(), true);
  });
});
