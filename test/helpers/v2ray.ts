import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SocksClient } from 'socks';
import { curl } from './curl.js';
import { patternBytes, sha256 } from './origin.js';
import { freePort, type RunningProcess, start } from './processes.js';

export { freePort };

/**
 * Debian's v2ray 4.34 as a peer: configs are generated per test into a temp dir, the process
 * is started with `-config`, and "started" in its log means its listeners are up.
 */
export function v2rayAvailable(): boolean {
  try {
    execFileSync('v2ray', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface RunningV2ray {
  process: RunningProcess;
  stop(): Promise<void>;
}

export async function startV2ray(config: object): Promise<RunningV2ray> {
  const dir = mkdtempSync(join(tmpdir(), 'seamoon-v2ray-'));
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify({ log: { loglevel: 'warning' }, ...config }, null, 2));
  const proc = start('v2ray', ['-config', path]);
  try {
    await proc.waitFor(/V2Ray [\d.]+ started/, 20_000);
  } catch (err) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    process: proc,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type V2rayProtocol =
  | { protocol: 'vless'; uuid: string }
  | {
      protocol: 'vmess';
      uuid: string;
      security: 'aes-128-gcm' | 'chacha20-poly1305' | 'none' | 'zero' | 'auto';
    }
  | { protocol: 'shadowsocks'; method: string; password: string };

/** Extra `wsSettings`, e.g. `{ maxEarlyData: 2048, earlyDataHeaderName: 'Sec-WebSocket-Protocol' }`. */
export type WsExtras = Record<string, unknown>;

function wsStream(path: string, extras: WsExtras = {}) {
  return { network: 'ws', wsSettings: { path, ...extras } };
}

export function socksInbound(port: number) {
  return {
    tag: 'socks-in',
    listen: '127.0.0.1',
    port,
    protocol: 'socks',
    settings: { auth: 'noauth', udp: true, ip: '127.0.0.1' },
  };
}

/** v2ray as a client: its outbound speaks `p` over WebSocket to 127.0.0.1:port/path. */
export function clientOutbound(p: V2rayProtocol, port: number, path: string, ws: WsExtras = {}) {
  const address = '127.0.0.1';
  switch (p.protocol) {
    case 'vless':
      return {
        protocol: 'vless',
        settings: { vnext: [{ address, port, users: [{ id: p.uuid, encryption: 'none' }] }] },
        streamSettings: wsStream(path, ws),
      };
    case 'vmess':
      return {
        protocol: 'vmess',
        settings: { vnext: [{ address, port, users: [{ id: p.uuid, alterId: 0, security: p.security }] }] },
        streamSettings: wsStream(path, ws),
      };
    default:
      return {
        protocol: 'shadowsocks',
        settings: { servers: [{ address, port, method: p.method, password: p.password }] },
        streamSettings: wsStream(path, ws),
      };
  }
}

/** v2ray as a server: an inbound for `p` over WebSocket at 127.0.0.1:port/path. */
export function serverInbound(p: V2rayProtocol, port: number, path: string, network: 'ws' | 'tcp' = 'ws') {
  const base = {
    listen: '127.0.0.1',
    port,
    streamSettings: network === 'ws' ? wsStream(path) : { network: 'tcp' },
  };
  switch (p.protocol) {
    case 'vless':
      return { ...base, protocol: 'vless', settings: { clients: [{ id: p.uuid }], decryption: 'none' } };
    case 'vmess':
      return { ...base, protocol: 'vmess', settings: { clients: [{ id: p.uuid, alterId: 0 }] } };
    default:
      return {
        ...base,
        protocol: 'shadowsocks',
        settings: { method: p.method, password: p.password, network: 'tcp' },
      };
  }
}

/** SOCKS inbound → one protocol outbound. */
export async function startV2rayClient(
  p: V2rayProtocol,
  serverPort: number,
  path: string,
  ws: WsExtras = {},
) {
  const socksPort = await freePort();
  const running = await startV2ray({
    inbounds: [socksInbound(socksPort)],
    outbounds: [clientOutbound(p, serverPort, path, ws)],
  });
  return { ...running, socksPort };
}

/** One protocol inbound (over WebSocket at `path`, or plain TCP) → freedom. */
export async function startV2rayServer(p: V2rayProtocol, path: string, network: 'ws' | 'tcp' = 'ws') {
  const port = await freePort();
  const running = await startV2ray({
    inbounds: [serverInbound(p, port, path, network)],
    outbounds: [{ protocol: 'freedom' }],
  });
  return { ...running, port };
}

/** curl through a SOCKS5 port (remote DNS) for `n` pattern bytes; returns whether the sha256 matched. */
export async function fetchPatternThroughSocks(socksPort: number, originPort: number, n: number, seed = 7) {
  const result = await curl(
    [
      '--socks5-hostname',
      `127.0.0.1:${socksPort}`,
      `http://127.0.0.1:${originPort}/bytes?n=${n}&seed=${seed}`,
    ],
    60_000,
  );
  return {
    exitCode: result.exitCode,
    length: result.stdout.length,
    intact: sha256(result.stdout) === sha256(patternBytes(n, seed)),
    stderr: result.stderr,
  };
}

/** SOCKS5 UDP ASSOCIATE through `socksPort`, one datagram to the echo server; resolves with the reply text. */
export async function udpEchoThroughSocks(
  socksPort: number,
  echoPort: number,
  text: string,
  timeoutMs = 5000,
) {
  const client = new SocksClient({
    proxy: { host: '127.0.0.1', port: socksPort, type: 5 },
    command: 'associate',
    destination: { host: '0.0.0.0', port: 0 },
    timeout: timeoutMs,
  });
  const established = await new Promise<{
    remoteHost?: { host: string; port: number };
    socket: { destroy(): void };
  }>((resolve, reject) => {
    client.once('established', resolve);
    client.once('error', reject);
    client.connect();
  });
  const udp = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const relay = established.remoteHost;
    if (!relay) throw new Error('SOCKS server gave no UDP relay address');
    const reply = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP reply')), timeoutMs);
      udp.once('message', (message) => {
        clearTimeout(timer);
        resolve(SocksClient.parseUDPFrame(message).data.toString());
      });
    });
    const frame = SocksClient.createUDPFrame({
      remoteHost: { host: '127.0.0.1', port: echoPort },
      data: Buffer.from(text),
    });
    // The relay address may be 0.0.0.0 ("same host as the TCP control connection").
    const host = relay.host === '0.0.0.0' ? '127.0.0.1' : relay.host;
    udp.send(frame, relay.port, host);
    return await reply;
  } finally {
    udp.close();
    established.socket.destroy();
  }
}
