import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { SocksClient } from 'socks';
import { createWebSocketStream, WebSocket } from 'ws';
import { curl } from '../helpers/curl.js';
import {
  type Origin,
  patternBytes,
  sha256,
  startHttpOrigin,
  startUdpEcho,
  type UdpEcho,
} from '../helpers/origin.js';
import { type RunningProcess, startSeamoon, waitForListening } from '../helpers/processes.js';

/**
 * A chain of three tunnel servers: curl → seamoon connect → s1 →(ws) s2 →(grpc) s3 → origin. Each hop has
 * its own token and terminates the protocol itself; only s3 allows private targets, so reaching
 * the loopback origin at all proves the traffic left through the last hop and that the earlier
 * hops' egress guards did not apply.
 */

const TOKENS = { s1: 'hop-one-token', s2: 'hop-two-token', s3: 'hop-three-token' };
const hasMicrosocks = spawnSync('which', ['microsocks']).status === 0;

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function server(token: string, extra: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  return startSeamoon(
    ['server', '-a', '127.0.0.1', '-p', '0', '--token', token, '--log-level', 'warn', ...extra],
    env,
  );
}

/** First `n` bytes of a stream, then pauses. */
function readSome(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error(`no ${n} bytes within 15 s`)), 15_000);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= n) {
        clearTimeout(timer);
        stream.off('data', onData);
        stream.pause();
        resolve(got);
      }
    };
    stream.on('data', onData);
    stream.once('close', () => reject(new Error(`closed after ${got.length} bytes`)));
  });
}

/** A SOCKS5 CONNECT sent straight to a server's `/socks5` route; resolves with the reply code. */
async function socksReply(
  port: number,
  token: string,
  target: { ip: string; port: number },
  onion = false,
): Promise<{ reply: number; stream: Duplex }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (onion) headers['sm-onion'] = 'enable';
  const socket = new WebSocket(`ws://127.0.0.1:${port}/socks5`, { headers });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const stream = createWebSocketStream(socket);
  stream.on('error', () => {});
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(target.port);
  stream.write(
    Buffer.concat([
      Buffer.from([5, 1, 0]),
      Buffer.from([5, 1, 0, 1]),
      Buffer.from(target.ip.split('.').map(Number)),
      portBytes,
    ]),
  );
  const reply = await readSome(stream, 12);
  return { reply: reply[3]!, stream };
}

