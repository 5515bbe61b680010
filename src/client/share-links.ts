import { SeamoonError } from '../core/errors.js';
import { isUuid } from '../protocol/v2ray-shared/uuid.js';

/**
 * Share links of the v2ray family, parsed into one typed shape and written back:
 * - `vless://uuid@host:port?type=ws&path=/vless&security=tls&host=&sni=#name` (Xray-core#91)
 * - `vmess://base64(JSON)` as v2rayN writes it (keys v, ps, add, port, id, aid, scy, net, host, path, tls, sni)
 *   and the older `vmess://base64(security:uuid@host:port)?remarks=&path=&obfs=websocket&tls=1`
 * - `ss://base64url(method:password)@host:port/?plugin=v2ray-plugin;mode=websocket;path=…;tls;host=…#name` (SIP002)
 */
export interface TransportSettings {
  /** `ws` (WebSocket) or `tcp` (the protocol straight over TCP/TLS). */
  network: 'ws' | 'tcp';
  /** WebSocket path, starting with `/`. */
  path: string;
  /** Host header (WebSocket) and default SNI. */
  host?: string;
  sni?: string;
  tls: boolean;
  /** Skip certificate verification (`allowInsecure=1` / `insecure: "1"`). */
  insecure?: boolean;
}

interface LinkBase {
  name?: string;
  address: string;
  port: number;
  transport: TransportSettings;
}

export interface VlessLink extends LinkBase {
  protocol: 'vless';
  uuid: string;
}

export interface VmessLink extends LinkBase {
  protocol: 'vmess';
  uuid: string;
  /** `auto`, `aes-128-gcm`, `chacha20-poly1305`, `none`, `zero`. */
  security: string;
  alterId: number;
}

export interface ShadowsocksLink extends LinkBase {
  protocol: 'ss';
  method: string;
  password: string;
}

export type ShareLink = VlessLink | VmessLink | ShadowsocksLink;

function bad(message: string): SeamoonError {
  return new SeamoonError('BAD_ADDRESS', message);
}

/** Standard or URL-safe base64, padded or not. */
function decodeBase64(text: string): string {
  const normalized = text.trim().replace(/-/g, '+').replace(/_/g, '/').replace(/\s/g, '');
  if (!/^[A-Za-z0-9+/]*=*$/.test(normalized)) throw bad('share link payload is not base64');
  return Buffer.from(normalized, 'base64').toString('utf8');
}

function base64Url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function parsePort(text: string | number | undefined): number {
  const port =
    typeof text === 'number' ? text : /^\d{1,5}$/.test(String(text ?? '').trim()) ? Number(text) : Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`invalid port in share link: "${text}"`);
  return port;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function normalizePath(path: string | undefined, fallback: string): string {
  const value = (path ?? '').trim() || fallback;
  return value.startsWith('/') ? value : `/${value}`;
}

function fragmentName(url: URL): string | undefined {
  return url.hash.length > 1 ? decodeURIComponent(url.hash.slice(1)) : undefined;
}

function networkOf(value: string | undefined): 'ws' | 'tcp' {
  const network = (value ?? 'tcp').toLowerCase();
  if (network === 'ws' || network === 'websocket') return 'ws';
  if (network === 'tcp' || network === '') return 'tcp';
  throw new SeamoonError('UNSUPPORTED_COMMAND', `transport "${value}" is not supported (use ws or tcp)`);
}

function truthy(value: string | null | undefined): boolean {
  return value === '1' || value === 'true' || value === 'tls';
}

function parseVless(text: string): VlessLink {
  const url = new URL(text);
  const uuid = decodeURIComponent(url.username);
  if (!isUuid(uuid)) throw bad('vless link: the user part must be a UUID');
  const q = url.searchParams;
  const encryption = q.get('encryption');
  if (encryption && encryption !== 'none')
    throw bad(`vless link: encryption "${encryption}" is not supported`);
  const security = q.get('security') ?? 'none';
  if (security !== 'none' && security !== 'tls' && security !== '') {
    throw new SeamoonError('UNSUPPORTED_COMMAND', `vless link: security "${security}" is not supported`);
  }
  return {
    protocol: 'vless',
    uuid,
    address: stripBrackets(url.hostname),
    port: parsePort(url.port || '443'),
    name: fragmentName(url),
    transport: {
      network: networkOf(q.get('type') ?? 'tcp'),
      path: normalizePath(q.get('path') ?? undefined, '/'),
      host: q.get('host') || undefined,
      sni: q.get('sni') || undefined,
      tls: security === 'tls',
      insecure: truthy(q.get('allowInsecure')) || undefined,
    },
  };
}

