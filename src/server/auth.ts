import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A fresh token for servers started without one: 24 random bytes, base64url (32 characters). */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Compares candidate tokens in constant time. Both sides are hashed first, so neither the
 * token's length nor a common prefix shows in the timing.
 */
export class TokenChecker {
  readonly #expected: Buffer | undefined;

  /** `undefined` = authentication is off (`--no-auth`): every candidate passes. */
  constructor(token: string | undefined) {
    this.#expected = token === undefined ? undefined : digest(token);
  }

  get enabled(): boolean {
    return this.#expected !== undefined;
  }

  matches(candidate: string | undefined): boolean {
    if (this.#expected === undefined) return true;
    if (candidate === undefined) return false;
    return timingSafeEqual(digest(candidate), this.#expected);
  }
}

/** What a request path and its Authorization header resolve to. */
export interface RouteAccess {
  /** The route name with any token prefix stripped (`socks5`, `_health`, ...); undefined if the path has no shape we serve. */
  route: string | undefined;
  /** The bearer token or the path token matched (always true when authentication is off). */
  authorized: boolean;
}

function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return match?.[1];
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Deeper paths than this are not ours; it also bounds the hashing work per request. */
const MAX_SEGMENTS = 8;

/**
 * Accepts `/route` (token in `Authorization: Bearer`) and `/<token>/route` (for clients that can
 * only set a path). Paths behind a reverse-proxy prefix (`/edge/route`, `/edge/<token>/route`)
 * work too: the last segment names the route, any earlier segment may carry the token. The
 * query string is ignored.
 */
export function resolveRouteAccess(
  url: string | undefined,
  authorization: string | undefined,
  checker: TokenChecker,
): RouteAccess {
  const path = (url ?? '/').split('?', 1)[0] ?? '/';
  const segments = path.split('/').filter((segment) => segment !== '');
  if (segments.length === 0 || segments.length > MAX_SEGMENTS) return { route: undefined, authorized: false };
  const route = decodeSegment(segments[segments.length - 1] ?? '');
  // Check every candidate, so the work done does not depend on where a match is.
  let authorized = checker.matches(bearerToken(authorization));
  for (const segment of segments.slice(0, -1)) {
    if (checker.matches(decodeSegment(segment))) authorized = true;
  }
  return { route, authorized };
}
