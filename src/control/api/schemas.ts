import { isIP } from 'node:net';
import { z } from 'zod';
import { PROXY_TYPES, ProviderTypes, TUNNEL_TYPES } from '../model.js';

const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'at most 64 characters')
  .regex(/^[\p{L}\p{N} ._-]+$/u, 'letters, digits, space, dot, dash and underscore only');

/** The original sent ports as strings; accept both, but only digits. */
const port = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\d{1,5}$/, 'must be a number')
      .transform(Number),
  ])
  .pipe(z.number().int('must be an integer').min(0).max(65535, 'must be at most 65535'));

const ip = z
  .string()
  .trim()
  .refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address');
const id = z.number().int().positive();
const secret = z.string().max(8192);

export const cloudAuthSchema = z
  .object({
    access_key: secret.optional(),
    access_secret: secret.optional(),
    token: secret.optional(),
    kube_config: z
      .string()
      .max(256 * 1024)
      .optional(),
  })
  .strict();

const providerType = z
  .union([
    z.number().int(),
    z.string().transform((v, ctx) => {
      const entry = Object.entries(ProviderTypes).find(([, n]) => n === v.toLowerCase());
      if (!entry) {
        ctx.addIssue({ code: 'custom', message: `unknown provider type "${v}"` });
        return z.NEVER;
      }
      return Number(entry[0]);
    }),
  ])
  .refine((v) => v in ProviderTypes, 'unknown provider type');

export const providerCreateSchema = z.object({
  name,
  desc: z.string().max(500).default(''),
  type: providerType,
  regions: z.array(z.string().trim().min(1).max(64)).max(64).default([]),
  max_limit: z.number().int().min(0).max(10_000).default(0),
  cloud_auth: cloudAuthSchema.default({}),
});

export const providerUpdateSchema = providerCreateSchema
  .omit({ type: true })
  .partial()
  .extend({ cloud_auth: cloudAuthSchema.optional() });

export const tunnelConfigSchema = z
  .object({
    region: z.string().max(64).optional(),
    cpu: z.number().min(0).max(64).optional(),
    memory: z.number().int().min(0).max(65536).optional(),
    instance: z.number().int().min(0).max(10_000).optional(),
    fc_auth_type: z.number().int().min(1).max(7).optional(),
    ssr_crypt: z
      .enum(['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305', 'chacha20-ietf-poly1305'])
      .optional(),
    tls: z.boolean().optional(),
    tor: z.boolean().optional(),
    cascade_proxy: z.boolean().optional(),
    cascade_tunnel_id: z.number().int().min(0).optional(),
    cascade_addr: z.string().max(512).optional(),
    // Secrets: accepted on write, stored encrypted, never returned.
    ssr_pass: secret.optional(),
    v2ray_uid: z.uuid('must be a UUID').optional().or(z.literal('')),
    cascade_uid: secret.optional(),
    cascade_password: secret.optional(),
    token: z.string().min(16, 'at least 16 characters').max(512).optional(),
  })
  // The original UI sends a few fields the backend never used; ignore rather than reject them.
  .passthrough();

export const tunnelCreateSchema = z.object({
  provider_id: id,
  name,
  type: z.enum(TUNNEL_TYPES).default('websocket'),
  port: port.default(0),
  tunnel_config: tunnelConfigSchema.default({}),
});

export const tunnelUpdateSchema = z.object({
  name: name.optional(),
  port: port.optional(),
  tunnel_config: tunnelConfigSchema.optional(),
  /** 1/2 → (re)deploy, 3 → destroy the deployment. */
  status: z.union([z.literal(1), z.literal(2), z.literal(3)]).optional(),
});

export const proxyCreateSchema = z.object({
  name,
  type: z.enum(PROXY_TYPES).default('mixed'),
  listen_address: ip.default('127.0.0.1'),
  listen_port: port,
  allow_udp: z.boolean().default(false),
  tunnel_id: id.optional(),
  tunnel_ids: z.array(id).min(1).max(32).optional(),
  tunnel_create_api: tunnelCreateSchema.optional(),
});

export const proxyUpdateSchema = z.object({
  name: name.optional(),
  type: z.enum(PROXY_TYPES).optional(),
  listen_address: ip.optional(),
  listen_port: port.optional(),
  allow_udp: z.boolean().optional(),
  tunnel_id: id.optional(),
  tunnel_ids: z.array(id).min(1).max(32).optional(),
  /** 2 → start, 3 → stop. */
  status: z.union([z.literal(2), z.literal(3)]).optional(),
});

const bool = z.enum(['true', 'false'], 'must be "true" or "false"');

export const configUpdateSchema = z
  .object({
    control_addr: ip.optional(),
    control_port: z
      .string()
      .regex(/^\d{1,5}$/, 'must be a port number')
      .refine((v) => Number(v) <= 65535, 'must be at most 65535')
      .optional(),
    control_log: z.string().max(256).optional(),
    auto_start: bool.optional(),
    auto_sync: bool.optional(),
    speed_test_url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
    health_interval: z
      .string()
      .regex(/^\d{1,6}$/, 'must be a number of seconds')
      .optional(),
    version: z.string().optional(),
  })
  .strict();

export const loginSchema = z.object({
  username: z.string().min(1, 'required').max(64),
  password: z.string().min(1, 'required').max(1024),
});

export const passwordChangeSchema = z.object({
  old_password: z.string().min(1, 'required').max(1024),
  password: z.string().min(8, 'at least 8 characters').max(1024),
});
