/**
 * LIST and UIDL listings of a whole maildrop (RFC 1939 §5, §7), written in ~16 KB pieces by Maildrop.writeListing:
 * the same bytes as the multi-line response built whole, messages marked deleted left out, sizes with CRLF line
 * ends, UIDLs the Maildir base names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEnv, USER } from '../store/mail/helpers.js';
import { Maildrop } from '../../src/server/pop3/maildrop.js';
import { multiline } from '../../src/protocol/pop3/index.js';

test('writeListing gives the whole LIST and UIDL responses in pieces, without deleted messages', async () => {
  const env = await makeEnv();
  try {
    const inbox = await env.store.openMailbox(USER, 'INBOX');
    for (let i = 0; i < 2500; i++) {
      const body = `Subject: ${i}\r\n\r\n${'line\r\n'.repeat(i % 5)}`;
      writeFileSync(join(inbox.path, 'cur', `${1600000000 + i}.M${i}P1.host,S=${body.length}:2,S`), body);
    }
    const md = await Maildrop.open(inbox);
    for (const n of [1, 2, 700, 2500]) md.dele(n);
    const recs = await inbox.listMessages();
    const live = recs.map((r, i) => ({ n: i + 1, r })).filter(({ n }) => ![1, 2, 700, 2500].includes(n));
    const expect = {
      list: multiline('2496 messages (x octets)', live.map(({ n, r }) => `${n} ${r.size}`)),
      uidl: multiline('Unique-ID listing follows', live.map(({ n, r }) => `${n} ${r.base}`)),
    };
    for (const kind of ['list', 'uidl'] as const) {
      const pieces: string[] = [];
      md.writeListing(kind, kind === 'list' ? '2496 messages (x octets)' : 'Unique-ID listing follows', (p) => pieces.push(p));
      assert.equal(pieces.join(''), expect[kind], kind);
      assert.ok(pieces.length > 1, `${kind} in several pieces`);
      for (const p of pieces.slice(0, -1)) assert.ok(p.length >= 16 * 1024 && p.length < 17 * 1024, `${kind} piece of ${p.length}`);
    }
    const empty: string[] = [];
    const none = await Maildrop.open(await env.store.openMailbox(USER, 'Trash'));
    none.writeListing('uidl', 'Unique-ID listing follows', (p) => empty.push(p));
    assert.deepEqual(empty, ['+OK Unique-ID listing follows\r\n.\r\n']);
  } finally {
    await env.close();
  }
});
