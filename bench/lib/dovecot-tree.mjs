/**
 * A Dovecot-style Maildir for import tests and the import benchmark: generateMaildir's messages (cur/, flags in
 * the names) plus keyword letters, a dovecot-keywords file and a dovecot-uidlist (version 3) whose UIDs have gaps
 * (uid = 2*i + 1, as after expunges), UIDVALIDITY 1234567890 and UIDNEXT above the last UID.
 * Returns { count, uidValidity, uidByBase } (uidByBase only when keepMap is set: small trees).
 */
import { readdirSync, renameSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { generateMaildir } from './maildir-gen.mjs';

export const UIDVALIDITY = 1234567890;
export const KEYWORDS = ['$Label1', 'Project-X'];

export function makeDovecotTree(dir, { count, seed = 7, keepMap = false } = {}) {
  generateMaildir(dir, { count, seed });
  const names = readdirSync(join(dir, 'cur')).sort();
  const fd = openSync(join(dir, 'dovecot-uidlist'), 'w');
  writeSync(fd, `3 V${UIDVALIDITY} N${2 * names.length + 5} G0123456789abcdef0123456789abcdef\n`);
  const uidByBase = keepMap ? new Map() : null;
  let buf = '';
  names.forEach((name, i) => {
    let n = name;
    if (i % 7 === 0) {
      // keyword letters: a = $Label1, b = Project-X (after the system letters, ASCII order)
      const kw = i % 14 === 0 ? 'ab' : 'a';
      n = name + kw;
      renameSync(join(dir, 'cur', name), join(dir, 'cur', n));
    }
    const base = n.split(':')[0];
    const uid = 2 * i + 1;
    uidByBase?.set(base, { uid, name: n });
    buf += `${uid} W${1000 + i} :${base}\n`;
    if (buf.length > 1 << 16) {
      writeSync(fd, buf);
      buf = '';
    }
  });
  writeSync(fd, buf);
  closeSync(fd);
  writeFileSync(join(dir, 'dovecot-keywords'), KEYWORDS.map((k, i) => `${i} ${k}\n`).join(''));
  return { count: names.length, uidValidity: UIDVALIDITY, uidByBase };
}
