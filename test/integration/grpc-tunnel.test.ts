import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer as createNetServer, type Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { createGrpcTunnel } from '../../src/client/tunnel/grpc.js';
import type { Tunnel } from '../../src/client/tunnel/types.js';
import { SeamoonError } from '../../src/core/errors.js';
import { uuidToBytes } from '../../src/protocol/v2ray-shared/uuid.js';
import { encodeVlessRequest, VlessCommand } from '../../src/protocol/vless/codec.js';
import { ClientCallStream } from '../../src/transport/grpc/call-stream.js';
import { TUNNEL_SERVICE } from '../../src/transport/grpc/service.js';
import { curlThrough } from '../helpers/curl.js';
import {
  makeSelfSignedCert,
  type Origin,
  patternBytes,
  sha256,
  startHttpOrigin,
  startHttpsOrigin,
  startUdpEcho,
  type TlsMaterial,
} from '../helpers/origin.js';
import {
  type RunningProcess,
  startConnect,
  startLocalServer,
  startSeamoon,
  waitForListening,
} from '../helpers/processes.js';

const TOKEN = 'grpc-integration-token';
const RAW_CLIENT = fileURLToPath(new URL('./grpc-raw-client.ts', import.meta.url));

function startGrpcServer(extra: string[] = [], port = 0): RunningProcess {
  return startSeamoon(
    [
      'server',
      '-t',
      'grpc',
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--token',
      TOKEN,
      '--allow-private',
      ...extra,
    ],
    { SEAMOON_LOG_LEVEL: 'warn' },
  );
}

/** A GET over an already-connected tunnel stream; resolves with the response body. */
function httpGet(stream: Duplex, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.once('end', () => {
      const response = Buffer.concat(parts);
      const split = response.indexOf('\r\n\r\n');
      if (!response.subarray(0, 16).toString().includes(' 200 '))
        reject(new Error(response.toString().slice(0, 80)));
      else resolve(response.subarray(split + 4));
    });
    stream.once('error', reject);
    stream.write(`GET ${path} HTTP/1.0\r\nHost: origin\r\n\r\n`);
  });
}

/** Counts TCP connections on their way to `port`, to prove that streams share one. */
async function countingForwarder(
  port: number,
): Promise<{ server: NetServer; port: number; count(): number }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    connections += 1;
    const upstream = new Socket();
    sockets.add(socket).add(upstream);
    upstream.connect(port, '127.0.0.1');
    socket.pipe(upstream).pipe(socket);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.once('error', close).once('close', close);
    upstream.once('error', close).once('close', close);
  });
  server.on('close', () => {
    for (const socket of sockets) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : 0,
    count: () => connections,
  };
}

