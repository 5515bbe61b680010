import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ZodType, z } from 'zod';

/** A client-facing failure: status + a message that tells the client what to fix. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (what: string, id: number) => new HttpError(404, `${what} ${id} not found`);

/** A lookup by id that answers 404 (`<what> <id> not found`) for an unknown id. */
export function loaderFor<T>(
  what: string,
  get: (id: number) => Promise<T | undefined>,
): (id: number) => Promise<T> {
  return async (id) => {
    const found = await get(id);
    if (found === undefined) throw notFound(what, id);
    return found;
  };
}

/** The original's envelopes: `{success, total, data}` and `{success: false, code, msg}`. */
export function ok(c: Context, data: unknown, total = 1) {
  return c.json({ success: true, total, data });
}

export function fail(c: Context, status: ContentfulStatusCode, msg: string) {
  return c.json({ success: false, code: status, msg }, status);
}

/** `path.to.field: message` for the first few issues, so a 400 names what is wrong. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ');
}

export function parseWith<T>(schema: ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpError(400, describeZodError(result.error));
  return result.data;
}

/**
 * Reads a JSON object body. The original's Go binding matched keys case-insensitively (its
 * login form posts `Username`), so top-level keys are lower-cased.
 */
export async function readBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body: not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'body: expected a JSON object');
  }
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k.toLowerCase(), v]));
}

const idSchema = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export function pathId(c: Context, name = 'id'): number {
  const raw = c.req.param(name) ?? '';
  const parsed = /^\d+$/.test(raw) ? idSchema.safeParse(raw) : undefined;
  if (!parsed?.success) throw new HttpError(400, `${name}: must be a positive integer`);
  return parsed.data;
}

const pageSchema = z.object({
  page: z.coerce.number().int().min(0).max(1_000_000).default(0),
  size: z.coerce.number().int().min(1).max(1000).default(10),
});

export function paging(c: Context): { offset: number; limit: number } {
  const { page, size } = parseWith(pageSchema, { page: c.req.query('page'), size: c.req.query('size') });
  return { offset: page * size, limit: size };
}