describe('cascade: curl → connect → s1 → s2 → s3 → origin', () => {
  let origin: Origin;
  let udpEcho: UdpEcho;
  let microsocks: ChildProcess | undefined;
  let microsocksLog = '';
  const servers: RunningProcess[] = [];
  let client: RunningProcess;
  let s1Port: number;
  let proxyPort: number;

  before(async () => {
    origin = await startHttpOrigin();
    udpEcho = await startUdpEcho();
    const torArgs: string[] = [];
    if (hasMicrosocks) {
      // s3 is the only hop with a "Tor" port, to check that SM-ONION travels along the chain.
      const socksPort = await freePort();
      microsocks = spawn('microsocks', ['-i', '127.0.0.1', '-p', String(socksPort)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const collect = (chunk: Buffer) => {
        microsocksLog += chunk.toString();
      };
      microsocks.stdout?.on('data', collect);
      microsocks.stderr?.on('data', collect);
      torArgs.push('--tor-socks', `127.0.0.1:${socksPort}`);
    }
    // The last link is gRPC, the others WebSocket: any tunnel URL can be the next hop.
    const s3 = server(TOKENS.s3, ['-t', 'grpc', '--allow-private', ...torArgs]);
    servers.push(s3);
    const s3Port = await waitForListening(s3);
    // s2 is configured by flags, s1 by the environment the container would get.
    const s2 = server(TOKENS.s2, ['--cascade', `grpc://127.0.0.1:${s3Port}`, '--cascade-token', TOKENS.s3]);
    servers.push(s2);
    const s2Port = await waitForListening(s2);
    const s1 = server(TOKENS.s1, [], {
      SM_CASCADE_ADDR: `ws://127.0.0.1:${s2Port}`,
      SM_CASCADE_TOKEN: TOKENS.s2,
    });
    servers.push(s1);
    s1Port = await waitForListening(s1);
    client = startSeamoon([
      'connect',
      '--tunnel',
      `ws://127.0.0.1:${s1Port}`,
      '--token',
      TOKENS.s1,
      '--listen',
      'mixed://127.0.0.1:0',
    ]);
    proxyPort = await waitForListening(client, 'seamoon connect ');
  });

  after(async () => {
    await client?.stop();
    for (const s of servers.reverse()) await s.stop();
    if (microsocks && microsocks.exitCode === null) {
      const exited = new Promise((resolve) => microsocks?.once('exit', resolve));
      microsocks.kill('SIGTERM');
      await exited;
    }
    await Promise.all([origin?.close(), udpEcho?.close()]);
  });

  test('HTTP and SOCKS5 through the chain reach a loopback origin only the last hop may reach', async () => {
    const viaSocks = await curl([
      '-x',
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/hello`,
    ]);
    assert.equal(viaSocks.exitCode, 0, viaSocks.stderr);
    assert.equal(viaSocks.stdout.toString(), 'hello from origin');
    const viaHttp = await curl([
      '-x',
      `http://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/host`,
    ]);
    assert.equal(viaHttp.exitCode, 0, viaHttp.stderr);
    assert.equal(viaHttp.stdout.toString(), `127.0.0.1:${origin.port}`);
  });

  test('an 8 MiB download arrives intact across three hops', async () => {
    const size = 8 * 1024 * 1024;
    const result = await curl([
      '-x',
      `socks5h://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${origin.port}/bytes?n=${size}&seed=7`,
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stdout.length, size);
    assert.equal(sha256(result.stdout), sha256(patternBytes(size, 7)));
  });

  test('UDP ASSOCIATE echo through the chain', async () => {
    const udp = createSocket('udp4');
    const control = new SocksClient({
      proxy: { host: '127.0.0.1', port: proxyPort, type: 5 },
      command: 'associate',
      destination: { host: '0.0.0.0', port: 0 },
      timeout: 5000,
    });
    try {
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
      const relay = await new Promise<{ host: string; port: number }>((resolve, reject) => {
        control.once('established', (info) => {
          if (info.remoteHost) resolve(info.remoteHost);
          else reject(new Error('no relay address in the reply'));
        });
        control.once('error', reject);
        control.connect();
      });
      const answer = new Promise<Buffer>((resolve) => udp.once('message', resolve));
      udp.send(
        SocksClient.createUDPFrame({
          remoteHost: { host: '127.0.0.1', port: udpEcho.port },
          data: Buffer.from('through-three-hops'),
        }),
        relay.port,
        relay.host,
      );
      const message = await Promise.race([
        answer,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('no UDP answer within 5 s')), 5000),
        ),
      ]);
      assert.equal(SocksClient.parseUDPFrame(message).data.toString(), 'echo:through-three-hops');
    } finally {
      udp.close();
      control.removeAllListeners();
    }
  });

  test('a wrong token for the first hop is refused there', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${s1Port}/socks5`, {
      headers: { authorization: `Bearer ${TOKENS.s2}` },
    });
    const status = await new Promise<number>((resolve) => {
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.once('open', () => resolve(101));
      socket.once('error', () => resolve(-1));
    });
    socket.terminate();
    assert.equal(status, 401);
  });

  test('SM-ONION travels down the chain to the hop that runs Tor', { skip: !hasMicrosocks }, async () => {
    const { reply, stream } = await socksReply(
      s1Port,
      TOKENS.s1,
      { ip: '127.0.0.1', port: origin.port },
      true,
    );
    assert.equal(reply, 0);
    stream.write('GET /hello HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
    stream.resume();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.match(Buffer.concat(chunks).toString(), /hello from origin/);
    assert.match(microsocksLog, new RegExp(`connected to 127\\.0\\.0\\.1:${origin.port}`));
  });
});

describe('cascade: the last hop’s egress guard decides', () => {
  const servers: RunningProcess[] = [];
  let origin: Origin;
  let firstPort: number;

  before(async () => {
    origin = await startHttpOrigin();
    const last = server('last-hop', []);
    servers.push(last);
    const lastPort = await waitForListening(last);
    // The first hop would allow private targets itself, but it only forwards.
    const first = server('first-hop', [
      '--allow-private',
      '--cascade',
      `http://127.0.0.1:${lastPort}`,
      '--cascade-token',
      'last-hop',
    ]);
    servers.push(first);
    firstPort = await waitForListening(first);
  });

  after(async () => {
    for (const s of servers.reverse()) await s.stop();
    await origin?.close();
  });

  test('a loopback target is refused with SOCKS 0x02 by the last hop', async () => {
    const { reply, stream } = await socksReply(firstPort, 'first-hop', {
      ip: '127.0.0.1',
      port: origin.port,
    });
    stream.destroy();
    assert.equal(reply, 0x02);
  });
});