async function eventually<T>(attempt: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

describe('gRPC transport end to end (real processes)', () => {
  let origin: Origin;
  let httpsOrigin: Origin;
  let originTls: TlsMaterial;
  let server: RunningProcess;
  let serverPort: number;
  let connect: RunningProcess;
  let proxyPort: number;
  const cleanups: Array<() => Promise<unknown>> = [];

  before(async () => {
    originTls = makeSelfSignedCert();
    origin = await startHttpOrigin();
    httpsOrigin = await startHttpsOrigin(originTls);
    server = startGrpcServer();
    serverPort = await waitForListening(server);
    ({ process: connect, port: proxyPort } = await startConnect(`grpc://127.0.0.1:${serverPort}`, TOKEN, [
      '--log-level',
      'warn',
    ]));
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await connect?.stop();
    await server?.stop();
    await origin?.close();
    await httpsOrigin?.close();
  });

  test('curl → SOCKS5 → grpc tunnel → origin', async () => {
    const body = await curlThrough(
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/hello`,
    );
    assert.equal(body.toString(), 'hello from origin');
  });

  test('curl → HTTP proxy (plain request) → grpc tunnel → origin', async () => {
    const body = await curlThrough(`http://127.0.0.1:${proxyPort}`, `http://127.0.0.1:${origin.port}/hello`);
    assert.equal(body.toString(), 'hello from origin');
  });

  test('curl → HTTPS through CONNECT → grpc tunnel → TLS origin (1 MiB, sha256)', async () => {
    const body = await curlThrough(
      `http://127.0.0.1:${proxyPort}`,
      `https://127.0.0.1:${httpsOrigin.port}/bytes?n=1048576&seed=9`,
      ['--cacert', originTls.certPath],
    );
    assert.equal(sha256(body), sha256(patternBytes(1048576, 9)));
  });

  test('a separate grpc-js client (proto-loader codecs) uses GostTunel/Tunnel, Socks5 and Health', async () => {
    // Asynchronous on purpose: the origin lives in this process and must keep serving.
    const run = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', RAW_CLIENT, String(serverPort), TOKEN, String(origin.port)],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}');
    assert.equal(report.health.status, 'OK');
    assert.match(report.health.version, /^\d+\.\d+\.\d+/);
    for (const via of [report.viaGost, report.viaSocks5]) {
      assert.equal(via.code, 0);
      assert.deepEqual(via.socksReply, [5, 0, 5, 0], 'method NO_AUTH then reply SUCCEEDED');
      assert.match(via.http, /^HTTP\/1\.1 200/);
      assert.match(via.http, /hello from origin$/);
    }
    assert.equal(report.wrongToken.code, 16, 'UNAUTHENTICATED');
    assert.deepEqual(report.wrongToken.socksReply, []);
  });

  test('100 concurrent streams share one HTTP/2 connection (sha256-checked payloads)', async () => {
    const forwarder = await countingForwarder(serverPort);
    const tunnel = createGrpcTunnel(new URL(`grpc://127.0.0.1:${forwarder.port}`), { token: TOKEN });
    cleanups.push(async () => {
      await tunnel.close();
      await new Promise((resolve) => forwarder.server.close(resolve));
    });
    const size = 96 * 1024;
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const stream = await tunnel.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 20_000 });
        return sha256(await httpGet(stream, `/bytes?n=${size}&seed=${i + 1}`));
      }),
    );
    results.forEach((digest, i) => {
      assert.equal(digest, sha256(patternBytes(size, i + 1)), `stream ${i}`);
    });
    assert.equal(forwarder.count(), 1);
  });

  test('UDP over the Socks5Udp method: datagrams keep their boundaries and source', async () => {
    const echo = await startUdpEcho();
    const tunnel = createGrpcTunnel(new URL(`grpc://127.0.0.1:${serverPort}`), { token: TOKEN });
    cleanups.push(
      () => echo.close(),
      () => tunnel.close(),
    );
    assert.ok(tunnel.openUdp);
    const session = await tunnel.openUdp();
    const replies: string[] = [];
    const done = new Promise<void>((resolve) =>
      session.onMessage((source, payload) => {
        assert.equal(source.port, echo.port);
        replies.push(payload.toString());
        if (replies.length === 3) resolve();
      }),
    );
    for (const text of ['one', 'two', 'three'])
      session.send({ host: '127.0.0.1', port: echo.port }, Buffer.from(text));
    await done;
    assert.deepEqual(replies.sort(), ['echo:one', 'echo:three', 'echo:two']);
    session.close();
  });

  test('Health through the tunnel API; wrong token is AUTH_FAILED', async () => {
    const good = createGrpcTunnel(new URL(`grpc://127.0.0.1:${serverPort}`), { token: TOKEN });
    const bad = createGrpcTunnel(new URL(`grpc://127.0.0.1:${serverPort}`), { token: 'nope' });
    cleanups.push(
      () => good.close(),
      () => bad.close(),
    );
    const health = await good.health({ timeoutMs: 5_000 });
    assert.equal(health.ok, true, health.error);
    assert.match(health.startedAt ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await assert.rejects(
      bad.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 5_000 }),
      (err: unknown) => err instanceof SeamoonError && err.code === 'AUTH_FAILED',
    );
  });

  test('the egress guard still applies over gRPC (SOCKS reply becomes the error code)', async () => {
    const guarded = startLocalServer(['-t', 'grpc', '--token', TOKEN]);
    cleanups.push(() => guarded.stop());
    const port = await waitForListening(guarded);
    const tunnel = createGrpcTunnel(new URL(`grpc://127.0.0.1:${port}`), { token: TOKEN });
    cleanups.push(() => tunnel.close());
    await assert.rejects(
      tunnel.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 5_000 }),
      (err: unknown) => err instanceof SeamoonError && err.code === 'EGRESS_DENIED',
    );
  });

  test('V2rayVless carries VLESS (self-authenticating: no token) when SM_UID is set', async () => {
    const uuid = randomUUID();
    const vlessServer = startLocalServer(['-t', 'grpc', '--token', TOKEN, '--allow-private'], {
      SM_UID: uuid,
      SEAMOON_LOG_LEVEL: 'warn',
    });
    cleanups.push(() => vlessServer.stop());
    const port = await waitForListening(vlessServer);
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    cleanups.push(async () => client.close());
    const method = TUNNEL_SERVICE.V2rayVless;
    const stream = new ClientCallStream(
      client.makeBidiStreamRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        new Metadata(),
      ),
      (err) => err,
    );
    const request = encodeVlessRequest(uuidToBytes(uuid), VlessCommand.tcp, {
      host: '127.0.0.1',
      port: origin.port,
    });
    stream.write(request);
    // The VLESS response header (version 0, no addons) precedes the origin's 200 answer.
    const reply = await httpGet(stream, '/hello');
    assert.equal(reply.toString('latin1'), 'hello from origin');
  });

  test('grpc:// client against a WebSocket server says so', async () => {
    const ws = startLocalServer(['--token', TOKEN]);
    cleanups.push(() => ws.stop());
    const port = await waitForListening(ws);
    const tunnel = createGrpcTunnel(new URL(`grpc://127.0.0.1:${port}`), { token: TOKEN });
    cleanups.push(() => tunnel.close());
    await assert.rejects(
      tunnel.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 5_000 }),
      (err: unknown) =>
        err instanceof SeamoonError &&
        err.code === 'TUNNEL_UNAVAILABLE' &&
        /does not speak gRPC.*websocket server/.test(err.message),
    );
  });

  test('server restart: clear TUNNEL_UNAVAILABLE while down, then new connections work', async () => {
    const first = startGrpcServer();
    const port = await waitForListening(first);
    const tunnel = createGrpcTunnel(new URL(`grpc://127.0.0.1:${port}`), { token: TOKEN });
    cleanups.push(() => tunnel.close());
    const target = { host: '127.0.0.1', port: origin.port };
    assert.equal((await httpGet(await tunnel.dial(target), '/hello')).toString(), 'hello from origin');

    await first.stop();
    const started = Date.now();
    await assert.rejects(
      tunnel.dial(target, { timeoutMs: 5_000 }),
      (err: unknown) => err instanceof SeamoonError && err.code === 'TUNNEL_UNAVAILABLE',
    );
    assert.ok(Date.now() - started < 5_000, 'a dead server fails fast, not at the dial timeout');

    const second = startGrpcServer([], port);
    cleanups.push(() => second.stop());
    await waitForListening(second);
    const body = await eventually(async () => httpGet(await tunnel.dial(target), '/hello'), 10_000);
    assert.equal(body.toString(), 'hello from origin');
  });
});

