import { getConnInfo } from '@hono/node-server/conninfo';
import { type Context, Hono } from 'hono';
import { hashPassword, verifyPassword } from '../../passwords.js';
import { type AuthEnv, requireAuth } from '../auth.js';
import type { ApiContext } from '../context.js';
import { HttpError, ok, parseWith, readBody } from '../http.js';
import { loginSchema, passwordChangeSchema } from '../schemas.js';

function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // app.request() in tests has no socket.
    return 'local';
  }
}

let dummyHash: Promise<string> | undefined;

export function userRoutes(ctx: ApiContext): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();

  app.post('/login', async (c) => {
    const address = clientAddress(c);
    const wait = ctx.limiter.retryAfter(address);
    if (wait > 0) {
      c.header('Retry-After', String(wait));
      throw new HttpError(429, `too many failed logins; retry in ${wait} s`);
    }
    const body = parseWith(loginSchema, await readBody(c));
    const user = await ctx.repos.users.find(body.username);
    // Unknown users cost one hash too, so response time does not reveal which names exist.
    dummyHash ??= hashPassword('unknown-user');
    const valid = await verifyPassword(body.password, user ? user.password_hash : await dummyHash);
    if (!user || !valid) {
      ctx.limiter.fail(address);
      ctx.log.warn({ address }, 'failed console login');
      throw new HttpError(401, 'wrong username or password');
    }
    ctx.limiter.succeed(address);
    await ctx.repos.users.recordLogin(user.id, address);
    return ok(c, await ctx.tokens.issue(user.username));
  });

  app.put('/passwd', requireAuth(ctx.tokens), async (c) => {
    const body = parseWith(passwordChangeSchema, await readBody(c));
    // The user comes from the token, never from the body (the original trusted the body).
    const user = await ctx.repos.users.find(c.get('username'));
    if (!user) throw new HttpError(401, 'user no longer exists');
    if (!(await verifyPassword(body.old_password, user.password_hash))) {
      throw new HttpError(403, 'old_password: does not match');
    }
    await ctx.repos.users.setPassword(user.id, await hashPassword(body.password));
    await ctx.tokens.rotate();
    return ok(c, await ctx.tokens.issue(user.username));
  });

  return app;
}
