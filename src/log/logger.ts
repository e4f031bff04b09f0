/**
 * Structured logging (pino, one JSON object a line). Secrets are never passed to the logger; as a second guard,
 * fields named like secrets are redacted.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'mailwright' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', '*.password', 'pass', '*.pass', 'secret', '*.secret'], censor: '[redacted]' },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