describe('grpcs:// with the server terminating TLS', () => {
  let tlsMaterial: TlsMaterial;
  let otherCa: TlsMaterial;
  let origin: Origin;
  let server: RunningProcess;
  let port: number;
  let connect: RunningProcess | undefined;
  const tunnels: Tunnel[] = [];

  before(async () => {
    tlsMaterial = makeSelfSignedCert();
    otherCa = makeSelfSignedCert('someone-else');
    origin = await startHttpOrigin();
    server = startGrpcServer(['--tls-cert', tlsMaterial.certPath, '--tls-key', tlsMaterial.keyPath]);
    port = await waitForListening(server);
  });

  after(async () => {
    for (const tunnel of tunnels) await tunnel.close();
    await connect?.stop();
    await server?.stop();
    await origin?.close();
  });

  const tunnelWith = (options: { ca?: Buffer[]; insecure?: boolean }) => {
    const tunnel = createGrpcTunnel(new URL(`grpcs://127.0.0.1:${port}`), { token: TOKEN, ...options });
    tunnels.push(tunnel);
    return tunnel;
  };

  test('curl → seamoon connect --ca → grpcs → origin', async () => {
    const started = await startConnect(`grpcs://127.0.0.1:${port}`, TOKEN, [
      '--ca',
      tlsMaterial.certPath,
      '--log-level',
      'warn',
    ]);
    connect = started.process;
    const proxyPort = started.port;
    const body = await curlThrough(
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/hello`,
    );
    assert.equal(body.toString(), 'hello from origin');
  });

  test('verification is on by default: unknown and wrong CAs are rejected, --insecure accepted', async () => {
    const target = { host: '127.0.0.1', port: origin.port };
    for (const tunnel of [tunnelWith({}), tunnelWith({ ca: [otherCa.cert] })]) {
      await assert.rejects(
        tunnel.dial(target, { timeoutMs: 5_000 }),
        (err: unknown) => err instanceof SeamoonError && err.code === 'TUNNEL_UNAVAILABLE',
      );
    }
    const insecure = tunnelWith({ insecure: true });
    assert.equal((await httpGet(await insecure.dial(target), '/hello')).toString(), 'hello from origin');
    const trusted = tunnelWith({ ca: [tlsMaterial.cert] });
    assert.equal((await trusted.health()).ok, true);
  });

  test('grpcs:// against a wss:// (HTTP/1.1-only TLS) server says so', async () => {
    const wss = startLocalServer([
      '--token',
      TOKEN,
      '--tls-cert',
      tlsMaterial.certPath,
      '--tls-key',
      tlsMaterial.keyPath,
    ]);
    try {
      const wssPort = await waitForListening(wss);
      const tunnel = createGrpcTunnel(new URL(`grpcs://127.0.0.1:${wssPort}`), {
        token: TOKEN,
        ca: [tlsMaterial.cert],
      });
      tunnels.push(tunnel);
      await assert.rejects(
        tunnel.dial({ host: '127.0.0.1', port: origin.port }, { timeoutMs: 5_000 }),
        (err: unknown) =>
          err instanceof SeamoonError &&
          err.code === 'TUNNEL_UNAVAILABLE' &&
          /does not speak gRPC.*websocket server/.test(err.message),
      );
    } finally {
      await wss.stop();
    }
  });

  test('grpc:// (cleartext) against the TLS port is explained', async () => {
    const tunnel = createGrpcTunnel(new URL(`grpc://127.0.0.1:${port}`), { token: TOKEN });
    tunnels.push(tunnel);
    const health = await tunnel.health({ timeoutMs: 5_000 });
    assert.equal(health.ok, false);
    assert.match(health.error ?? '', /expects TLS/);
  });
});
