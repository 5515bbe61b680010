import type { TunnelStats } from './tunnel-pool.js';

function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)}MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)}GiB`;
}

/** One line per tunnel for `--stats` / SIGUSR1 (the URL never carries the token). */
export function formatTunnelStats(stats: TunnelStats): string {
  const health = stats.failing
    ? 'failing'
    : stats.healthy === undefined
      ? 'unchecked'
      : stats.healthy
        ? 'healthy'
        : 'unhealthy';
  const parts = [
    `tunnel ${stats.url}`,
    health,
    `latency=${stats.latencyMs === undefined ? '-' : `${Math.round(stats.latencyMs)}ms`}`,
    `active=${stats.active}`,
    `total=${stats.total}`,
    `failures=${stats.failures}`,
    `up=${bytes(stats.bytesUp)}`,
    `down=${bytes(stats.bytesDown)}`,
  ];
  if (stats.lastError && health !== 'healthy') parts.push(`error="${stats.lastError}"`);
  return parts.join(' ');
}
