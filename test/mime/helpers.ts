// Shared fixture loading for the MIME tests. Fixtures: test/fixtures/mime/*.eml; Dovecot's recorded answers:
// test/fixtures/mime/*.dovecot.json (produced by test/mime/record-dovecot.py, see its header).
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const FIXTURES = fileURLToPath(new URL('../fixtures/mime/', import.meta.url));

export function fixture(name: string): Buffer {
  return readFileSync(join(FIXTURES, name + '.eml'));
}

/** Dovecot counts a bare LF as CRLF, so comparisons with it use the CRLF form of a message. */
export function crlf(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

export type DovecotAnswers = Record<string, string | number | null | { base64: string } | { error: string }>;

export function dovecotFixtures(): string[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.dovecot.json'))
    .map((f) => f.slice(0, -'.dovecot.json'.length))
    .sort();
}

export function dovecotAnswers(name: string): DovecotAnswers {
  return JSON.parse(readFileSync(join(FIXTURES, name + '.dovecot.json'), 'utf8')) as DovecotAnswers;
}

export function answerBytes(v: DovecotAnswers[string]): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v && typeof v === 'object' && 'base64' in v) return Buffer.from(v.base64, 'base64');
  throw new Error('not a section answer: ' + JSON.stringify(v));
}
