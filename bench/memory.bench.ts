/**
 * Memory and start-up of the server bundle, as the container runs it (deploy/entrypoint.sh's node
 * flags): RSS at idle, during 200 concurrent 1 MiB streams, and after; time from spawn to
 * `listening on` (median of 5); bundle size. The seed's container limit is 64 MiB.
 *
 * How it measures: the bundle is built into a temp dir and started through deploy/entrypoint.sh
 * (which execs `node <flags> bundle server`) and, for comparison, with plain node; its
 * /proc/<pid>/status is sampled every 20 ms (VmRSS now, VmHWM = peak RSS since start, RssAnon).
 * Load comes from this process: 200 streams through the server, each a SOCKS5 CONNECT to a local
 * origin and a 1 MiB download, either one WebSocket per stream (the original's way, `/socks5`) or
 * multiplexed through `seamoon connect` (the default client path). Runs on 127.0.0.1 only.
 *
 *   node --import tsx bench/memory.bench.ts
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createWebSocketStream, WebSocket } from 'ws';
import { type Origin, startHttpOrigin } from '../test/helpers/origin.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'memory-bench-token';
const STREAMS = Number(process.env.SEAMOON_BENCH_STREAMS ?? 200);
const STREAM_BYTES = 1024 * 1024;
const LIMIT_MIB = 64;
const MODES = (['per-connection', 'mux'] as const).filter(
  (mode) => !process.env.SEAMOON_BENCH_MODE || process.env.SEAMOON_BENCH_MODE === mode,
);

interface Launched {
  proc: ChildProcess;
  port: number;
  startMs: number;
  output: () => string;
}

/** How the server process is started: `command ...prefix server <args>` with `env`. */
interface Variant {
  name: string;
  command: string;
  prefix: string[];
  env: NodeJS.ProcessEnv;
}

const SERVER_ARGS = ['-a', '127.0.0.1', '-p', '0', '--token', TOKEN, '--log-level', 'warn'];

function launchServer(variant: Variant, extra: string[] = []): Promise<Launched> {
  return launch(
    variant.command,
    [...variant.prefix, 'server', ...SERVER_ARGS, ...extra],
    /listening on [^\s]*:(\d+)/,
    variant.env,
  );
}

function entrypointFlags(): string[] {
  const text = readFileSync(join(ROOT, 'deploy/entrypoint.sh'), 'utf8');
  const match = text.match(/NODE_FLAGS="\$\{SEAMOON_NODE_FLAGS:-([^}]*)\}"/);
  if (!match) throw new Error('NODE_FLAGS default not found in deploy/entrypoint.sh');
  return match[1]!.split(/\s+/).filter(Boolean);
}

function launch(
  command: string,
  args: string[],
  label: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<Launched> {
  const started = process.hrtime.bigint();
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const match = text.match(label);
      if (match) {
        proc.stdout?.off('data', onData);
        resolve({
          proc,
          port: Number(match[1]),
          startMs: Number(process.hrtime.bigint() - started) / 1e6,
          output: () => text,
        });
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    proc.once('exit', (code) => reject(new Error(`exited (${code}) before listening:\n${text}`)));
  });
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

interface Memory {
  /** VmRSS: everything resident, including the node binary's file pages. */
  rss: number;
  /** VmHWM: the peak VmRSS since the process started. */
  hwm: number;
  /** RssAnon: heap, buffers, stacks — what a container cannot reclaim (file pages can be evicted). */
  anon: number;
}

function memoryKiB(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
  return { rss: field('VmRSS'), hwm: field('VmHWM'), anon: field('RssAnon') };
}

/** Samples memory every 20 ms until stopped; returns the largest VmRSS and RssAnon seen. */
function sampleMemory(pid: number): () => { rss: number; anon: number } {
  const peak = { rss: 0, anon: 0 };
  const timer = setInterval(() => {
    try {
      const now = memoryKiB(pid);
      peak.rss = Math.max(peak.rss, now.rss);
      peak.anon = Math.max(peak.anon, now.anon);
    } catch {
      // The process is gone.
    }
  }, 20);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

function socksConnectBytes(port: number): Buffer {
  const request = Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 0]);
  request.writeUInt16BE(port, 11);
  return request;
}

/** SOCKS5 CONNECT + GET over `stream`; resolves with the number of body bytes received. */
function download(stream: Duplex, originPort: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let headerDone = false;
    let pending = Buffer.alloc(0);
    let socksBytes = 2 + 10; // method selection + IPv4 reply
    stream.on('data', (chunk: Buffer) => {
      if (socksBytes > 0) {
        const take = Math.min(socksBytes, chunk.length);
        socksBytes -= take;
        chunk = chunk.subarray(take);
        if (socksBytes === 0) {
          stream.write(
            `GET /bytes?n=${STREAM_BYTES}&seed=1 HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`,
          );
        }
      }
      if (chunk.length === 0) return;
      if (!headerDone) {
        pending = Buffer.concat([pending, chunk]);
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        headerDone = true;
        received += pending.length - end - 4;
        pending = Buffer.alloc(0);
      } else {
        received += chunk.length;
      }
    });
    // A stalled stream counts as failed instead of hanging the benchmark.
    const timer = setTimeout(() => stream.destroy(new Error('stream stalled for 60 s')), 60_000);
    stream.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // The origin closes after the body; the relay passes that on as the end of our readable side.
    stream.once('end', () => {
      clearTimeout(timer);
      stream.destroy();
      resolve(received);
    });
    stream.once('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    stream.write(socksConnectBytes(originPort));
  });
}

