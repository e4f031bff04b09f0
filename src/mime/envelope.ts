/**
 * IMAP ENVELOPE (RFC 3501 §7.4.2) from a message header, and its parenthesized wire form.
 *
 * Standards: RFC 3501 §7.4.2 (ENVELOPE fields, address structure, group syntax with NIL host), RFC 5322 §3.4
 * (address-list, group, angle-addr, obs-route), §3.6 (originator/destination fields), RFC 2047 (encoded words are
 * kept as they are, as IMAP servers send them).
 *
 * Untrusted input: header bytes (read as UTF-8; invalid sequences become U+FFFD). The address parser is lenient and
 * never throws; a mailbox without local part or domain gets "MISSING_MAILBOX" / "MISSING_DOMAIN" (as Dovecot) so a
 * NIL host always means group syntax. Like Dovecot, the last occurrence of a repeated field is used, and Sender and
 * Reply-To default to From. The Envelope is plain data (JSON-cacheable).
 */
import { humanString, nstringNoLf } from './imapstring.js';
import { scanHeader, unfold, type HeaderBlock } from './headers.js';

/** [name, adl (source route), mailbox, host]; a group start is [null, null, groupName, null], its end all null. */
export type Address = [name: string | null, adl: string | null, mailbox: string | null, host: string | null];

export interface Envelope {
  date: string | null;
  subject: string | null;
  from: Address[] | null;
  sender: Address[] | null;
  replyTo: Address[] | null;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/** Header limits: a single address header longer than this is cut (hostile messages). */
const MAX_ADDRESS_HEADER = 64 * 1024;
const MAX_ADDRESSES = 1000;

/** ENVELOPE of a raw message, or of just its header block (anything up to and including the blank line). */
export function buildEnvelope(raw: Buffer): Envelope {
  try {
    return buildEnvelopeFromBlock(raw, scanHeader(raw, 0, raw.length));
  } catch {
    return emptyEnvelope();
  }
}

function emptyEnvelope(): Envelope {
  return {
    date: null, subject: null, from: null, sender: null, replyTo: null,
    to: null, cc: null, bcc: null, inReplyTo: null, messageId: null,
  };
}

/** ENVELOPE from an already scanned header block (used by parseStructure for encapsulated messages). */
export function buildEnvelopeFromBlock(raw: Buffer, block: HeaderBlock): Envelope {
  const last = (name: string): string | null => {
    for (let i = block.fields.length - 1; i >= 0; i--) {
      const f = block.fields[i]!;
      if (f.name === name) {
        // Unfolded, leading whitespace removed; trailing whitespace kept as Dovecot does.
        const v = unfold(raw.toString('utf8', f.valueStart, f.end));
        let k = 0;
        while (k < v.length && (v.charCodeAt(k) === 0x20 || v.charCodeAt(k) === 0x09)) k++;
        return k === 0 ? v : v.slice(k);
      }
    }
    return null;
  };
  const addr = (name: string): Address[] | null => {
    const v = last(name);
    if (v === null) return null;
    const list = parseAddressList(v.length > MAX_ADDRESS_HEADER ? v.slice(0, MAX_ADDRESS_HEADER) : v);
    return list.length > 0 ? list : null;
  };
  const from = addr('from');
  return {
    date: last('date'),
    subject: last('subject'),
    from,
    sender: addr('sender') ?? from,
    replyTo: addr('reply-to') ?? from,
    to: addr('to'),
    cc: addr('cc'),
    bcc: addr('bcc'),
    inReplyTo: last('in-reply-to'),
    messageId: last('message-id'),
  };
}

type Tok = { t: 'atom' | 'q' | 'c' | 'dl'; v: string } | { t: 's'; v: string };

const SPECIALS = '<>@,;:[]';
/** The characters that end an atom (by char code, ASCII only: other characters are atom text). */
const ATOM_END = new Uint8Array(128);
for (const c of ' \t\r\n"()<>@,;:[]') ATOM_END[c.charCodeAt(0)] = 1;

function tokenize(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '"') {
      let v = '';
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i];
        i++;
      }
      i++;
      toks.push({ t: 'q', v });
    } else if (c === '(') {
      let depth = 1;
      let v = '';
      i++;
      while (i < s.length && depth > 0) {
        const d = s[i]!;
        if (d === '\\' && i + 1 < s.length) {
          v += s[i + 1];
          i += 2;
          continue;
        }
        if (d === '(') depth++;
        else if (d === ')' && --depth === 0) {
          i++;
          break;
        }
        v += d;
        i++;
      }
      toks.push({ t: 'c', v });
    } else if (c === '[') {
      const j = s.indexOf(']', i);
      const e = j < 0 ? s.length : j + 1;
      toks.push({ t: 'dl', v: s.slice(i, e) });
      i = e;
    } else if (SPECIALS.includes(c) || c === ')') {
      if (c !== ')') toks.push({ t: 's', v: c });
      i++;
    } else {
      let j = i;
      while (j < s.length && !ATOM_END[s.charCodeAt(j)]) j++;
      toks.push({ t: 'atom', v: s.slice(i, j) });
      i = j;
    }
  }
  return toks;
}

