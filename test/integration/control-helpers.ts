import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** How the console under test starts `seamoon server` children: the CLI from source via tsx. */
export const SERVER_COMMAND = { execPath: process.execPath, args: ['--import', 'tsx', CLI] };

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'seamoon-console-'));
}

export interface Envelope<T> {
  success: boolean;
  total: number;
  code: number;
  msg: string;
  data: T;
}

export interface ApiResponse<T> {
  status: number;
  text: string;
  body: Envelope<T>;
}

export interface ProviderView {
  id: number;
  name: string;
  type: number;
  status: number;
  status_message: string;
  count: number;
  regions: string[];
}

export interface TunnelView {
  id: number;
  provider_id: number;
  name: string;
  address: string;
  port: number;
  status: number;
  status_message: string;
  version: string;
  last_check_time: string;
  latency_ms: number;
  secret_fields: string[];
  tunnel_config: Record<string, unknown>;
}

export interface ProxyView {
  id: number;
  name: string;
  type: string;
  status: number;
  status_message: string;
  conn: number;
  in_bound: number;
  out_bound: number;
  speed_down: number;
  lag: number;
  listen_port: number;
  bound_port: number | null;
  tunnel_ids: number[];
  last_error: string;
}

/** One JSON request against the console; every response text is kept for the secrets check. */
export function apiClient(base: string, transcript: string[] = []) {
  return async function api<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; token?: string; header?: string } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.header !== undefined) headers.authorization = options.header;
    else if (options.token) headers.authorization = `Bearer ${options.token}`;
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
    const text = await res.text();
    transcript.push(text);
    let body: Envelope<T>;
    try {
      body = JSON.parse(text) as Envelope<T>;
    } catch {
      body = {
        success: false,
        total: 0,
        code: res.status,
        msg: `not JSON: ${text.slice(0, 80)}`,
        data: undefined as T,
      };
    }
    return { status: res.status, text, body };
  };
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function waitUntil<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
