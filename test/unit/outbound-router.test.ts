import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { Target } from '../../src/core/address.js';
import { SeamoonError } from '../../src/core/errors.js';
import { normalizeCascadeUrl } from '../../src/outbound/cascade.js';
import { deferredUdpSession } from '../../src/outbound/deferred-udp.js';
import { createRouterOutbound } from '../../src/outbound/router.js';
import { createTorOutbound, isOnionHost } from '../../src/outbound/tor.js';
import type { DialOptions, Outbound, UdpSession } from '../../src/outbound/types.js';

interface Recorded {
  outbound: Outbound;
  calls: { target: Target; options: DialOptions }[];
}

function recorder(name: string, withUdp = false): Recorded {
  const calls: Recorded['calls'] = [];
  const outbound: Outbound = {
    name,
    async dial(target, options = {}) {
      calls.push({ target, options });
      return new PassThrough();
    },
  };
  if (withUdp) outbound.openUdp = async () => fakeUdp().session;
  return { outbound, calls };
}

function fakeUdp() {
  const sent: string[] = [];
  const messageListeners: ((source: Target, payload: Buffer) => void)[] = [];
  const closeListeners: ((err?: Error) => void)[] = [];
  let closed = false;
  const session: UdpSession = {
    send: (target, payload) => sent.push(`${target.host}:${target.port}:${payload.toString()}`),
    onMessage: (listener) => messageListeners.push(listener),
    onClose: (listener) => closeListeners.push(listener),
    close: () => {
      closed = true;
    },
  };
  return {
    session,
    sent,
    deliver: (source: Target, payload: Buffer) => {
      for (const l of messageListeners) l(source, payload);
    },
    end: (err?: Error) => {
      for (const l of closeListeners) l(err);
    },
    isClosed: () => closed,
  };
}

const origin = { host: 'example.com', port: 443 };
const onion = { host: 'duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion', port: 80 };

describe('outbound router', () => {
  test('.onion names are recognised (case, trailing dot) and nothing else is', () => {
    assert.equal(isOnionHost(onion.host), true);
    assert.equal(isOnionHost('ABC.ONION'), true);
    assert.equal(isOnionHost('abc.onion.'), true);
    assert.equal(isOnionHost('onion.example.com'), false);
    assert.equal(isOnionHost('example.onionx'), false);
    assert.equal(isOnionHost('127.0.0.1'), false);
  });

  test('with Tor: onion streams and .onion targets go to Tor, the rest direct, without the flag', async () => {
    const direct = recorder('direct');
    const tor = recorder('tor');
    const router = createRouterOutbound({ direct: direct.outbound, tor: tor.outbound });
    await router.dial(origin, { timeoutMs: 5 });
    await router.dial(origin, { onion: true, timeoutMs: 6 });
    await router.dial(onion, {});
    assert.deepEqual(
      direct.calls.map((c) => c.target),
      [origin],
    );
    assert.deepEqual(
      tor.calls.map((c) => c.target),
      [origin, onion],
    );
    assert.equal(tor.calls[0]!.options.timeoutMs, 6, 'other dial options pass through');
    for (const call of [...direct.calls, ...tor.calls]) assert.equal(call.options.onion, undefined);
  });

  test('cascade without Tor: everything goes to the next hop, onion streams keep the flag', async () => {
    const direct = recorder('direct');
    const cascade = recorder('cascade');
    const router = createRouterOutbound({ direct: direct.outbound, cascade: cascade.outbound });
    await router.dial(origin, {});
    await router.dial(onion, {});
    await router.dial(origin, { onion: true });
    assert.equal(direct.calls.length, 0);
    assert.deepEqual(
      cascade.calls.map((c) => [c.target.host, c.options.onion]),
      [
        [origin.host, undefined],
        [onion.host, true],
        [origin.host, true],
      ],
    );
  });

  test('local Tor wins over the cascade for onion streams', async () => {
    const cascade = recorder('cascade');
    const tor = recorder('tor');
    const router = createRouterOutbound({
      direct: recorder('direct').outbound,
      tor: tor.outbound,
      cascade: cascade.outbound,
    });
    await router.dial(onion, {});
    await router.dial(origin, {});
    assert.deepEqual(
      tor.calls.map((c) => c.target),
      [onion],
    );
    assert.deepEqual(
      cascade.calls.map((c) => c.target),
      [origin],
    );
  });

  test('without Tor or cascade: clear refusals instead of a DNS lookup of .onion', async () => {
    const direct = recorder('direct');
    const router = createRouterOutbound({ direct: direct.outbound });
    await assert.rejects(
      router.dial(onion),
      (err: unknown) => err instanceof SeamoonError && err.code === 'HOST_UNREACHABLE',
    );
    await assert.rejects(
      router.dial(origin, { onion: true }),
      (err: unknown) => err instanceof SeamoonError && err.code === 'UNSUPPORTED_COMMAND',
    );
    assert.equal(direct.calls.length, 0);
  });

  test('UDP is offered exactly when the plain path has it', () => {
    assert.equal(createRouterOutbound({ direct: recorder('d').outbound }).openUdp, undefined);
    assert.equal(typeof createRouterOutbound({ direct: recorder('d', true).outbound }).openUdp, 'function');
    const viaCascade = createRouterOutbound({
      direct: recorder('d', true).outbound,
      cascade: recorder('c').outbound,
    });
    assert.equal(viaCascade.openUdp, undefined, 'a cascade without UDP does not fall back to direct');
  });
});