async function perConnectionStream(serverPort: number, originPort: number): Promise<number> {
  const socket = new WebSocket(`ws://127.0.0.1:${serverPort}/socks5`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return download(createWebSocketStream(socket), originPort);
}

async function localProxyStream(proxyPort: number, originPort: number): Promise<number> {
  const socket = connectTcp(proxyPort, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return download(socket, originPort);
}

interface LoadResult {
  mode: string;
  idle: Memory;
  peak: { rss: number; anon: number };
  after: Memory;
  seconds: number;
  failed: number;
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runLoad(
  variant: Variant,
  mode: 'per-connection' | 'mux',
  origin: Origin,
): Promise<LoadResult> {
  // With the entrypoint, `exec` hands the shell's pid to node, so this pid is the server's.
  const server = await launchServer(variant, ['--allow-private']);
  const pid = server.proc.pid!;
  let connect: Launched | undefined;
  try {
    await sleep(1000);
    const idle = memoryKiB(pid);
    let openStream = (originPort: number) => perConnectionStream(server.port, originPort);
    if (mode === 'mux') {
      connect = await launch(
        process.execPath,
        [
          '--import',
          'tsx',
          join(ROOT, 'src/cli/main.ts'),
          'connect',
          '--tunnel',
          `ws://127.0.0.1:${server.port}`,
          '--token',
          TOKEN,
          '--listen',
          'socks5://127.0.0.1:0',
          '--log-level',
          'warn',
        ],
        /seamoon connect listening on [^\s]*:(\d+)/,
      );
      const proxyPort = connect.port;
      openStream = (originPort: number) => localProxyStream(proxyPort, originPort);
    }
    const stopSampling = sampleMemory(pid);
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: STREAMS }, () => openStream(origin.port)));
    const seconds = (Date.now() - started) / 1000;
    const peak = stopSampling();
    const failed = results.filter((r) => r.status === 'rejected' || r.value !== STREAM_BYTES).length;
    if (connect) await stop(connect.proc);
    await sleep(2000);
    // SEAMOON_BENCH_VERBOSE=1 shows what the server printed (e.g. with a memory probe in SEAMOON_BENCH_FLAGS).
    if (process.env.SEAMOON_BENCH_VERBOSE) console.error(server.output());
    return { mode, idle, peak, after: memoryKiB(pid), seconds, failed };
  } finally {
    if (connect) await stop(connect.proc);
    await stop(server.proc);
  }
}

async function startupMs(variant: Variant, runs = 5): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const server = await launchServer(variant);
    times.push(Math.round(server.startMs));
    await stop(server.proc);
  }
  return times;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'seamoon-membench-'));
  const bundle = join(dir, 'seamoon-server.mjs');
  const origin = await startHttpOrigin();
  try {
    const build = spawnSync(
      process.execPath,
      [join(ROOT, 'scripts/build-server-bundle.mjs'), '--outfile', bundle],
      {
        encoding: 'utf8',
      },
    );
    if (build.status !== 0) throw new Error(`bundle build failed:\n${build.stderr}`);
    const sizeKiB = Math.round(statSync(bundle).size / 1024);
    const flags = entrypointFlags();
    console.log(`server bundle: ${sizeKiB} KiB (single file, no node_modules); node ${process.version}`);
    // Start-up times scale with how busy the machine is; print it so figures can be judged.
    console.log(
      `load average: ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')} on ${cpus().length} CPUs`,
    );
    console.log(
      `entrypoint node flags: ${flags.join(' ')} (and MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=65536)`,
    );

    // SEAMOON_BENCH_FLAGS="--flag …" measures plain node with one other flag set (for choosing flags).
    const custom = process.env.SEAMOON_BENCH_FLAGS;
    const variants: Variant[] =
      custom !== undefined
        ? [
            {
              name: custom || 'no flags',
              command: process.execPath,
              prefix: [...custom.split(/\s+/).filter(Boolean), bundle],
              env: {},
            },
          ]
        : [
            {
              name: 'deploy/entrypoint.sh',
              command: '/bin/sh',
              prefix: [join(ROOT, 'deploy/entrypoint.sh')],
              env: { SEAMOON_BUNDLE: bundle, SEAMOON_NODE: process.execPath, SEAMOON_TOR: '' },
            },
            { name: 'node, no flags', command: process.execPath, prefix: [bundle], env: {} },
          ];
    for (const variant of variants) {
      const times = await startupMs(variant);
      console.log(
        `start to listening (${variant.name}): median ${median(times)} ms of [${times.join(', ')}] (goal ≤ 300 ms)`,
      );
    }

    console.log(
      `\n${STREAMS} concurrent streams × ${STREAM_BYTES / 1024} KiB through the bundled server (RSS in MiB):`,
    );
    console.log(
      '| started by | client path | idle RSS | peak RSS | VmHWM | after RSS | idle anon | peak anon | after anon | time s | failed |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const variant of variants) {
      for (const mode of MODES) {
        const r = await runLoad(variant, mode, origin);
        const cells = [
          r.idle.rss,
          Math.max(r.peak.rss, r.after.rss),
          r.after.hwm,
          r.after.rss,
          r.idle.anon,
          Math.max(r.peak.anon, r.after.anon),
          r.after.anon,
        ].map(mib);
        console.log(
          `| ${variant.name} | ${r.mode} | ${cells.join(' | ')} | ${r.seconds.toFixed(2)} | ${r.failed} |`,
        );
      }
    }
    console.log(
      `(MiB; the container limit is ${LIMIT_MIB} MiB. RSS = VmRSS from /proc/<pid>/status, anon = RssAnon.)`,
    );
  } finally {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export default run;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
