/**
 * gost's dead-node filter: a tunnel that failed `maxFails` times leaves the rotation for
 * `failTimeout` after its last failure, then gets one more chance; a success clears it.
 * (gost defaults: maxFails 1, failTimeout 10 s.)
 */
export class FailureTracker {
  readonly #maxFails: number;
  readonly #failTimeoutMs: number;
  readonly #now: () => number;
  #fails = 0;
  #lastFailAt = 0;

  constructor(options: { maxFails?: number; failTimeoutMs?: number; now?: () => number } = {}) {
    this.#maxFails = Math.max(1, options.maxFails ?? 1);
    this.#failTimeoutMs = options.failTimeoutMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  get fails(): number {
    return this.#fails;
  }

  recordFailure(): void {
    this.#fails += 1;
    this.#lastFailAt = this.#now();
  }

  recordSuccess(): void {
    this.#fails = 0;
  }

  /** True while the tunnel is out of rotation because of live failures. */
  isFailed(): boolean {
    return this.#fails >= this.#maxFails && this.#now() - this.#lastFailAt < this.#failTimeoutMs;
  }
}
