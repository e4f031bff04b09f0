/**
 * Deterministic generator of a large, varied Maildir for the IMAP benchmark (seeded PRNG: the same seed and count
 * give byte-identical files and names).
 *
 * Mix: ~65% text/plain (some quoted-printable), ~20% multipart/alternative (text + HTML), ~15% multipart/mixed
 * with a base64 attachment (4-60 KB); random From (40 people), To, Subject (3-8 words from a 160-word list, ~4%
 * as RFC 2047 encoded words with non-ASCII), Message-ID, Date spread over two years (increasing with the file
 * order, with jitter). Files go to cur/ as "<time>.M<usec>P<pid>Q<i>.bench,S=<size>:2,<flags>" with ~70% \Seen,
 * ~5% \Flagged, ~8% \Answered; the file's mtime is the Date (INTERNALDATE for both servers).
 * Search markers: SUBJECT_WORD is an ordinary vocabulary word (in ~3% of subjects); BODY_WORD is put into the text
 * part of ~1% of the messages and nowhere else.
 */
import { mkdirSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

export const SUBJECT_WORD = 'invoice';
export const BODY_WORD = 'zanzibar';

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'account agenda alpha answer april archive array backup balance banner batch beta billing blue board budget build ' +
  'bundle cache calendar campaign candidate carbon catalog change chapter check client cloud cluster code coffee ' +
  'comment company config contract copy cost coupon course credit customer daily data deadline delivery demo design ' +
  'detail device digest discount draft driver editor email energy engine estimate event export feature feedback ' +
  'field figure file final finance forecast format forum friday garden gateway global green group guide hardware ' +
  'health holiday hotel idea image import index info ' +
  SUBJECT_WORD +
  ' issue item java journal kernel ' +
  'label launch league legal letter level license limit linux list logo lunch machine manual march market meeting ' +
  'memo menu message metric minutes mobile model monday monthly network news notice office online order outline ' +
  'package paper partner patch payment people period photo picture plan policy portal poster price print project ' +
  'proposal purchase quarter query question quote receipt record release remote report request review river ' +
  'roadmap salary sample schedule screen script search security server service session share signal site ' +
  'sprint staff status storage summary support survey system table target task team template ticket timeline ' +
  'today token training travel update upgrade vendor version video visit volume weekly window winter workshop'
).split(' ');

