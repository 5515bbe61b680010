import { isIPv4, isIPv6 } from 'node:net';
import { SeamoonError } from './errors.js';

/** A destination as the app named it: a domain, an IPv4 literal or an IPv6 literal (never bracketed). */
export interface Target {
  host: string;
  port: number;
}

export type HostKind = 'ipv4' | 'ipv6' | 'domain';

export function hostKind(host: string): HostKind {
  if (isIPv4(host)) return 'ipv4';
  if (isIPv6(host)) return 'ipv6';
  return 'domain';
}

/** `host:port`, with IPv6 literals in brackets. */
export function formatTarget(target: Target): string {
  return hostKind(target.host) === 'ipv6'
    ? `[${target.host}]:${target.port}`
    : `${target.host}:${target.port}`;
}

export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port <= 65535;
}

/**
 * Parses `host:port`, `[v6]:port` or, when `defaultPort` is given, a bare host.
 * Throws BAD_ADDRESS with the offending text so users see what was wrong.
 */
export function parseTarget(text: string, defaultPort?: number): Target {
  const input = text.trim();
  let host: string;
  let portText: string | undefined;
  if (input.startsWith('[')) {
    const end = input.indexOf(']');
    if (end < 0) throw new SeamoonError('BAD_ADDRESS', `unterminated IPv6 literal in "${text}"`);
    host = input.slice(1, end);
    const rest = input.slice(end + 1);
    if (rest.startsWith(':')) portText = rest.slice(1);
    else if (rest !== '')
      throw new SeamoonError('BAD_ADDRESS', `unexpected "${rest}" after IPv6 literal in "${text}"`);
  } else {
    const colon = input.lastIndexOf(':');
    if (colon >= 0 && input.indexOf(':') === colon) {
      host = input.slice(0, colon);
      portText = input.slice(colon + 1);
    } else if (colon >= 0 && isIPv6(input)) {
      host = input;
    } else if (colon >= 0) {
      throw new SeamoonError('BAD_ADDRESS', `IPv6 address needs brackets: "${text}"`);
    } else {
      host = input;
    }
  }
  if (host === '') throw new SeamoonError('BAD_ADDRESS', `missing host in "${text}"`);
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) throw new SeamoonError('BAD_ADDRESS', `missing port in "${text}"`);
    port = defaultPort;
  } else {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  }
  if (!isValidPort(port)) throw new SeamoonError('BAD_ADDRESS', `invalid port in "${text}"`);
  return { host, port };
}
