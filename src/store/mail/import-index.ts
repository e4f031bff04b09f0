/**
 * Index writes for importing mail from another server with its IMAP identity kept (`mailwright import maildir`):
 * set a mailbox's UIDVALIDITY/UIDNEXT and insert messages with given UIDs. Portable SQL (SQLite, MySQL/MariaDB,
 * PostgreSQL); the caller copies (and fsyncs) the files into <mailbox>/cur/<base>:2,<mdflags> before inserting
 * their rows, as the store's invariant requires.
 *
 * Run while no server has the mailbox open (the CLI import runs beside a stopped server): a running MailStore
 * caches UIDVALIDITY per mailbox and would assign its own UIDs to files it finds before their rows exist.
 */
import { sql } from 'kysely';
import type { Db } from '../sql/db.js';

export interface ImportedRow {
  uid: number;
  base: string;
  mdflags: string;
  sysflags: number;
  keywords: string;
  internaldate: number;
  size: number;
}

export interface ImportTarget {
  mailboxId: number;
  /** 'keep': the source's UIDs are used; 'renumber': the mailbox had other messages, new UIDs are assigned. */
  mode: 'keep' | 'renumber';
  uidValidity: number;
  /** Messages already in the mailbox before this run (a resumed import counts its earlier progress here). */
  existing: number;
}

const CHUNK = 400;

/**
 * Give an empty mailbox the source's UIDVALIDITY and UIDNEXT (an interrupted import of the same source finds the
 * UIDVALIDITY already set and resumes). A mailbox that already holds other messages keeps its identity: the
 * imported messages are then renumbered.
 */
export async function prepareImportMailbox(db: Db, mailboxId: number, src: { uidValidity: number; uidNext: number }): Promise<ImportTarget> {
  return db.transaction().execute(async (trx) => {
    const mb = await trx.selectFrom('mail_mailboxes').select(['uidvalidity', 'uidnext', 'user_key']).where('id', '=', mailboxId).executeTakeFirstOrThrow();
    const n = Number(
      (await trx.selectFrom('mail_messages').select(({ fn }) => fn.countAll<number>().as('n')).where('mailbox_id', '=', mailboxId).executeTakeFirst())?.n ?? 0,
    );
    const uv = Number(mb.uidvalidity);
    if (src.uidValidity > 0 && uv === src.uidValidity) return { mailboxId, mode: 'keep', uidValidity: uv, existing: n };
    if (n > 0 || !(src.uidValidity > 0)) return { mailboxId, mode: 'renumber', uidValidity: uv, existing: n };
    await trx.deleteFrom('mail_expunged').where('mailbox_id', '=', mailboxId).execute();
    await trx
      .updateTable('mail_mailboxes')
      .set((eb) => ({ uidvalidity: src.uidValidity, uidnext: Math.max(1, src.uidNext), highestmodseq: eb('highestmodseq', '+', 1) }))
      .where('id', '=', mailboxId)
      .execute();
    // Keep later UIDVALIDITY values of this user above the imported one.
    await trx
      .updateTable('mail_users')
      .set({ last_uidvalidity: sql<number>`case when last_uidvalidity > ${src.uidValidity} then last_uidvalidity else ${src.uidValidity} end` })
      .where('user_key', '=', mb.user_key)
      .execute();
    return { mailboxId, mode: 'keep', uidValidity: src.uidValidity, existing: 0 };
  });
}

/** Which of `bases` the mailbox already has (resume: these were imported by an earlier run). */
export async function existingBases(db: Db, mailboxId: number, bases: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < bases.length; i += CHUNK) {
    const part = bases.slice(i, i + CHUNK);
    const rows = await db.selectFrom('mail_messages').select('base').where('mailbox_id', '=', mailboxId).where('base', 'in', part).execute();
    for (const r of rows) out.add(r.base);
  }
  return out;
}

/**
 * Insert imported messages in one transaction with one new MODSEQ. Rows with uid 0 (not in the source's UID list,
 * or renumber mode, or a UID already taken by another message) get UIDs from UIDNEXT; UIDNEXT ends above every UID.
 * Returns the UIDs given, in the order of `rows`.
 */
export async function insertImported(db: Db, target: ImportTarget, rows: ImportedRow[]): Promise<number[]> {
  if (!rows.length) return [];
  const id = target.mailboxId;
  return db.transaction().execute(async (trx) => {
    const wanted = target.mode === 'keep' ? rows.filter((r) => r.uid > 0).map((r) => r.uid) : [];
    const taken = new Set<number>();
    for (let i = 0; i < wanted.length; i += CHUNK) {
      const hit = await trx.selectFrom('mail_messages').select('uid').where('mailbox_id', '=', id).where('uid', 'in', wanted.slice(i, i + CHUNK)).execute();
      for (const h of hit) taken.add(Number(h.uid));
    }
    const keepUid = (r: ImportedRow) => target.mode === 'keep' && r.uid > 0 && !taken.has(r.uid);
    const fresh = rows.filter((r) => !keepUid(r)).length;
    const maxKept = rows.reduce((m, r) => (keepUid(r) ? Math.max(m, r.uid) : m), 0);
    // UIDNEXT above the kept UIDs first, then reserve `fresh` new ones after it.
    await trx
      .updateTable('mail_mailboxes')
      .set((eb) => ({
        highestmodseq: eb('highestmodseq', '+', 1),
        uidnext: sql<number>`case when uidnext > ${maxKept + 1} then uidnext else ${maxKept + 1} end + ${fresh}`,
      }))
      .where('id', '=', id)
      .execute();
    const mb = await trx.selectFrom('mail_mailboxes').select(['uidnext', 'highestmodseq']).where('id', '=', id).executeTakeFirstOrThrow();
    const modseq = Number(mb.highestmodseq);
    let next = Number(mb.uidnext) - fresh;
    const uids = rows.map((r) => (keepUid(r) ? r.uid : next++));
    const values = rows.map((r, i) => ({
      mailbox_id: id,
      uid: uids[i]!,
      modseq,
      sysflags: r.sysflags,
      keywords: r.keywords,
      base: r.base,
      mdflags: r.mdflags,
      internaldate: r.internaldate,
      size: r.size,
      envelope: null,
      bodystructure: null,
    }));
    for (let i = 0; i < values.length; i += CHUNK) await trx.insertInto('mail_messages').values(values.slice(i, i + CHUNK)).execute();
    return uids;
  });
}

/** Message count per mailbox name of a user (the import summary's "after"). */
export async function countsByMailbox(db: Db, userKey: string): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('mail_mailboxes')
    .leftJoin('mail_messages', 'mail_messages.mailbox_id', 'mail_mailboxes.id')
    .select(['mail_mailboxes.name', ({ fn }) => fn.count<number>('mail_messages.uid').as('n')])
    .where('mail_mailboxes.user_key', '=', userKey)
    .groupBy('mail_mailboxes.name')
    .execute();
  return new Map(rows.map((r) => [r.name, Number(r.n)]));
}
