import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Every secret-bearing field name we use is redacted at the logger, so a careless
 * `log.info({ token })` can never print one.
 */
const REDACT = [
  'token',
  'password',
  'secret',
  'authorization',
  '*.token',
  '*.password',
  '*.secret',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** File descriptor or path; stderr by default so stdout stays free for command output. */
  destination?: number | string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.SEAMOON_LOG_LEVEL ?? 'info';
  const destination = pino.destination({ dest: options.destination ?? 2, sync: false });
  return pino({ level, name: options.name, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

/** A logger that drops everything; handy for library callers that don't care. */
export const silentLogger: Logger = pino({ level: 'silent' });
