/**
 * IMAP URLs (RFC 5092) as CATENATE (RFC 4469 §5) uses them: a reference to a message or a part of one.
 *
 *   /INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2;PARTIAL=0.1024      (relative: this server, this user)
 *   imap://alice@mail.example.test/INBOX;UIDVALIDITY=385759045/;UID=20    (absolute)
 *
 * Grammar (RFC 5092 §11): imapurl-rel / imapurl; enc-mailbox [uidvalidity] iuid [isection] [ipartial];
 * uidvalidity = ";UIDVALIDITY=" nz-number; iuid = "/" ";UID=" nz-number; isection = "/" ";SECTION=" enc-section;
 * ipartial = "/" ";PARTIAL=" number ["." nz-number] (RFC 5550). Path parameters are case-insensitive; the mailbox
 * name is %-encoded UTF-8 (RFC 5092 §3.1). A search part ("?"), URLAUTH (RFC 4467) and anything else give null:
 * the server answers [BADURL]. Untrusted input: the whole string; never throws.
 */
export interface ImapUrl {
  /** For an absolute URL: the user (decoded) and host, which the server must check are its own. */
  user?: string;
  host?: string;
  mailbox: string;
  uidValidity?: number;
  uid: number;
  /** Section text as for BODY[...] ("1.2", "HEADER", "1.MIME"), decoded; undefined = the whole message. */
  section?: string;
  partial?: { start: number; length?: number };
}

const MAX_URL = 2048;

function pct(s: string): string | null {
  try {
    const bytes: number[] = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x25) {
        const h = s.slice(i + 1, i + 3);
        if (!/^[0-9A-Fa-f]{2}$/.test(h)) return null;
        bytes.push(parseInt(h, 16));
        i += 2;
      } else if (c > 0x20 && c < 0x7f) bytes.push(c);
      else return null;
    }
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
    return /[\0\r\n]/.test(text) ? null : text;
  } catch {
    return null;
  }
}

const NZ = /^[1-9][0-9]{0,9}$/;
const NUM = /^[0-9]{1,10}$/;

function nz(s: string): number | null {
  if (!NZ.test(s)) return null;
  const n = Number(s);
  return n <= 0xffffffff ? n : null;
}

export function parseImapUrl(url: string): ImapUrl | null {
  if (url.length === 0 || url.length > MAX_URL || url.includes('?')) return null;
  let rest = url;
  const out: Partial<ImapUrl> & { mailbox?: string } = {};
  const abs = /^imap:\/\/([^/]*)(\/.*)?$/i.exec(rest);
  if (abs) {
    const authority = abs[1]!;
    const at = authority.lastIndexOf('@');
    if (at < 0) return null; // a URL without a user is anonymous access: not ours to give
    const userinfo = authority.slice(0, at);
    const user = pct(userinfo.split(';')[0]!); // ";AUTH=..." is allowed and ignored
    const host = authority.slice(at + 1).replace(/:\d+$/, '');
    if (!user || !host) return null;
    out.user = user;
    out.host = host.toLowerCase();
    rest = abs[2] ?? '';
  }
  if (!rest.startsWith('/')) return null;
  rest = rest.slice(1);
  // enc-mailbox ends at the first ";" or "/;" (a "/" inside a mailbox name is the hierarchy separator).
  const semi = rest.indexOf(';');
  let mailboxPart = semi < 0 ? rest : rest.slice(0, semi);
  if (mailboxPart.endsWith('/')) mailboxPart = mailboxPart.slice(0, -1);
  const mailbox = pct(mailboxPart);
  if (!mailbox) return null;
  out.mailbox = mailbox;
  const params = semi < 0 ? '' : rest.slice(semi);
  // ";UIDVALIDITY=n" "/;UID=n" "/;SECTION=s" "/;PARTIAL=a.b" (the "/" before ";" is optional when reading)
  const re = /^\/?;([A-Za-z]+)=([^/;]*)/;
  let p = params;
  const seen = new Set<string>();
  while (p.length) {
    const m = re.exec(p);
    if (!m) return null;
    const key = m[1]!.toUpperCase();
    if (seen.has(key)) return null;
    seen.add(key);
    const value = m[2]!;
    switch (key) {
      case 'UIDVALIDITY': {
        const n = nz(value);
        if (n === null) return null;
        out.uidValidity = n;
        break;
      }
      case 'UID': {
        const n = nz(value);
        if (n === null) return null;
        out.uid = n;
        break;
      }
      case 'SECTION': {
        const s = pct(value);
        if (!s) return null;
        out.section = s;
        break;
      }
      case 'PARTIAL': {
        const [a, b] = value.split('.');
        if (!NUM.test(a ?? '') || (b !== undefined && nz(b) === null)) return null;
        out.partial = { start: Number(a), ...(b !== undefined ? { length: Number(b) } : {}) };
        break;
      }
      default:
        return null; // URLAUTH, EXPIRE, ...: not supported
    }
    p = p.slice(m[0].length);
  }
  if (out.uid === undefined) return null; // CATENATE needs a message, not a mailbox
  return out as ImapUrl;
}
