import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { sign, verify } from 'hono/jwt';
import type { ConfigRepo } from '../db/repos/config.js';
import { HttpError } from './http.js';

const TOKEN_TTL_SECONDS = 12 * 60 * 60;
const JWT_SECRET_NAME = 'jwt_secret';
const ADMIN_TYPE = 2;

/**
 * Issues and checks console JWTs (HS256). The signing key is random per install and kept
 * (encrypted) in the database, so tokens survive a restart; changing the password rotates it,
 * which signs every existing session out.
 */
export class TokenService {
  #secret = '';

  constructor(private readonly config: ConfigRepo) {}

  async init(): Promise<void> {
    this.#secret = await this.config.appSecret(JWT_SECRET_NAME, () => randomBytes(32).toString('base64url'));
  }

  async rotate(): Promise<void> {
    const next = randomBytes(32).toString('base64url');
    await this.config.deleteAppSecret(JWT_SECRET_NAME);
    this.#secret = await this.config.appSecret(JWT_SECRET_NAME, () => next);
  }

  issue(username: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return sign(
      { sub: username, type: ADMIN_TYPE, iat: now, exp: now + TOKEN_TTL_SECONDS },
      this.#secret,
      'HS256',
    );
  }

  /** The username of a valid admin token, or undefined. */
  async check(token: string): Promise<string | undefined> {
    try {
      const claims = await verify(token, this.#secret, 'HS256');
      if (claims.type !== ADMIN_TYPE || typeof claims.sub !== 'string') return undefined;
      return claims.sub;
    } catch {
      return undefined;
    }
  }
}

/** `Authorization: Bearer <jwt>`, or the raw token as the original UI sends it. */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const value = header.trim();
  const match = /^Bearer\s+(.+)$/i.exec(value);
  return (match ? match[1] : value).trim() || undefined;
}

export type AuthEnv = { Variables: { username: string } };

export function requireAuth(tokens: TokenService): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const token = tokenFromHeader(c.req.header('authorization'));
    if (!token) throw new HttpError(401, 'authorization required: send Authorization: Bearer <token>');
    const username = await tokens.check(token);
    if (!username) throw new HttpError(401, 'invalid or expired token');
    c.set('username', username);
    await next();
  };
}

/**
 * Failed logins per client address in a sliding window: after `limit` failures within
 * `windowMs` further attempts get 429 until the oldest failure ages out.
 */
export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 5,
    private readonly windowMs = 60_000,
  ) {}

  /** Seconds to wait, or 0 when an attempt is allowed. */
  retryAfter(address: string, now = Date.now()): number {
    const recent = this.#recent(address, now);
    if (recent.length < this.limit) return 0;
    return Math.max(1, Math.ceil((recent[0] + this.windowMs - now) / 1000));
  }

  fail(address: string, now = Date.now()): void {
    const recent = this.#recent(address, now);
    recent.push(now);
    this.#failures.set(address, recent);
    // Bound memory if someone sprays from many addresses.
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value ?? '');
  }

  succeed(address: string): void {
    this.#failures.delete(address);
  }

  #recent(address: string, now: number): number[] {
    return (this.#failures.get(address) ?? []).filter((t) => now - t < this.windowMs);
  }
}
