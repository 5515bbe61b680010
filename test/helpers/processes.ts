import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface RunningProcess {
  proc: ChildProcess;
  /** Everything printed so far on stdout and stderr. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output (already printed or future). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after 3 s; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts any command and collects its output. */
export function start(command: string, args: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  const proc = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const wake of waiters) wake();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.once('exit', () => {
    for (const wake of waiters) wake();
  });

  return {
    proc,
    output: () => text,
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            cleanup();
            resolve(match);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            cleanup();
            reject(new Error(`process exited before printing ${pattern}:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const killer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

/** Runs the seamoon CLI from source (no build step needed). */
export function startSeamoon(args: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  return start(process.execPath, ['--import', 'tsx', CLI, ...args], env);
}

/**
 * Long-running commands print `listening on HOST:PORT` once ready; with `-p 0` this is how a
 * test learns the port the OS picked.
 */
export async function waitForListening(p: RunningProcess, label = ''): Promise<number> {
  const pattern = new RegExp(`${label}listening on \\[?[^\\s\\]]*\\]?:(\\d+)`);
  const match = await p.waitFor(pattern);
  return Number(match[1]);
}

/** A port that was free a moment ago on 127.0.0.1, for configurations that need a number up front. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion and resolves with its status and output. `env` replaces the
 * environment (default: this process's); after `timeoutMs` the command is killed.
 */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs);
    proc.once('error', reject);
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `seamoon connect` through `tunnel` with one mixed (SOCKS5 + HTTP) listener on 127.0.0.1;
 * resolves once it listens, with the listener's port.
 */
export async function startConnect(
  tunnel: string,
  token: string | undefined,
  extra: string[] = [],
): Promise<{ process: RunningProcess; port: number }> {
  const process = startSeamoon([
    'connect',
    '--tunnel',
    tunnel,
    ...(token === undefined ? [] : ['--token', token]),
    '--listen',
    'mixed://127.0.0.1:0',
    ...extra,
  ]);
  return { process, port: await waitForListening(process, 'seamoon connect ') };
}

/** `seamoon server` on 127.0.0.1 with a port the OS picks (see waitForListening), plus `args`. */
export function startLocalServer(args: string[], env: NodeJS.ProcessEnv = {}): RunningProcess {
  return startSeamoon(['server', '-a', '127.0.0.1', '-p', '0', ...args], env);
}
