import { SeamoonError } from '../../core/errors.js';
import { LocalProvider, type LocalProviderOptions } from '../../providers/local.js';
import type { ProviderDriver } from '../../providers/types.js';
import { ProviderTypes } from '../model.js';

/**
 * Provider type → driver. Drivers load lazily so a console that only uses `local` never
 * imports a cloud SDK. Adding a platform: implement ProviderDriver in src/providers/<name>.ts
 * and add one loader line here.
 */
export class ProviderRegistry {
  readonly #drivers = new Map<string, ProviderDriver>();
  readonly #loaders: Record<string, () => Promise<ProviderDriver>>;

  constructor(localOptions: LocalProviderOptions) {
    this.#loaders = {
      local: async () => new LocalProvider(localOptions),
    };
  }

  /** Types a provider may be created with (stored even without a driver, which sync reports). */
  static isKnownType(type: number): boolean {
    return type in ProviderTypes;
  }

  async driver(type: number): Promise<ProviderDriver> {
    const name = ProviderTypes[type];
    if (!name) throw new SeamoonError('BAD_REQUEST', `unknown provider type ${type}`);
    const existing = this.#drivers.get(name);
    if (existing) return existing;
    const load = this.#loaders[name];
    if (!load) {
      throw new SeamoonError('UNSUPPORTED_COMMAND', `provider "${name}" is not available in this version`);
    }
    const driver = await load();
    this.#drivers.set(name, driver);
    return driver;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#drivers.values()].map((d) => d.close()));
    this.#drivers.clear();
  }
}