interface V2rayNJson {
  v?: string;
  ps?: string;
  add?: string;
  port?: string | number;
  id?: string;
  aid?: string | number;
  scy?: string;
  net?: string;
  type?: string;
  host?: string;
  path?: string;
  tls?: string;
  sni?: string;
  insecure?: string;
}

function parseVmess(text: string): VmessLink {
  const payload = text.slice('vmess://'.length);
  const queryAt = payload.indexOf('?');
  const encoded = queryAt >= 0 ? payload.slice(0, queryAt) : payload;
  const decoded = decodeBase64(decodeURIComponent(encoded));
  if (decoded.trim().startsWith('{')) {
    let json: V2rayNJson;
    try {
      json = JSON.parse(decoded) as V2rayNJson;
    } catch {
      throw bad('vmess link: payload is not JSON');
    }
    if (!json.id || !isUuid(json.id)) throw bad('vmess link: "id" must be a UUID');
    if (!json.add) throw bad('vmess link: "add" (server address) is missing');
    return {
      protocol: 'vmess',
      uuid: json.id,
      alterId: Number(json.aid ?? 0) || 0,
      security: json.scy || 'auto',
      address: stripBrackets(json.add),
      port: parsePort(json.port),
      name: json.ps || undefined,
      transport: {
        network: networkOf(json.net),
        path: normalizePath(json.path, '/'),
        host: json.host || undefined,
        sni: json.sni || undefined,
        tls: json.tls === 'tls',
        insecure: truthy(json.insecure) || undefined,
      },
    };
  }
  // Shadowrocket's older form: base64(security:uuid@host:port) with query parameters.
  const match = decoded.match(/^([^:]+):([^@]+)@(.+):(\d+)$/);
  if (!match) throw bad('vmess link: payload is neither v2rayN JSON nor security:uuid@host:port');
  const [, security, uuid, host, port] = match;
  if (!isUuid(uuid)) throw bad('vmess link: the user part must be a UUID');
  const q = new URLSearchParams(queryAt >= 0 ? payload.slice(queryAt + 1) : '');
  const obfs = q.get('obfs');
  return {
    protocol: 'vmess',
    uuid,
    alterId: Number(q.get('alterId') ?? 0) || 0,
    security,
    address: stripBrackets(host),
    port: parsePort(port),
    name: q.get('remarks') || undefined,
    transport: {
      network: obfs === 'websocket' ? 'ws' : 'tcp',
      path: normalizePath(q.get('path') ?? undefined, '/'),
      host: q.get('obfsParam') || undefined,
      sni: q.get('peer') || undefined,
      tls: truthy(q.get('tls')),
      insecure: truthy(q.get('allowInsecure')) || undefined,
    },
  };
}

/** SIP003 plugin options: `name;key=value;flag`, with `\` escaping `;`, `=` and `\`. */
function splitPluginOptions(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && i + 1 < text.length) {
      current += text[++i];
    } else if (ch === ';') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

function parseSs(text: string): ShadowsocksLink {
  const body = text.slice('ss://'.length);
  const hashAt = body.indexOf('#');
  const name = hashAt >= 0 ? decodeURIComponent(body.slice(hashAt + 1)) || undefined : undefined;
  const main = hashAt >= 0 ? body.slice(0, hashAt) : body;
  let userInfo: string;
  let hostPart: string;
  let query = '';
  if (main.includes('@')) {
    const at = main.lastIndexOf('@');
    userInfo = main.slice(0, at);
    const rest = main.slice(at + 1);
    const queryAt = rest.indexOf('?');
    hostPart = (queryAt >= 0 ? rest.slice(0, queryAt) : rest).replace(/\/$/, '');
    query = queryAt >= 0 ? rest.slice(queryAt + 1) : '';
    const plain = decodeURIComponent(userInfo);
    // SIP002: base64url userinfo; SIP022 methods use plain percent-encoded method:password.
    userInfo = plain.includes(':') ? plain : decodeBase64(plain);
  } else {
    // Legacy: base64(method:password@host:port).
    const decoded = decodeBase64(main.replace(/\/$/, ''));
    const at = decoded.lastIndexOf('@');
    if (at < 0) throw bad('ss link: cannot find the server address');
    userInfo = decoded.slice(0, at);
    hostPart = decoded.slice(at + 1);
  }
  const colon = userInfo.indexOf(':');
  if (colon <= 0) throw bad('ss link: user info must be method:password');
  const hostMatch = hostPart.match(/^(\[[^\]]+\]|[^:]+):(\d+)$/);
  if (!hostMatch) throw bad(`ss link: invalid server address "${hostPart}"`);
  const transport: TransportSettings = { network: 'tcp', path: '/', tls: false };
  const plugin = new URLSearchParams(query).get('plugin');
  if (plugin) {
    const [pluginName, ...options] = splitPluginOptions(plugin);
    if (pluginName !== 'v2ray-plugin' && pluginName !== 'ss-v2ray-plugin') {
      throw new SeamoonError('UNSUPPORTED_COMMAND', `ss link: plugin "${pluginName}" is not supported`);
    }
    transport.network = 'ws';
    for (const option of options) {
      const eq = option.indexOf('=');
      const key = eq >= 0 ? option.slice(0, eq) : option;
      const value = eq >= 0 ? option.slice(eq + 1) : '';
      if (key === 'mode' && value !== 'websocket') {
        throw new SeamoonError(
          'UNSUPPORTED_COMMAND',
          `ss link: v2ray-plugin mode "${value}" is not supported`,
        );
      }
      if (key === 'path') transport.path = normalizePath(value, '/');
      if (key === 'host') transport.host = value || undefined;
      if (key === 'tls') transport.tls = true;
    }
  }
  return {
    protocol: 'ss',
    method: userInfo.slice(0, colon),
    password: userInfo.slice(colon + 1),
    address: stripBrackets(hostMatch[1]),
    port: parsePort(hostMatch[2]),
    name,
    transport,
  };
}

