import { isIPv6 } from 'node:net';
import { isValidPort } from '../core/address.js';
import { SeamoonError } from '../core/errors.js';
import type { ProxyCredentials } from '../protocol/types.js';

/** What a local listener speaks: `mixed` sniffs SOCKS5 vs HTTP on the first byte. */
export type ListenScheme = 'socks5' | 'http' | 'mixed';

export interface ListenSpec {
  scheme: ListenScheme;
  /** Literal to bind; IPv6 without brackets. */
  host: string;
  /** 0 lets the OS choose. */
  port: number;
  credentials?: ProxyCredentials;
}

export const DEFAULT_LISTEN = 'mixed://127.0.0.1:1080';

const DEFAULT_PORTS: Record<ListenScheme, number> = { socks5: 1080, mixed: 1080, http: 8080 };

function isListenScheme(value: string): value is ListenScheme {
  return value === 'socks5' || value === 'http' || value === 'mixed';
}

function decode(part: string, what: string, text: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new SeamoonError('BAD_ADDRESS', `invalid percent-encoding in the ${what} of "${text}"`);
  }
}

/**
 * Parses `--listen` values: `socks5://[user:pass@]127.0.0.1:1080`, `http://…`, `mixed://…`,
 * IPv6 hosts in brackets (`mixed://[::1]:1080`), port 0 for "any free port".
 */
export function parseListenSpec(text: string): ListenSpec {
  const match = /^([a-z0-9]+):\/\/(.*)$/i.exec(text.trim());
  if (!match) {
    throw new SeamoonError(
      'BAD_ADDRESS',
      `listen address must look like mixed://127.0.0.1:1080, got "${text}"`,
    );
  }
  const scheme = match[1].toLowerCase();
  if (!isListenScheme(scheme)) {
    throw new SeamoonError(
      'BAD_ADDRESS',
      `unsupported listen scheme "${scheme}" in "${text}" (use socks5, http or mixed)`,
    );
  }
  // A non-special scheme keeps the port exactly as written (http://…:80 would drop it).
  let url: URL;
  try {
    url = new URL(`listen://${match[2]}`);
  } catch {
    throw new SeamoonError('BAD_ADDRESS', `cannot parse listen address "${text}"`);
  }
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw new SeamoonError('BAD_ADDRESS', `listen address takes no path or query: "${text}"`);
  }
  let host = url.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw new SeamoonError('BAD_ADDRESS', `missing host in "${text}"`);
  if (host.includes(':') && !isIPv6(host)) {
    throw new SeamoonError('BAD_ADDRESS', `invalid IPv6 address in "${text}"`);
  }
  const port = url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port);
  if (!(port === 0 || isValidPort(port))) throw new SeamoonError('BAD_ADDRESS', `invalid port in "${text}"`);

  const spec: ListenSpec = { scheme, host, port };
  if (url.username !== '' || url.password !== '') {
    const username = decode(url.username, 'username', text);
    const password = decode(url.password, 'password', text);
    if (username === '') throw new SeamoonError('BAD_ADDRESS', `empty username in "${text}"`);
    spec.credentials = { username, password };
  }
  return spec;
}

/** The spec for logs: never the password. */
export function formatListenSpec(spec: ListenSpec, port = spec.port): string {
  const host = isIPv6(spec.host) ? `[${spec.host}]` : spec.host;
  const user = spec.credentials ? `${encodeURIComponent(spec.credentials.username)}:***@` : '';
  return `${spec.scheme}://${user}${host}:${port}`;
}