const NON_ASCII = ['Grüße', 'Müller', 'café', 'naïve', 'Überblick', 'señor', 'année', 'Zürich', 'smörgåsbord', 'Ærø'];
const FIRST = ['Anna', 'Ben', 'Clara', 'David', 'Eva', 'Felix', 'Greta', 'Hugo', 'Ida', 'Jonas', 'Karla', 'Leon', 'Mia', 'Noah', 'Olga', 'Paul', 'Rosa', 'Sam', 'Tina', 'Umar'];
const LAST = ['Meyer', 'Smith', 'Garcia', 'Rossi', 'Novak', 'Kim', 'Dubois', 'Jensen'];
const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.test', 'corp.example'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function rfc2822Date(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function encodedWord(s) {
  return `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

function wrap76(s, eol) {
  const out = [];
  for (let i = 0; i < s.length; i += 76) out.push(s.slice(i, i + 76));
  return out.join(eol);
}

/**
 * Writes `count` messages into `<dir>/cur` (creating dir/{cur,new,tmp}). Returns { files, bytes }.
 * `eol` is "\n" (what Dovecot, Postfix and mutt write into a Maildir) or "\r\n".
 */
export function generateMaildir(dir, { count, seed = 42, eol = '\n', start = Date.UTC(2024, 0, 1), spanDays = 730 } = {}) {
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
  const rnd = mulberry32(seed);
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  // 1 MiB of random bytes: attachments are slices of it (fast, still deterministic).
  const pool = Buffer.alloc(1 << 20);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE((rnd() * 4294967296) >>> 0, i);
  const person = () => {
    const f = pick(FIRST);
    const l = pick(LAST);
    return { name: `${f} ${l}`, addr: `${f.toLowerCase()}.${l.toLowerCase()}@${pick(DOMAINS)}` };
  };
  const sentence = (n) => {
    const w = [];
    for (let i = 0; i < n; i++) w.push(pick(WORDS));
    w[0] = w[0][0].toUpperCase() + w[0].slice(1);
    return w.join(' ') + '.';
  };
  const paragraphText = (lines, marker) => {
    const out = [];
    for (let i = 0; i < lines; i++) out.push(sentence(int(6, 12)));
    if (marker) out.splice(int(0, out.length), 0, `See you in ${BODY_WORD} next week.`);
    return out.join(eol);
  };
  const span = spanDays * 86400000;
  let bytes = 0;
  const pid = 4242;
  for (let i = 0; i < count; i++) {
    const t = Math.floor(start + (span * i) / count + rnd() * 3600000);
    const date = new Date(t);
    const from = person();
    const to = { name: 'Bench User', addr: 'bench@example.test' };
    let subject;
    if (rnd() < 0.04) subject = encodedWord(`${pick(NON_ASCII)} ${pick(WORDS)} ${pick(NON_ASCII)}`);
    else {
      const w = [];
      const n = int(3, 8);
      for (let k = 0; k < n; k++) w.push(pick(WORDS));
      subject = (rnd() < 0.2 ? 'Re: ' : '') + w.join(' ');
    }
    const marker = rnd() < 0.01;
    const lines = Math.max(2, Math.floor(Math.exp(rnd() * 4.5)) + 2); // 3..~90 lines, most short
    const text = paragraphText(lines, marker);
    const mid = `<${i}.${seed}.${t.toString(36)}@${from.addr.split('@')[1]}>`;
    const h = [
      `Return-Path: <${from.addr}>`,
      `Delivered-To: bench@example.test`,
      `Received: from mx.${from.addr.split('@')[1]} (mx.${from.addr.split('@')[1]} [192.0.2.${int(1, 254)}])${eol}\tby mail.example.test with ESMTPS id ${t.toString(36)}${i}${eol}\tfor <bench@example.test>; ${rfc2822Date(date)}`,
      `Message-ID: ${mid}`,
      `Date: ${rfc2822Date(date)}`,
      `From: "${from.name}" <${from.addr}>`,
      `To: ${to.name} <${to.addr}>`,
    ];
    if (rnd() < 0.3) h.push(`Cc: ${person().addr}`);
    h.push(`Subject: ${subject}`, 'MIME-Version: 1.0');
    const kind = rnd();
    let body;
    if (kind < 0.65) {
      if (rnd() < 0.2) {
        h.push('Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable');
        body = text.replace(/=/g, '=3D') + `${eol}${eol}--${eol}Gr=C3=BC=C3=9Fe`;
      } else {
        h.push('Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit');
        body = text;
      }
    } else if (kind < 0.85) {
      const b = `alt-${i}-${seed}`;
      h.push(`Content-Type: multipart/alternative; boundary="${b}"`);
      const html = `<html><body><p>${text.split(eol).join('</p>' + eol + '<p>')}</p></body></html>`;
      body = [
        'This is a multi-part message in MIME format.',
        `--${b}`,
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 7bit',
        '',
        text,
        `--${b}`,
        'Content-Type: text/html; charset=utf-8',
        'Content-Transfer-Encoding: 7bit',
        '',
        html,
        `--${b}--`,
        '',
      ].join(eol);
    } else {
      const b = `mix-${i}-${seed}`;
      h.push(`Content-Type: multipart/mixed; boundary="${b}"`);
      const size = int(4096, 61440);
      const off = int(0, pool.length - size);
      const name = `${pick(WORDS)}-${i}.${pick(['pdf', 'png', 'zip', 'docx'])}`;
      const type = name.endsWith('.pdf') ? 'application/pdf' : name.endsWith('.png') ? 'image/png' : 'application/octet-stream';
      body = [
        `--${b}`,
        'Content-Type: text/plain; charset=utf-8',
        '',
        text,
        `--${b}`,
        `Content-Type: ${type}; name="${name}"`,
        `Content-Disposition: attachment; filename="${name}"`,
        'Content-Transfer-Encoding: base64',
        '',
        wrap76(pool.toString('base64', off, off + size), eol),
        `--${b}--`,
        '',
      ].join(eol);
    }
    const msg = Buffer.from(h.join(eol) + eol + eol + body + (body.endsWith(eol) ? '' : eol), 'utf8');
    const r = rnd();
    let letters = r < 0.7 ? 'S' : '';
    if (rnd() < 0.05) letters = 'F' + letters;
    if (rnd() < 0.08) letters = letters.includes('S') ? letters.replace('S', 'RS') : 'R' + letters;
    const sec = Math.floor(t / 1000);
    const fname = `${sec}.M${(t % 1000) * 1000 + (i % 1000)}P${pid}Q${i}.bench,S=${msg.length}:2,${letters}`;
    const path = join(dir, 'cur', fname);
    writeFileSync(path, msg);
    utimesSync(path, sec, sec);
    bytes += msg.length;
  }
  return { files: count, bytes };
}

/** One ~4 KB message for APPEND (CRLF, as IMAP requires), distinct per n. */
export function appendMessage(n, size = 4096) {
  const rnd = mulberry32(1000003 + n);
  const words = [];
  const head =
    `From: Appender <appender@example.org>\r\nTo: bench@example.test\r\nSubject: append ${n} ${WORDS[n % WORDS.length]}\r\n` +
    `Date: ${rfc2822Date(new Date(Date.UTC(2026, 0, 1) + n * 1000))}\r\nMessage-ID: <append-${n}@example.org>\r\n` +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n';
  let len = head.length;
  let line = '';
  while (len < size - 2) {
    const w = WORDS[Math.floor(rnd() * WORDS.length)];
    if (line.length + w.length + 1 > 72) {
      words.push(line);
      len += line.length + 2;
      line = '';
    }
    line += (line ? ' ' : '') + w;
  }
  if (line) words.push(line);
  return Buffer.from(head + words.join('\r\n') + '\r\n');
}
