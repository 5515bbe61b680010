import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TunnelHealth } from './types.js';
import { type TlsSettings, tlsOptions } from './ws-open.js';

/** Bodies larger than this are not a `/_health` page. */
const MAX_BODY = 4096;

/**
 * Parses the server's `/_health` text: `OK`, start time, `<version>[-commit]`, and an optional
 * fourth line (the original put its v2ray core version there).
 */
export function parseHealthBody(body: string): Omit<TunnelHealth, 'latencyMs'> {
  const lines = body.trim().split('\n');
  if (lines[0]?.trim() !== 'OK') {
    return { ok: false, error: `unexpected health answer: ${JSON.stringify(body.slice(0, 80))}` };
  }
  return { ok: true, startedAt: lines[1]?.trim() || undefined, version: lines[2]?.trim() || undefined };
}

/** GET the health page; never throws, reports failures in the result. */
export function probeHealth(url: string, tls: TlsSettings, timeoutMs: number): Promise<TunnelHealth> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: Omit<TunnelHealth, 'latencyMs'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ...result, latencyMs: elapsed() });
    };
    const secure = url.startsWith('https:');
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', agent: false, ...(secure ? tlsOptions(tls) : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY) finish({ ok: false, error: 'health answer too large' });
          else chunks.push(chunk);
        });
        res.once('end', () => {
          if (res.statusCode !== 200) {
            finish({ ok: false, error: `health check answered HTTP ${res.statusCode}` });
          } else {
            finish(parseHealthBody(Buffer.concat(chunks).toString('utf8')));
          }
        });
        res.once('error', (err) => finish({ ok: false, error: err.message }));
      },
    );
    const timer = setTimeout(
      () => finish({ ok: false, error: `health check timed out after ${timeoutMs} ms` }),
      timeoutMs,
    );
    req.once('error', (err) => finish({ ok: false, error: err.message }));
    req.end();
  });
}
