import assert from 'node:assert/strict';
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

/** Fetches `url` through `proxy` (socks5h://…, http://…) with curl; asserts success, resolves with the body. */
export async function curlThrough(proxy: string, url: string, extraArgs: string[] = []): Promise<Buffer> {
  const result = await curl([...extraArgs, '-x', proxy, url]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout;
}

/** The HTTP status (as curl prints it, `000` when there was none) of `url` fetched through `proxy`. */
export async function httpStatusThrough(proxy: string, url: string, timeoutMs?: number): Promise<string> {
  const result = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-x', proxy, url], timeoutMs);
  return result.stdout.toString();
}
