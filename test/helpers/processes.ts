import { type ChildProcess, spawn } from 'node:child_process';
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
