/**
 * Not-authenticated state: STARTTLS (RFC 3501 §6.2.1, RFC 2595), AUTHENTICATE PLAIN (RFC 3501 §6.2.2, RFC 4616,
 * SASL-IR RFC 4959), LOGIN (RFC 3501 §6.2.3). Plaintext authentication only over TLS (or loopback, per config):
 * otherwise LOGINDISABLED and "NO [PRIVACYREQUIRED]". Failures are delayed by the shared LoginThrottle; the answer
 * never tells whether the user exists.
 */
import type { AuthenticateCommand, LoginCommand, SimpleCommand } from '../../../protocol/imap/index.js';
import { untagged, atom } from '../../../protocol/imap/index.js';
import { bad, no } from '../errors.js';
import { NOT_AUTH, type Handler } from './types.js';
import type { ImapSession } from '../session.js';
import { sleep } from '../../../auth/throttle.js';

export const STARTTLS: Handler<SimpleCommand> = {
  states: NOT_AUTH,
  async run(s, cmd) {
    if (s.tls) throw bad('TLS is already active');
    if (!s.ctx.secureContext) throw no('STARTTLS is not available');
    await s.startTls(cmd.tag);
    return null;
  },
};

async function login(s: ImapSession, username: string, password: string): Promise<string> {
  if (!s.authAllowed()) throw no('Plaintext authentication is disabled: use STARTTLS or port 993', 'PRIVACYREQUIRED');
  const t = s.ctx.throttle;
  if (t.isLockedOut(s.remoteAddress, username)) {
    await sleep(t.fail(s.remoteAddress, username, 'imap'));
    throw no('Authentication failed', 'AUTHENTICATIONFAILED');
  }
  const user = await s.ctx.accounts.authenticate(username, password);
  if (!user) {
    const delay = t.fail(s.remoteAddress, username, 'imap');
    s.log.info({ conn: s.id, client: s.remoteAddress, user: username.slice(0, 100), result: 'auth-failed' }, 'imap login failed');
    await sleep(delay);
    throw no('Authentication failed', 'AUTHENTICATIONFAILED');
  }
  const open = s.ctx.userSessions.get(user.id) ?? 0;
  if (open >= s.ctx.limits.maxConnectionsPerUser) {
    throw no(`Too many connections for this user (${open})`, 'LIMIT');
  }
  t.succeed(s.remoteAddress, user.address);
  s.ctx.userSessions.set(user.id, open + 1);
  s.socket.once('close', () => {
    const n = (s.ctx.userSessions.get(user.id) ?? 1) - 1;
    if (n <= 0) s.ctx.userSessions.delete(user.id);
    else s.ctx.userSessions.set(user.id, n);
  });
  await s.loggedIn(user);
  s.log.info({ conn: s.id, client: s.remoteAddress, user: user.address, tls: s.tls, result: 'login' }, 'imap login');
  s.write(untagged(atom('CAPABILITY'), ...s.capabilities().map(atom)));
  return 'Logged in';
}

export const LOGIN: Handler<LoginCommand> = {
  states: NOT_AUTH,
  async run(s, cmd) {
    return login(s, cmd.username, cmd.password);
  },
};

export const AUTHENTICATE: Handler<AuthenticateCommand> = {
  states: NOT_AUTH,
  async run(s, cmd) {
    if (cmd.mechanism.toUpperCase() !== 'PLAIN') throw no(`Unsupported authentication mechanism ${cmd.mechanism}`);
    if (!s.authAllowed()) throw no('Plaintext authentication is disabled: use STARTTLS or port 993', 'PRIVACYREQUIRED');
    let resp = cmd.initialResponse;
    if (resp === undefined) {
      const line = await s.readLine('');
      if (line === null) return null;
      resp = line;
    }
    if (resp === '*') throw bad('Authentication cancelled');
    if (resp === '=') resp = '';
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(resp)) throw bad('Invalid base64 in SASL response');
    const parts = Buffer.from(resp, 'base64').toString('utf8').split('\0');
    if (parts.length !== 3) throw bad('Malformed SASL PLAIN response');
    const [authz, authc, password] = parts as [string, string, string];
    if (authz && authz !== authc) throw no('Proxy authorization is not supported', 'AUTHORIZATIONFAILED');
    return login(s, authc, password);
  },
};
