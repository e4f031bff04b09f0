/**
 * Python's imaplib against LIST-EXTENDED/LIST-STATUS and BINARY (literal8 answers): imaplib sends the arguments as
 * given and parses "~{n}" literals like "{n}". COMPRESS with Python is in compress.test.ts (imaplib has no COMPRESS).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { startImapServer, addr } from '../helpers/imap.js';
import { MSG } from '../helpers/binary-sample.js';

const srv = await startImapServer({ users: ['alice'] });

async function python(script: string, ...args: string[]): Promise<{ stdout: string; stderr: string; status: number | null }> {
  // Asynchronously: the server runs in this process.
  const p = spawn('/usr/bin/python3', ['-c', script, ...args]);
  const r = { stdout: '', stderr: '', status: 0 as number | null };
  p.stdout.on('data', (d: Buffer) => (r.stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (r.stderr += d.toString()));
  [r.status] = (await once(p, 'exit')) as [number | null];
  return r;
}

test('imaplib: LIST ... RETURN (STATUS ...), LIST (SUBSCRIBED), FETCH BINARY, MULTIAPPEND via raw command', async (t) => {
  if (!existsSync('/usr/bin/python3')) return t.skip('python3 not available');
  const py = `
import imaplib, sys, json
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login('${addr('alice')}', 'secret')
out = {}
M.create('Bin')
typ, _ = M.append('Bin', None, None, open(sys.argv[2], 'rb').read())
out['append'] = typ
typ, data = M.list('""', '"B*" RETURN (STATUS (MESSAGES UNSEEN))')
out['list'] = [d.decode() for d in data]
out['liststatus'] = [d.decode() for d in M.untagged_responses.get('STATUS', [])]
typ, data = M.list('(SUBSCRIBED)', '"" "*"')
out['subscribed'] = [d.decode() for d in data if d]
M.select('Bin')
typ, data = M.fetch('1', '(BINARY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2])')
out['fetch'] = [[x.decode('latin1') for x in d] if isinstance(d, tuple) else d.decode('latin1') for d in data]
typ, data = M.fetch('1', '(BINARY.PEEK[3])')
out['unknown'] = typ
M.logout()
print(json.dumps(out))
`;
  const file = join(srv.ts.dataDir, 'bin-sample.eml');
  writeFileSync(file, MSG);
  const r = await python(py, String(srv.port), file);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(out.append, 'OK');
  assert.deepEqual(out.list, ['() "/" Bin']);
  assert.deepEqual(out.liststatus, ['Bin (MESSAGES 1 UNSEEN 1)']);
  assert.ok((out.subscribed as string[]).length >= 1);
  const fetch = out.fetch as unknown[];
  assert.deepEqual(fetch[0], ['1 (BINARY[1] ~{28}', 'Caf\xc3\xa9 softbreak = end\r\nline2']);
  assert.deepEqual(fetch[1], [' BINARY[2] ~{10}', '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09']);
  assert.equal(fetch[2], ' BINARY.SIZE[2] 10)');
  assert.equal(out.unknown, 'NO');
});
