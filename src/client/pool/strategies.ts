import { randomInt } from 'node:crypto';
import { hostKind, type Target } from '../../core/address.js';
import { SeamoonError } from '../../core/errors.js';

/** What a strategy may look at when choosing among the tunnels currently in rotation. */
export interface Candidate {
  /** Position in the pool (stable for the pool's lifetime). */
  index: number;
  /** Last measured round trip; undefined until the first health check. */
  latencyMs?: number;
  /** App connections currently open through this tunnel. */
  active: number;
}

export interface Strategy {
  readonly name: StrategyName;
  /** Chooses one of `candidates` (never empty) for a connection to `target`. */
  pick(candidates: readonly Candidate[], target: Target): Candidate;
}

export const STRATEGY_NAMES = ['round-robin', 'random', 'sticky', 'least-latency'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export function isStrategyName(name: string): name is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(name);
}

/** Each new connection goes to the next tunnel in pool order (gost `round`). */
export class RoundRobinStrategy implements Strategy {
  readonly name = 'round-robin';
  #next = 0;

  pick(candidates: readonly Candidate[]): Candidate {
    // Walk the pool order, skipping tunnels out of rotation, so the order stays stable
    // while tunnels come and go.
    const sorted = [...candidates].sort((a, b) => a.index - b.index);
    const chosen = sorted.find((c) => c.index >= this.#next) ?? sorted[0];
    this.#next = chosen.index + 1;
    return chosen;
  }
}

export class RandomStrategy implements Strategy {
  readonly name = 'random';

  pick(candidates: readonly Candidate[]): Candidate {
    return candidates[randomInt(candidates.length)];
  }
}

/**
 * The site a host belongs to, so `www.example.com` and `login.example.com` share a tunnel
 * (one egress IP per site is what keeps sessions alive). A two-label guess with the common
 * `co.uk` / `com.cn` shapes; IP literals are their own site.
 */
export function siteOf(host: string): string {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (hostKind(name) !== 'domain') return name;
  const labels = name.split('.');
  if (labels.length <= 2) return name;
  const tld = labels[labels.length - 1];
  const second = labels[labels.length - 2];
  const keep = tld.length === 2 && second.length <= 3 ? 3 : 2;
  return labels.slice(-keep).join('.');
}

interface StickyEntry {
  index: number;
  expiresAt: number;
}

/**
 * Same site → same tunnel for `ttlMs` after its last connection (mihomo `sticky-sessions`,
 * Surge `persistent`): sites that bind a login to an IP don't log users out. New sites
 * are spread round-robin; a site whose tunnel left the rotation moves to another one.
 */
export class StickyStrategy implements Strategy {
  readonly name = 'sticky';
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, StickyEntry>();
  readonly #spread = new RoundRobinStrategy();
  readonly #now: () => number;

  constructor(options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  pick(candidates: readonly Candidate[], target: Target): Candidate {
    const key = siteOf(target.host);
    const now = this.#now();
    const entry = this.#entries.get(key);
    let chosen = entry && entry.expiresAt > now ? candidates.find((c) => c.index === entry.index) : undefined;
    chosen ??= this.#spread.pick(candidates);
    // Re-insert so the map stays ordered by last use (oldest first) for eviction.
    this.#entries.delete(key);
    this.#entries.set(key, { index: chosen.index, expiresAt: now + this.#ttlMs });
    this.#evict(now);
    return chosen;
  }

  #evict(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && entry.expiresAt > now) break;
      this.#entries.delete(key);
    }
  }
}

/**
 * Lowest round trip wins; tunnels within `toleranceMs` of the best count as equal and share
 * the load by open connections (mihomo `url-test` tolerance), so one slightly faster
 * tunnel does not take everything. Tunnels never measured come last.
 */
export class LeastLatencyStrategy implements Strategy {
  readonly name = 'least-latency';
  readonly #toleranceMs: number;
  readonly #tieBreak = new RoundRobinStrategy();

  constructor(options: { toleranceMs?: number } = {}) {
    this.#toleranceMs = options.toleranceMs ?? 10;
  }

  pick(candidates: readonly Candidate[]): Candidate {
    const latency = (c: Candidate) => c.latencyMs ?? Number.POSITIVE_INFINITY;
    const best = Math.min(...candidates.map(latency));
    const near = candidates.filter(
      (c) => latency(c) <= best + this.#toleranceMs || best === Number.POSITIVE_INFINITY,
    );
    const fewest = Math.min(...near.map((c) => c.active));
    return this.#tieBreak.pick(near.filter((c) => c.active === fewest));
  }
}

export function createStrategy(name: string, options: { stickyTtlMs?: number } = {}): Strategy {
  switch (name) {
    case 'round-robin':
      return new RoundRobinStrategy();
    case 'random':
      return new RandomStrategy();
    case 'sticky':
      return new StickyStrategy({ ttlMs: options.stickyTtlMs });
    case 'least-latency':
      return new LeastLatencyStrategy();
    default:
      throw new SeamoonError('BAD_REQUEST', `unknown strategy "${name}" (use ${STRATEGY_NAMES.join(', ')})`);
  }
}
