import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SeamoonError } from '../core/errors.js';
import type {
  AccountInfo,
  DeployedTunnel,
  ProgressReporter,
  ProviderCallContext,
  ProviderDriver,
  RemoteTunnel,
  TunnelDeployRequest,
} from './types.js';

const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3_000;
/** Keep only the tail of a child's output for error messages. */
const OUTPUT_TAIL = 4096;
const UNIQ_PREFIX = 'local-pid-';

export interface LocalProviderOptions {
  /**
   * How to run this same CLI again: the node binary, its flags (so a tsx run stays a tsx
   * run) and the entry script. Defaults to the running process.
   */
  command?: { execPath: string; args: string[] };
  /** Let the tunnel server reach loopback/private targets (tests); off for real use. */
  allowPrivate?: boolean;
}

interface Child {
  proc: ChildProcess;
  name: string;
  transport: RemoteTunnel['transport'];
  port: number;
  exited: Promise<void>;
}

function currentCommand(): { execPath: string; args: string[] } {
  return { execPath: process.execPath, args: [...process.execArgv, process.argv[1]] };
}

/**
 * The `local` provider: "deploys" a tunnel server as a child `seamoon server` on 127.0.0.1 with
 * the tunnel's token, so the console works with no cloud account at all. Children are stopped
 * when the console exits; a child left behind by a console that was killed is reaped on the
 * next deploy of the same tunnel.
 */
export class LocalProvider implements ProviderDriver {
  readonly name = 'local';
  readonly ephemeral = true;
  readonly #children = new Map<string, Child>();
  readonly #command: { execPath: string; args: string[] };
  readonly #allowPrivate: boolean;
  readonly #onExit = () => {
    // Last resort when the console exits without close(): never leave servers running.
    for (const child of this.#children.values()) child.proc.kill('SIGKILL');
  };

  constructor(options: LocalProviderOptions = {}) {
    this.#command = options.command ?? currentCommand();
    this.#allowPrivate = options.allowPrivate ?? false;
    process.once('exit', this.#onExit);
  }

  async auth(): Promise<AccountInfo> {
    return { amount: null, cost: null };
  }

  async deploy(
    ctx: ProviderCallContext,
    request: TunnelDeployRequest,
    progress: ProgressReporter,
  ): Promise<DeployedTunnel> {
    if (request.previousUniqId) {
      await this.destroy(ctx, request.previousUniqId);
      reapOrphan(request.previousUniqId, this.#command.args.at(-1) ?? '');
    }
    progress(20, 'starting local tunnel server');
    const args = [
      ...this.#command.args,
      'server',
      '-a',
      '127.0.0.1',
      '-p',
      String(request.port),
      '-t',
      request.transport,
    ];
    if (this.#allowPrivate) args.push('--allow-private');
    // The token goes through the environment, not argv, so `ps` never shows it.
    const proc = spawn(this.#command.execPath, args, {
      env: { ...process.env, ...request.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const port = await waitForListening(proc, ctx.signal);
    const uniqId = `${UNIQ_PREFIX}${proc.pid}`;
    this.#children.set(uniqId, { proc, name: request.name, transport: request.transport, port, exited });
    proc.once('exit', (code, signal) => {
      if (this.#children.get(uniqId)?.proc === proc) this.#children.delete(uniqId);
      ctx.log.info({ uniqId, code, signal }, 'local tunnel server exited');
    });
    // Keep draining the child's output so it never blocks on a full pipe.
    proc.stdout?.resume();
    proc.stderr?.resume();
    progress(90, `local tunnel server listening on 127.0.0.1:${port}`);
    return { address: '127.0.0.1', port, uniqId, tls: false };
  }

  async destroy(_ctx: ProviderCallContext, uniqId: string): Promise<void> {
    const child = this.#children.get(uniqId);
    if (!child) return;
    this.#children.delete(uniqId);
    await stopChild(child);
  }

  async list(): Promise<RemoteTunnel[]> {
    return [...this.#children].map(([uniqId, child]) => ({
      uniqId,
      name: child.name,
      address: '127.0.0.1',
      port: child.port,
      transport: child.transport,
      tls: false,
      tor: false,
      region: 'local',
      running: child.proc.exitCode === null && child.proc.signalCode === null,
    }));
  }

  isRunning(uniqId: string): boolean {
    return this.#children.has(uniqId);
  }

  async close(): Promise<void> {
    process.off('exit', this.#onExit);
    const children = [...this.#children.values()];
    this.#children.clear();
    await Promise.all(children.map(stopChild));
  }
}

async function stopChild(child: Child): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const killer = setTimeout(() => child.proc.kill('SIGKILL'), STOP_GRACE_MS);
  await child.exited;
  clearTimeout(killer);
}

/** Resolves with the port from the child's `listening on HOST:PORT` line. */
function waitForListening(proc: ChildProcess, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
      const match = /listening on \[?[^\s\]]*\]?:(\d+)/.exec(output);
      if (match) {
        cleanup();
        resolve(Number(match[1]));
      }
    };
    const fail = (message: string) => {
      cleanup();
      proc.kill('SIGKILL');
      reject(new SeamoonError('TUNNEL_UNAVAILABLE', message));
    };
    const onExit = (code: number | null) =>
      fail(`local tunnel server exited (code ${code}) before listening: ${output.trim().slice(-400)}`);
    const onError = (err: Error) => fail(`cannot start local tunnel server: ${err.message}`);
    const onAbort = () => fail('local tunnel start aborted');
    const timer = setTimeout(() => fail('local tunnel server did not start within 20 s'), START_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      proc.stdout?.off('data', onData);
      proc.stderr?.off('data', onData);
      proc.off('exit', onExit);
      proc.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', onExit);
    proc.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A console killed with SIGKILL leaves its children running. Their pid is in the stored
 * uniq id; kill it only if that pid still runs our CLI's `server` command (pids get reused).
 */
function reapOrphan(uniqId: string, entry: string): void {
  if (!uniqId.startsWith(UNIQ_PREFIX)) return;
  const pid = Number(uniqId.slice(UNIQ_PREFIX.length));
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (cmdline.includes('server') && entry !== '' && cmdline.includes(entry)) process.kill(pid, 'SIGTERM');
  } catch {
    // Gone already, or not Linux: nothing to reap.
  }
}
