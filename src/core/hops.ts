import { randomBytes } from 'node:crypto';

/**
 * A cascade forwards streams to its next server as a client would, so a chain that points back
 * at itself (s1 → s1, s1 → s2 → s1) would forward every stream forever. Each server therefore
 * has a random id, and every hop names the servers a stream already passed in this header
 * (WebSocket upgrade header, gRPC metadata); a server that finds itself there refuses.
 */
export const HOPS_HEADER = 'sm-hops';

/** Chains longer than this are refused even without a loop: no sane deployment needs more. */
export const MAX_HOPS = 8;

export function newHopId(): string {
  return randomBytes(6).toString('hex');
}

export function parseHops(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id.length > 0);
}

export function formatHops(hops: readonly string[]): string {
  return hops.join(',');
}

/** Why the server `self` must refuse a stream that came through `hops`; undefined = accept. */
export function hopRefusal(hops: readonly string[], self: string | undefined): string | undefined {
  if (self !== undefined && hops.includes(self)) {
    return 'cascade loop detected: the stream already passed this server';
  }
  if (hops.length > MAX_HOPS) return `cascade too long: the stream passed more than ${MAX_HOPS} servers`;
  return undefined;
}
