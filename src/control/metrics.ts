import type { LiveCounters } from './lifecycle/events.js';
import type { ProxyRecord, TunnelRecord } from './model.js';

/** Label values escaped as the exposition format requires (backslash, quote, newline). */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: string[];
}

/**
 * Prometheus text format (version 0.0.4) for proxies and tunnels: connections, bytes by
 * direction, tunnel latency and status. Names and ids only, never addresses or secrets.
 */
export function renderMetrics(
  proxies: ProxyRecord[],
  tunnels: TunnelRecord[],
  live: { proxies: LiveCounters[]; tunnels: LiveCounters[] },
): string {
  const families: Family[] = [
    {
      name: 'seamoon_proxy_up',
      help: 'Whether the local proxy is listening (1) or not (0).',
      type: 'gauge',
      samples: [],
    },
    {
      name: 'seamoon_proxy_connections',
      help: 'Open app connections of a local proxy.',
      type: 'gauge',
      samples: [],
    },
    {
      name: 'seamoon_proxy_bytes_total',
      help: 'Bytes relayed by a local proxy.',
      type: 'counter',
      samples: [],
    },
    {
      name: 'seamoon_tunnel_status',
      help: 'Tunnel status code (2 = active, 4 = error).',
      type: 'gauge',
      samples: [],
    },
    {
      name: 'seamoon_tunnel_connections',
      help: 'Open streams through a tunnel.',
      type: 'gauge',
      samples: [],
    },
    { name: 'seamoon_tunnel_bytes_total', help: 'Bytes carried by a tunnel.', type: 'counter', samples: [] },
    { name: 'seamoon_tunnel_latency_ms', help: 'Last health check round trip.', type: 'gauge', samples: [] },
  ];
  const [proxyUp, proxyConn, proxyBytes, tunnelStatus, tunnelConn, tunnelBytes, tunnelLatency] = families;
  for (const p of proxies) {
    const l = `id="${p.id}",proxy="${label(p.name)}"`;
    const running = live.proxies.find((r) => r.id === p.id);
    proxyUp.samples.push(`seamoon_proxy_up{${l}} ${running ? 1 : 0}`);
    proxyConn.samples.push(`seamoon_proxy_connections{${l}} ${running?.conn ?? 0}`);
    proxyBytes.samples.push(`seamoon_proxy_bytes_total{${l},direction="up"} ${p.out_bound}`);
    proxyBytes.samples.push(`seamoon_proxy_bytes_total{${l},direction="down"} ${p.in_bound}`);
  }
  for (const t of tunnels) {
    const l = `id="${t.id}",tunnel="${label(t.name)}"`;
    const running = live.tunnels.find((r) => r.id === t.id);
    tunnelStatus.samples.push(`seamoon_tunnel_status{${l}} ${t.status}`);
    tunnelConn.samples.push(`seamoon_tunnel_connections{${l}} ${running?.conn ?? 0}`);
    tunnelBytes.samples.push(`seamoon_tunnel_bytes_total{${l},direction="up"} ${running?.bytes_up ?? 0}`);
    tunnelBytes.samples.push(`seamoon_tunnel_bytes_total{${l},direction="down"} ${running?.bytes_down ?? 0}`);
    tunnelLatency.samples.push(`seamoon_tunnel_latency_ms{${l}} ${t.latency_ms}`);
  }
  return `${families
    .map((f) => [`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.samples].join('\n'))
    .join('\n')}\n`;
}
