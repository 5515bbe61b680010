import { isIPv4, isIPv6 } from 'node:net';
import { isValidPort, parseTarget, type Target } from '../core/address.js';
import { SeamoonError } from '../core/errors.js';

export type ServerTransport = 'websocket' | 'grpc';

/** Everything `seamoon server` needs, validated once at start-up. */
export interface ServerOptions {
  host: string;
  port: number;
  type: ServerTransport;
  /** Bearer token for `token` routes; undefined means "generate one at start" (unless noAuth). */
  token: string | undefined;
  /** Serve `token` routes without any token (loudly warned about). */
  noAuth: boolean;
  /** Let targets in loopback/private/link-local ranges through the egress guard. */
  allowPrivate: boolean;
  /** CIDRs let through the egress guard even though they are private. */
  allow: string[];
  /** A relay with no bytes either way for this long is closed (0 = never). */
  idleTimeoutMs: number;
  /** Upgrade request and protocol greeting must complete within this. */
  handshakeTimeoutMs: number;
  /** Dialing a target gives up after this. */
  dialTimeoutMs: number;
  logLevel: string;
  /** Serve TLS directly (wss://) instead of relying on the platform's front door. */
  tlsCertPath?: string;
  tlsKeyPath?: string;
  /** Tor's SOCKS port for SM-ONION streams and `.onion` targets; undefined = no Tor. */
  torSocks?: Target;
  /** Forward every stream through this next tunnel hop (cascade); undefined = direct. */
  cascade?: { url: string; token?: string };
}

/** Flags as the CLI parser hands them over: strings, booleans, undefined when absent. */
export interface RawServerFlags {
  addr?: string;
  port?: string;
  type?: string;
  proto?: string;
  token?: string;
  /** commander's `--no-auth` sets `auth: false`. */
  auth?: boolean;
  allowPrivate?: boolean;
  allow?: string[];
  idleTimeout?: string;
  handshakeTimeout?: string;
  dialTimeout?: string;
  logLevel?: string;
  tlsCert?: string;
  tlsKey?: string;
  torSocks?: string;
  cascade?: string;
  cascadeToken?: string;
  /** `--uid` (repeatable): VLESS/VMess users, mirrored into SM_UID. */
  uid?: string[];
  /** `--ss-pass` / `--ss-crypt`: Shadowsocks, mirrored into SM_SS_PASS / SM_SS_CRYPT. */
  ssPass?: string;
  ssCrypt?: string;
}

export const SERVER_DEFAULTS = {
  host: '0.0.0.0',
  port: 9000,
  type: 'websocket' as ServerTransport,
  idleTimeoutSeconds: 300,
  handshakeTimeoutSeconds: 10,
  dialTimeoutSeconds: 10,
  logLevel: 'info',
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function invalid(message: string): SeamoonError {
  return new SeamoonError('BAD_REQUEST', message);
}

function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  // Port 0 asks the OS for a free port (tests and benchmarks rely on it).
  if (port !== 0 && !isValidPort(port)) throw invalid(`invalid port "${text}" (expected 0-65535)`);
  return port;
}

function parseSeconds(
  name: string,
  text: string | undefined,
  fallback: number,
  zeroMeansNever = false,
): number {
  if (text === undefined) return fallback * 1000;
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(seconds) || seconds > 86_400 * 7 || (seconds === 0 && !zeroMeansNever)) {
    throw invalid(`invalid ${name} "${text}" (expected seconds, e.g. 300)`);
  }
  return Math.round(seconds * 1000);
}

function parseType(text: string): ServerTransport {
  const type = text.toLowerCase();
  if (type === 'websocket' || type === 'ws') return 'websocket';
  if (type === 'grpc') return 'grpc';
  throw invalid(`unknown transport type "${text}" (expected websocket or grpc)`);
}

function parseHost(text: string): string {
  const host = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (host === '' || /\s/.test(host)) throw invalid(`invalid listen address "${text}"`);
  return host;
}

