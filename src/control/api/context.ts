import type { Logger } from '../../core/logger.js';
import type { EventBus } from '../lifecycle/events.js';
import type { Lifecycle, Repos } from '../lifecycle/lifecycle.js';
import type { StatsHub } from '../stats-hub.js';
import type { LoginLimiter, TokenService } from './auth.js';

/** Everything the routes need, built once by the console. */
export interface ApiContext {
  repos: Repos;
  lifecycle: Lifecycle;
  events: EventBus;
  stats: StatsHub;
  tokens: TokenService;
  limiter: LoginLimiter;
  log: Logger;
  /** Directory of the static console page (`web/`). */
  webDir?: string;
}
