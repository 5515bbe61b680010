import { SeamoonError } from '../../core/errors.js';

/** A parsed `ws[s]://host[:port][/prefix][?token=…]` tunnel URL. */
export interface WsEndpoint {
  secure: boolean;
  /** `host[:port]` as written (IPv6 in brackets). */
  authority: string;
  /** Path prefix without a trailing slash (`''` or `/edge`). */
  prefix: string;
  /** Query parameters other than `token`, passed on to every route (`''` or `?a=b`). */
  query: string;
  /** From the URL's `token` query parameter, if any. */
  token?: string;
  /** The URL without the token, for logs and stats. */
  displayUrl: string;
}

export function parseWsEndpoint(url: URL): WsEndpoint {
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new SeamoonError('BAD_ADDRESS', `a websocket tunnel needs ws:// or wss://, got "${url.protocol}"`);
  }
  if (url.hostname === '') throw new SeamoonError('BAD_ADDRESS', 'tunnel URL has no host');
  if (url.username !== '' || url.password !== '') {
    throw new SeamoonError('BAD_ADDRESS', 'put the tunnel token in --token, not in the URL user part');
  }
  const params = new URLSearchParams(url.search);
  const token = params.get('token') ?? undefined;
  params.delete('token');
  const rest = params.toString();
  const query = rest === '' ? '' : `?${rest}`;
  const prefix = url.pathname.replace(/\/+$/, '');
  const secure = url.protocol === 'wss:';
  return {
    secure,
    authority: url.host,
    prefix,
    query,
    token: token === '' ? undefined : token,
    displayUrl: `${url.protocol}//${url.host}${prefix}${query}`,
  };
}

/** The WebSocket URL of a server route (`socks5`, `socks5-udp`, `mux`, ...). */
export function routeUrl(endpoint: WsEndpoint, route: string): string {
  return `${endpoint.secure ? 'wss' : 'ws'}://${endpoint.authority}${endpoint.prefix}/${route}${endpoint.query}`;
}

/** The plain HTTP(S) URL of the server's health page. */
export function healthUrl(endpoint: WsEndpoint): string {
  return `${endpoint.secure ? 'https' : 'http'}://${endpoint.authority}${endpoint.prefix}/_health`;
}