/** `10.0.0.0/8`, `fd00::/8` or a bare address (a /32 or /128). */
function checkCidr(text: string): string {
  const [address, prefix, extra] = text.split('/');
  const max = isIPv4(address ?? '') ? 32 : isIPv6(address ?? '') ? 128 : -1;
  const bits = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
  if (max < 0 || extra !== undefined || bits < 0 || bits > max) {
    throw invalid(`invalid --allow CIDR "${text}" (expected e.g. 10.1.0.0/16 or fd00::/8)`);
  }
  return text;
}

function parseToken(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  // The token may travel as a path segment, so it must survive a URL unescaped.
  if (!/^[A-Za-z0-9._~-]+$/.test(text)) {
    throw invalid('invalid token: use letters, digits and - _ . ~ only');
  }
  return text;
}

/**
 * Turns CLI flags plus the environment into ServerOptions. Throws SeamoonError BAD_REQUEST with a
 * one-line message naming the offending flag; the CLI prints it and exits with code 2.
 */
export function parseServerOptions(
  flags: RawServerFlags,
  env: NodeJS.ProcessEnv = process.env,
): ServerOptions {
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw invalid('--tls-cert and --tls-key must be given together');
  }
  const logLevel = flags.logLevel ?? SERVER_DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw invalid(`invalid log level "${logLevel}" (expected one of ${LOG_LEVELS.join(', ')})`);
  }
  const noAuth = flags.auth === false;
  return {
    host: parseHost(flags.addr ?? SERVER_DEFAULTS.host),
    port: flags.port === undefined ? SERVER_DEFAULTS.port : parsePort(flags.port),
    type: parseType(flags.proto ?? flags.type ?? SERVER_DEFAULTS.type),
    token: noAuth ? undefined : parseToken(flags.token ?? env.SM_TOKEN),
    noAuth,
    allowPrivate: flags.allowPrivate === true,
    allow: (flags.allow ?? []).map(checkCidr),
    idleTimeoutMs: parseSeconds(
      '--idle-timeout',
      flags.idleTimeout,
      SERVER_DEFAULTS.idleTimeoutSeconds,
      true,
    ),
    handshakeTimeoutMs: parseSeconds(
      '--handshake-timeout',
      flags.handshakeTimeout,
      SERVER_DEFAULTS.handshakeTimeoutSeconds,
    ),
    dialTimeoutMs: parseSeconds('--dial-timeout', flags.dialTimeout, SERVER_DEFAULTS.dialTimeoutSeconds),
    logLevel,
    tlsCertPath: flags.tlsCert,
    tlsKeyPath: flags.tlsKey,
    torSocks: parseTorSocks(flags.torSocks, env),
    cascade: parseCascade(flags.cascade, flags.cascadeToken, env),
  };
}

/** `--tor-socks`, else SEAMOON_TOR_SOCKS, else 127.0.0.1:9050 when the image runs Tor (SEAMOON_TOR=true). */
function parseTorSocks(flag: string | undefined, env: NodeJS.ProcessEnv): Target | undefined {
  const text = flag ?? env.SEAMOON_TOR_SOCKS ?? (env.SEAMOON_TOR === 'true' ? '127.0.0.1:9050' : undefined);
  if (text === undefined || text === '') return undefined;
  try {
    return parseTarget(text);
  } catch (err) {
    throw invalid(`invalid --tor-socks "${text}": ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** `--cascade` / SM_CASCADE_ADDR with `--cascade-token` / SM_CASCADE_TOKEN. */
function parseCascade(
  flag: string | undefined,
  tokenFlag: string | undefined,
  env: NodeJS.ProcessEnv,
): ServerOptions['cascade'] {
  const url = (flag ?? env.SM_CASCADE_ADDR ?? '').trim();
  if (url === '') return undefined;
  const token = tokenFlag ?? env.SM_CASCADE_TOKEN;
  return token ? { url, token } : { url };
}
