/**
 * gRPC tunnel throughput against the WebSocket tunnel and against v2ray's VLESS over WebSocket
 * (v2ray 4.34 has no gRPC transport): one stream, then 8 in parallel, each a SOCKS5 CONNECT
 * through the tunnel to a local origin and a download of STREAM_MIB. The seamoon servers run as
 * real `seamoon server` processes (from source through tsx); their clients are the tunnel
 * implementations `seamoon connect` uses, in this process. v2ray runs as a client (SOCKS in,
 * VLESS/ws out) and a server (VLESS/ws in, freedom out). Best of 3 rounds per case. Runs on
 * 127.0.0.1 only; the numbers are relative (the machine is shared), so read the ratios.
 *
 *   node --import tsx bench/grpc.bench.ts
 */
import { randomUUID } from 'node:crypto';
import { connect as connectTcp, createServer as createTcpServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { createTunnel } from '../src/client/tunnel/registry.js';
import type { Tunnel } from '../src/client/tunnel/types.js';
import type { Target } from '../src/core/address.js';
import { socks5Connect } from '../src/protocol/socks5-client.js';
import { type RunningProcess, startSeamoon, waitForListening } from '../test/helpers/processes.js';
import {
  type RunningV2ray,
  startV2rayClient,
  startV2rayServer,
  v2rayAvailable,
} from '../test/helpers/v2ray.js';

type Dial = (target: Target) => Promise<Duplex>;

/**
 * A minimal HTTP origin that answers every request with `n` bytes from a buffer made once, so the
 * benchmark measures the tunnels rather than the test origin's byte generator.
 */
async function startFastOrigin(): Promise<{ port: number; close(): Promise<void> }> {
  const block = Buffer.alloc(256 * 1024, 0x61);
  const server: Server = createTcpServer((socket) => {
    socket.on('error', () => socket.destroy());
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      let left = Number(/[?&]n=(\d+)/.exec(head)?.[1] ?? '0');
      socket.write(`HTTP/1.0 200 OK\r\nContent-Length: ${left}\r\n\r\n`);
      const pump = () => {
        while (left > 0) {
          const piece = block.subarray(0, Math.min(block.length, left));
          left -= piece.length;
          if (!socket.write(piece)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A SOCKS5 CONNECT through a local SOCKS port (v2ray's inbound). */
function socksDial(port: number): Dial {
  return async (target) => {
    const socket = connectTcp(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    await socks5Connect(socket, target, { timeoutMs: 10_000 });
    return socket;
  };
}

const tunnelDial =
  (tunnel: Tunnel): Dial =>
  (target) =>
    tunnel.dial(target, { timeoutMs: 10_000 });

const TOKEN = 'grpc-bench-token';
const STREAM_MIB = 32;
const ROUNDS = 3;

/** Downloads `bytes` over an open tunnel stream; resolves with the byte count received. */
function download(stream: Duplex, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    stream.once('end', () => resolve(received));
    stream.once('error', reject);
    stream.write(`GET /bytes?n=${bytes}&seed=3 HTTP/1.0\r\nHost: origin\r\n\r\n`);
  });
}

/** One round: `streams` parallel downloads through `dial`; MiB/s over all of them. */
async function roundMiBps(dial: Dial, originPort: number, streams: number): Promise<number> {
  const bytes = STREAM_MIB * 1024 * 1024;
  const started = performance.now();
  const totals = await Promise.all(
    Array.from({ length: streams }, async () =>
      download(await dial({ host: '127.0.0.1', port: originPort }), bytes),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  return totals.reduce((sum, n) => sum + n, 0) / (1024 * 1024) / seconds;
}

/**
 * Best of ROUNDS per contender, with the contenders interleaved inside each round so a burst of
 * load from other processes on the machine does not land on one of them only.
 */
async function bestRates(
  dials: Map<string, Dial>,
  originPort: number,
  streams: number,
): Promise<Map<string, number>> {
  const best = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, dial] of dials) {
      best.set(name, Math.max(best.get(name) ?? 0, await roundMiBps(dial, originPort, streams)));
    }
  }
  return best;
}

async function main(): Promise<void> {
  const origin = await startFastOrigin();
  const servers: RunningProcess[] = [];
  const tunnels: Tunnel[] = [];
  const v2rays: RunningV2ray[] = [];
  try {
    const env = { SEAMOON_LOG_LEVEL: 'warn' };
    const base = ['server', '-a', '127.0.0.1', '-p', '0', '--token', TOKEN, '--allow-private'];
    const ws = startSeamoon([...base, '-t', 'websocket'], env);
    const grpc = startSeamoon([...base, '-t', 'grpc'], env);
    servers.push(ws, grpc);
    const wsPort = await waitForListening(ws);
    const grpcPort = await waitForListening(grpc);
    // Both WebSocket client modes: one socket per stream (compat) and the multiplexed default.
    const wsTunnel = await createTunnel(`ws://127.0.0.1:${wsPort}`, { token: TOKEN, compat: true });
    const wsMuxTunnel = await createTunnel(`ws://127.0.0.1:${wsPort}`, { token: TOKEN });
    const grpcTunnel = await createTunnel(`grpc://127.0.0.1:${grpcPort}`, { token: TOKEN });
    tunnels.push(wsTunnel, wsMuxTunnel, grpcTunnel);

    let v2rayDial: Dial | undefined;
    if (v2rayAvailable()) {
      const vless = { protocol: 'vless' as const, uuid: randomUUID() };
      const v2rayServer = await startV2rayServer(vless, '/vless');
      v2rays.push(v2rayServer);
      const v2rayClient = await startV2rayClient(vless, v2rayServer.port, '/vless');
      v2rays.push(v2rayClient);
      v2rayDial = socksDial(v2rayClient.socksPort);
    }

    console.log(`gRPC tunnel throughput, ${STREAM_MIB} MiB per stream, best of ${ROUNDS}`);
    const dials = new Map<string, Dial>([
      ['grpc', tunnelDial(grpcTunnel)],
      ['ws', tunnelDial(wsTunnel)],
      ['ws-mux', tunnelDial(wsMuxTunnel)],
    ]);
    if (v2rayDial) dials.set('v2ray vless/ws', v2rayDial);
    else console.log('  (v2ray not installed: no v2ray comparison)');
    for (const streams of [1, 8]) {
      const rates = await bestRates(dials, origin.port, streams);
      const grpcRate = rates.get('grpc') ?? 0;
      const parts = [...rates].map(([name, rate]) =>
        name === 'grpc'
          ? `grpc ${rate.toFixed(1)} MiB/s`
          : `${name} ${rate.toFixed(1)} MiB/s (grpc/${name} = ${(grpcRate / rate).toFixed(2)})`,
      );
      console.log(`  ${streams} stream(s): ${parts.join('; ')}`);
    }
  } finally {
    for (const tunnel of tunnels) await tunnel.close();
    for (const v2ray of v2rays) await v2ray.stop();
    for (const server of servers) await server.stop();
    await origin.close();
  }
}

await main();
