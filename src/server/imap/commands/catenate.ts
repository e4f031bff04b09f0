/**
 * CATENATE URL parts (RFC 4469 §5): the bytes an IMAP URL (RFC 5092, parsed in protocol/imap/url.ts) points to,
 * taken from the logged-in user's own mailboxes only. Relative URLs ("/INBOX;UIDVALIDITY=1/;UID=3/;SECTION=1.2")
 * are resolved against this session; an absolute URL must name this user and this server (other users' data is
 * never reachable: the mailbox is opened through the store for `s.user`). Anything that does not resolve — bad
 * syntax, no such mailbox, UIDVALIDITY mismatch, no such UID, no such part, URLAUTH — is NO [BADURL url]
 * (Dovecot's form: the URL unquoted in the code); content beyond the room left in the message is NO [TOOBIG].
 * ;PARTIAL= (RFC 5550) is applied to the section. The referenced message is read whole (it is at most one message,
 * and a whole-message URL is checked against the room left before reading).
 */
import { parseImapUrl } from '../../../protocol/imap/index.js';
import { extractSection, findPart, parseSection, partial, parseStructure } from '../../../mime/index.js';
import type { ImapSession } from '../session.js';
import { no } from '../errors.js';

/** RFC 4469 §6 url-resp-text: no "]", no CR/LF; kept short. */
function badUrl(url: string, why: string) {
  const shown = url.replace(/[\]\r\n\0]/g, '').slice(0, 200);
  return no(why, `BADURL ${shown}`);
}

function sameUser(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export async function resolveUrl(s: ImapSession, url: string, room: number): Promise<Buffer> {
  const u = parseImapUrl(url);
  if (!u) throw badUrl(url, 'Invalid IMAP URL');
  if (u.user !== undefined) {
    const hosts = new Set([s.ctx.hostname.toLowerCase(), 'localhost', s.socket.localAddress ?? '', `[${s.socket.localAddress ?? ''}]`]);
    if (!sameUser(u.user, s.user!.address) || !hosts.has(u.host!)) throw badUrl(url, 'URL is not for this user on this server');
  }
  const mbx = await s.ctx.mail.openMailbox(s.user!, u.mailbox).catch(() => null);
  if (!mbx) throw badUrl(url, `Mailbox does not exist: ${u.mailbox}`);
  if (u.uidValidity !== undefined && (await mbx.counters()).uidValidity !== u.uidValidity) throw badUrl(url, 'Invalid UIDVALIDITY');
  const rec = await mbx.getMessage(u.uid);
  if (!rec) throw badUrl(url, 'Message not found');
  if (u.section === undefined && u.partial === undefined && rec.size > room) throw no('Message too large', 'TOOBIG');
  const raw = await mbx.readRecord(rec);
  if (!raw) throw badUrl(url, 'Message not found');
  let data = raw;
  if (u.section !== undefined) {
    const spec = parseSection(u.section);
    if (!spec) throw badUrl(url, 'Invalid section');
    const tree = parseStructure(raw);
    if (spec.part.length && !findPart(tree, spec.part)) throw badUrl(url, 'No such part');
    data = extractSection(raw, tree, spec);
  }
  if (u.partial) data = partial(data, u.partial.start, u.partial.length);
  if (data.length > room) throw no('Message too large', 'TOOBIG');
  return data;
}