export function parseShareLink(text: string): ShareLink {
  const input = text.trim();
  const scheme = input.slice(0, input.indexOf('://') + 3).toLowerCase();
  try {
    if (scheme === 'vless://') return parseVless(input);
    if (scheme === 'vmess://') return parseVmess(input);
    if (scheme === 'ss://') return parseSs(input);
  } catch (err) {
    if (err instanceof SeamoonError) throw err;
    throw bad(`malformed share link: ${err instanceof Error ? err.message : String(err)}`);
  }
  throw bad('not a vless://, vmess:// or ss:// share link');
}

function formatVless(link: VlessLink): string {
  const t = link.transport;
  const q = new URLSearchParams({ encryption: 'none', type: t.network, security: t.tls ? 'tls' : 'none' });
  if (t.network === 'ws') q.set('path', t.path);
  if (t.host) q.set('host', t.host);
  if (t.sni) q.set('sni', t.sni);
  if (t.insecure) q.set('allowInsecure', '1');
  const name = link.name ? `#${encodeURIComponent(link.name)}` : '';
  return `vless://${link.uuid}@${bracketed(link.address)}:${link.port}?${q.toString().replace(/\+/g, '%20')}${name}`;
}

function formatVmess(link: VmessLink): string {
  const t = link.transport;
  const json: V2rayNJson = {
    v: '2',
    ps: link.name ?? '',
    add: link.address,
    port: String(link.port),
    id: link.uuid,
    aid: String(link.alterId),
    scy: link.security,
    net: t.network,
    type: 'none',
    host: t.host ?? '',
    path: t.network === 'ws' ? t.path : '',
    tls: t.tls ? 'tls' : '',
    sni: t.sni ?? '',
  };
  return `vmess://${Buffer.from(JSON.stringify(json), 'utf8').toString('base64')}`;
}

function escapePluginValue(value: string): string {
  return value.replace(/[\\;=]/g, (ch) => `\\${ch}`);
}

function formatSs(link: ShadowsocksLink): string {
  const t = link.transport;
  let query = '';
  if (t.network === 'ws') {
    const options = ['v2ray-plugin', 'mode=websocket', `path=${escapePluginValue(t.path)}`];
    if (t.tls) options.push('tls');
    if (t.host) options.push(`host=${escapePluginValue(t.host)}`);
    query = `/?plugin=${encodeURIComponent(options.join(';'))}`;
  }
  const name = link.name ? `#${encodeURIComponent(link.name)}` : '';
  return `ss://${base64Url(`${link.method}:${link.password}`)}@${bracketed(link.address)}:${link.port}${query}${name}`;
}

export function formatShareLink(link: ShareLink): string {
  if (link.protocol === 'vless') return formatVless(link);
  if (link.protocol === 'vmess') return formatVmess(link);
  return formatSs(link);
}

/** The link without its secret (UUID or password), for logs and stats. */
export function displayShareLink(link: ShareLink): string {
  const scheme = link.protocol === 'ss' ? 'ss' : link.protocol;
  const secure = link.transport.tls ? '+tls' : '';
  const path = link.transport.network === 'ws' ? link.transport.path : '';
  return `${scheme}+${link.transport.network}${secure}://${bracketed(link.address)}:${link.port}${path}`;
}
