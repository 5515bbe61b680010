import { spawn } from 'node:child_process';

export interface CurlResult {
  exitCode: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the real curl binary; never throws on curl errors (tests assert on exitCode). */
export function curl(args: string[], timeoutMs = 30_000): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      'curl',
      ['--silent', '--show-error', '--max-time', String(timeoutMs / 1000), ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const out: Buffer[] = [];
    let err = '';
    proc.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    proc.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ exitCode: code, stdout: Buffer.concat(out), stderr: err }));
  });
}
