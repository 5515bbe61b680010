import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { start } from '../../test/helpers/processes.js';

export { freePort, run } from '../../test/helpers/processes.js';

/** A child process whose output is kept, with a way to wait for a line and to stop it. */
export interface BenchProcess {
  proc: ChildProcess;
  startedAt: bigint;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<{ match: RegExpMatchArray; elapsedMs: number }>;
  stop(): Promise<void>;
}

export function launch(command: string, args: string[], env: NodeJS.ProcessEnv = {}): BenchProcess {
  const startedAt = process.hrtime.bigint();
  const started = start(command, args, env);
  return {
    proc: started.proc,
    startedAt,
    output: started.output,
    async waitFor(pattern, timeoutMs) {
      const match = await started.waitFor(pattern, timeoutMs);
      return { match, elapsedMs: Number(process.hrtime.bigint() - startedAt) / 1e6 };
    },
    async stop() {
      await started.stop();
    },
  };
}

/** VmRSS and VmHWM (peak) of a live process, in MiB. */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
