/**
 * Remembers values (VMess auth IDs, Shadowsocks salts) for a fixed time so a second use is
 * detected. Entries are kept in insertion order, which is also expiry order, so expiring and
 * bounding are both "drop from the front". No Bloom filter: false positives would reject
 * honest clients.
 */
export class ReplayFilter {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #seen = new Map<string, number>();

  constructor(options: { ttlMs: number; maxEntries?: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries ?? 200_000;
    this.#now = options.now ?? Date.now;
  }

  /** True when `value` is new (and now remembered); false when it was seen within the window. */
  checkAndAdd(value: Buffer): boolean {
    const now = this.#now();
    this.#expire(now);
    const key = value.toString('base64');
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, now + this.#ttlMs);
    while (this.#seen.size > this.#maxEntries) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #expire(now: number): void {
    for (const [key, expiresAt] of this.#seen) {
      if (expiresAt > now) break;
      this.#seen.delete(key);
    }
  }
}
