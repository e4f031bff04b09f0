/**
 * Queue ids: every accepted message gets one; it appears in the 250 reply, the Received header and every log line
 * about the message. Time-ordered (base-36 milliseconds) plus randomness, like Postfix's long queue ids.
 */
import { randomBytes } from 'node:crypto';

export function newQueueId(now = Date.now()): string {
  const t = now.toString(36).toUpperCase().padStart(9, '0');
  const r = randomBytes(5).readUIntBE(0, 5).toString(36).toUpperCase().padStart(8, '0');
  return `${t}${r}`;
}