describe('cascade helpers', () => {
  test('https:// and http:// addresses become wss:// and ws://, others are kept', () => {
    assert.equal(normalizeCascadeUrl('https://abc.example/'), 'wss://abc.example/');
    assert.equal(normalizeCascadeUrl(' HTTP://abc.example:9000 '), 'ws://abc.example:9000');
    assert.equal(normalizeCascadeUrl('grpcs://abc.example:443'), 'grpcs://abc.example:443');
    assert.equal(normalizeCascadeUrl('wss://abc.example/prefix'), 'wss://abc.example/prefix');
  });
});

describe('deferred UDP session', () => {
  test('queues datagrams until the real session is open, then relays both ways', async () => {
    const inner = fakeUdp();
    let open!: (session: UdpSession) => void;
    const session = deferredUdpSession(new Promise<UdpSession>((resolve) => (open = resolve)));
    const received: string[] = [];
    session.onMessage((source, payload) => received.push(`${source.port}:${payload.toString()}`));
    session.send({ host: '127.0.0.1', port: 7 }, Buffer.from('early'));
    assert.deepEqual(inner.sent, []);
    open(inner.session);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(inner.sent, ['127.0.0.1:7:early']);
    session.send({ host: '127.0.0.1', port: 7 }, Buffer.from('later'));
    assert.deepEqual(inner.sent, ['127.0.0.1:7:early', '127.0.0.1:7:later']);
    inner.deliver({ host: '127.0.0.1', port: 7 }, Buffer.from('echo'));
    assert.deepEqual(received, ['7:echo']);
    let closedWith: Error | undefined | null = null;
    session.onClose((err) => {
      closedWith = err;
    });
    inner.end(new Error('gone'));
    assert.equal((closedWith as Error | null)?.message, 'gone');
  });

  test('closes when the real session cannot be opened, and closing early closes the late session', async () => {
    const failed = deferredUdpSession(Promise.reject(new SeamoonError('TUNNEL_UNAVAILABLE', 'down')));
    const closedWith = await new Promise<Error | undefined>((resolve) => failed.onClose(resolve));
    assert.match(String(closedWith), /down/);

    const inner = fakeUdp();
    let open!: (session: UdpSession) => void;
    const early = deferredUdpSession(new Promise<UdpSession>((resolve) => (open = resolve)));
    early.close();
    open(inner.session);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(inner.isClosed(), true);
  });
});

/** A one-shot SOCKS5 server: answers CONNECT with `reply`, then echoes what follows. */
async function socksStandIn(
  reply: number,
): Promise<{ port: number; requests: Buffer[]; close(): Promise<void> }> {
  const requests: Buffer[] = [];
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {});
    let stage = 0;
    socket.on('data', (chunk: Buffer) => {
      if (stage === 0) {
        socket.write(Buffer.from([5, 0]));
        stage = 1;
      } else if (stage === 1) {
        requests.push(chunk);
        socket.write(Buffer.from([5, reply, 0, 1, 127, 0, 0, 1, 0, 80]));
        if (reply !== 0) socket.end();
        stage = 2;
      } else {
        socket.write(chunk);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
      }),
  };
}

describe('tor outbound', () => {
  test('CONNECTs by name through the SOCKS port and delivers the first bytes', async () => {
    const standIn = await socksStandIn(0);
    try {
      const tor = createTorOutbound({ socks: { host: '127.0.0.1', port: standIn.port } });
      const stream = await tor.dial(onion, { timeoutMs: 2000, firstBytes: Buffer.from('ping') });
      const echoed = await new Promise<string>((resolve) =>
        stream.once('data', (d: Buffer) => resolve(d.toString())),
      );
      stream.destroy();
      assert.equal(echoed, 'ping');
      const request = standIn.requests[0]!;
      assert.equal(request[3], 3, 'the name is sent to Tor unresolved (ATYP 3)');
      assert.equal(request.subarray(5, 5 + request[4]!).toString(), onion.host);
    } finally {
      await standIn.close();
    }
  });

  test("Tor's failure reply becomes the matching error code", async () => {
    const standIn = await socksStandIn(0x04);
    try {
      const tor = createTorOutbound({ socks: { host: '127.0.0.1', port: standIn.port } });
      await assert.rejects(
        tor.dial(onion, { timeoutMs: 2000 }),
        (err: unknown) => err instanceof SeamoonError && err.code === 'HOST_UNREACHABLE',
      );
    } finally {
      await standIn.close();
    }
  });

  test('a Tor port that is not listening is TUNNEL_UNAVAILABLE, not a refusal by the target', async () => {
    const standIn = await socksStandIn(0);
    const { port } = standIn;
    await standIn.close();
    const tor = createTorOutbound({ socks: { host: '127.0.0.1', port } });
    await assert.rejects(
      tor.dial(origin, { timeoutMs: 2000 }),
      (err: unknown) => err instanceof SeamoonError && err.code === 'TUNNEL_UNAVAILABLE',
    );
  });
});