const isS = (t: Tok | undefined, v: string): boolean => t !== undefined && t.t === 's' && t.v === v;

function phrase(toks: Tok[]): string | null {
  const words = toks.filter((t) => t.t === 'atom' || t.t === 'q').map((t) => t.v);
  return words.length > 0 ? words.join(' ') : null;
}

/** RFC 5322 §3.4 address-list (lenient), giving RFC 3501 address structures with group markers. */
export function parseAddressList(value: string): Address[] {
  const toks = tokenize(value);
  const out: Address[] = [];
  let pos = 0;
  const n = toks.length;
  while (pos < n && out.length < MAX_ADDRESSES) {
    if (isS(toks[pos], ',') || isS(toks[pos], ';')) {
      pos++;
      continue;
    }
    // A group if ':' comes before any '<', '@', ',' or ';'.
    let j = pos;
    while (j < n && !(toks[j]!.t === 's' && ',;:<@'.includes(toks[j]!.v))) j++;
    if (j < n && isS(toks[j], ':')) {
      out.push([null, null, phrase(toks.slice(pos, j)) ?? '', null]);
      pos = j + 1;
      while (pos < n && !isS(toks[pos], ';') && out.length < MAX_ADDRESSES) {
        if (isS(toks[pos], ',')) {
          pos++;
          continue;
        }
        const [a, next] = parseMailbox(toks, pos, true);
        if (a) out.push(a);
        pos = next;
      }
      if (isS(toks[pos], ';')) pos++;
      out.push([null, null, null, null]);
    } else {
      const [a, next] = parseMailbox(toks, pos, false);
      if (a) out.push(a);
      pos = next;
    }
  }
  return out;
}

/** One mailbox (name-addr or addr-spec) from toks[pos]; stops at ',' (and ';' inside a group). */
function parseMailbox(toks: Tok[], pos: number, inGroup: boolean): [Address | null, number] {
  const item: Tok[] = [];
  let inAngle = false;
  while (pos < toks.length) {
    const t = toks[pos]!;
    if (t.t === 's') {
      if (!inAngle && (t.v === ',' || (inGroup && t.v === ';'))) break;
      if (t.v === '<') inAngle = true;
      if (t.v === '>') inAngle = false;
    }
    item.push(t);
    pos++;
  }
  if (item.length === 0) return [null, pos];
  const lt = item.findIndex((t) => isS(t, '<'));
  let name: string | null;
  let spec: Tok[];
  let adl: string | null = null;
  if (lt >= 0) {
    name = phrase(item.slice(0, lt));
    let gt = item.findIndex((t, k) => k > lt && isS(t, '>'));
    if (gt < 0) gt = item.length;
    spec = item.slice(lt + 1, gt);
    // obs-route: "@a,@b:" before the addr-spec.
    const colon = spec.findIndex((t) => isS(t, ':'));
    if (colon >= 0 && isS(spec[0], '@')) {
      adl = spec
        .slice(0, colon)
        .map((t) => t.v)
        .join('');
      spec = spec.slice(colon + 1);
    }
    if (spec.length === 0 && name === null) return [null, pos]; // "<>"
  } else {
    spec = item.filter((t) => t.t !== 'c');
    const comments = item.filter((t) => t.t === 'c');
    name = comments.length > 0 ? comments[comments.length - 1]!.v.trim() || null : null;
  }
  spec = spec.filter((t) => t.t !== 'c');
  const at = spec.findIndex((t) => isS(t, '@'));
  const localToks = at >= 0 ? spec.slice(0, at) : spec;
  const domainToks = at >= 0 ? spec.slice(at + 1) : [];
  const mailbox = localToks.map((t) => t.v).join('');
  const host = domainToks.map((t) => t.v).join('');
  return [[name, adl, mailbox || 'MISSING_MAILBOX', host || 'MISSING_DOMAIN'], pos];
}

function formatAddresses(list: Address[] | null): string {
  if (list === null || list.length === 0) return 'NIL';
  let s = '(';
  for (const [name, adl, mailbox, host] of list) {
    s += `(${humanString(name)} ${nstringNoLf(adl)} ${nstringNoLf(mailbox)} ${nstringNoLf(host)})`;
  }
  return s + ')';
}

/** The RFC 3501 §7.4.2 parenthesized ENVELOPE (may contain literals, so it is a protocol fragment, not a line). */
export function formatEnvelope(env: Envelope): string {
  return (
    '(' +
    [
      nstringNoLf(env.date),
      humanString(env.subject),
      formatAddresses(env.from),
      formatAddresses(env.sender),
      formatAddresses(env.replyTo),
      formatAddresses(env.to),
      formatAddresses(env.cc),
      formatAddresses(env.bcc),
      nstringNoLf(env.inReplyTo),
      nstringNoLf(env.messageId),
    ].join(' ') +
    ')'
  );
}
