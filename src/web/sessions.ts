/**
 * In-memory sessions of the web admin and the self-service pages: random 32-byte ids (base64url), one CSRF token
 * per session, idle expiry. A restart logs everybody out (nothing is written to disk).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export type SessionKind = 'admin' | 'user';

export interface Session {
  id: string;
  kind: SessionKind;
  /** Admin name or mail address. */
  name: string;
  csrf: string;
  created: number;
  lastSeen: number;
  flash?: { kind: 'ok' | 'error'; text: string; secret?: string } | null;
}

export const randomToken = () => randomBytes(32).toString('base64url');

/** Constant-time comparison of two tokens. */
export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  constructor(
    private readonly idleMs: number,
    private readonly maxSessions = 10_000,
  ) {}

  create(kind: SessionKind, name: string, now = Date.now()): Session {
    if (this.sessions.size >= this.maxSessions) this.prune(now);
    if (this.sessions.size >= this.maxSessions) {
      // Drop the oldest (Map keeps insertion order).
      this.sessions.delete(this.sessions.keys().next().value!);
    }
    const s: Session = { id: randomToken(), kind, name, csrf: randomToken(), created: now, lastSeen: now };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session with this id (touching it), or undefined when unknown or idle too long. */
  get(id: string | undefined, now = Date.now()): Session | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (now - s.lastSeen > this.idleMs) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastSeen = now;
    return s;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session of a name (after a password change or removal). */
  destroyAll(kind: SessionKind, name: string, except?: string): void {
    for (const [id, s] of this.sessions) if (s.kind === kind && s.name === name && id !== except) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private prune(now: number) {
    for (const [id, s] of this.sessions) if (now - s.lastSeen > this.idleMs) this.sessions.delete(id);
  }
}
