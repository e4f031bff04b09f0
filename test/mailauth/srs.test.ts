/**
 * SRS (src/mailauth/srs.ts) as a unit: forward/reverse round trip, tampered hash, expired timestamp, SRS1 when
 * re-forwarding someone else's SRS0 (and SRS1) address, what is left alone, and the secret kept in the data dir.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Srs } from '../../src/mailauth/srs.js';

const DAY = 86400_000;
const a = new Srs(Buffer.alloc(32, 1), 'mx-a.example.test');
const b = new Srs(Buffer.alloc(32, 2), 'mx-b.example.net');

describe('SRS0', () => {
  test('forward gives SRS0=HHHH=TT=domain=local@our-domain; reverse gives the original back', () => {
    const f = a.forward('Alice.Smith@Sender.Example');
    assert.match(f, /^SRS0=[^=]{4}=[A-Z2-7]{2}=sender\.example=Alice\.Smith@mx-a\.example\.test$/);
    assert.ok(a.isSrs(f));
    assert.equal(a.reverse(f), 'Alice.Smith@sender.example');
    // case-insensitive: receivers may change the case of the local part
    assert.equal(a.reverse(f.toLowerCase()), 'alice.smith@sender.example');
    // a local part with "=" and "+" survives
    const g = a.forward('a=b+c@x.test');
    assert.equal(a.reverse(g), 'a=b+c@x.test');
  });

  test('the null sender and our own domain are not rewritten; non-SRS and foreign addresses do not reverse', () => {
    assert.equal(a.forward(''), '');
    assert.equal(a.forward('postmaster@mx-a.example.test'), 'postmaster@mx-a.example.test');
    assert.equal(a.forward('no-at-sign'), 'no-at-sign');
    assert.equal(a.reverse('alice@mx-a.example.test'), null);
    assert.equal(a.isSrs(b.forward('x@y.test')), false, 'another forwarder’s address is not ours');
    assert.equal(a.reverse(b.forward('x@y.test')), null);
  });

  test('a tampered hash, domain or local part is refused', () => {
    const f = a.forward('alice@sender.example');
    const [, h, tt, dom, local] = /^SRS0=([^=]{4})=([^=]{2})=([^=]+)=([^@]+)@/.exec(f)!;
    const other = h === 'AAAA' ? 'BBBB' : 'AAAA';
    assert.equal(a.reverse(`SRS0=${other}=${tt}=${dom}=${local}@mx-a.example.test`), null);
    assert.equal(a.reverse(`SRS0=${h}=${tt}=evil.example=${local}@mx-a.example.test`), null);
    assert.equal(a.reverse(`SRS0=${h}=${tt}=${dom}=mallory@mx-a.example.test`), null);
    assert.equal(a.reverse('SRS0=xxxx=AA=sender.example=alice@mx-a.example.test'), null);
    assert.equal(a.reverse('SRS0=garbage@mx-a.example.test'), null);
    // a different secret cannot mint our addresses
    const forged = new Srs(Buffer.alloc(32, 9), 'mx-a.example.test').forward('alice@sender.example');
    assert.equal(a.reverse(forged), null);
  });

  test('the timestamp expires after 21 days (and survives the 1024-day wrap)', () => {
    const t0 = Date.UTC(2026, 10, 27);
    const f = a.forward('alice@sender.example', t0);
    assert.equal(a.reverse(f, t0 + 20 * DAY), 'alice@sender.example');
    assert.equal(a.reverse(f, t0 + 21 * DAY), 'alice@sender.example');
    assert.equal(a.reverse(f, t0 + 22 * DAY), null);
    assert.equal(a.reverse(f, t0 + 400 * DAY), null);
    // day stamps are modulo 1024: a stamp from just before the wrap is still young just after it
    const wrap = Math.ceil(t0 / DAY / 1024) * 1024 * DAY;
    const g = a.forward('alice@sender.example', wrap - 2 * DAY);
    assert.equal(a.reverse(g, wrap + 3 * DAY), 'alice@sender.example');
  });
});

describe('SRS1 (re-forwarding)', () => {
  test('B re-forwards A’s SRS0 address: SRS1 keeps A’s domain; B reverses to A’s SRS0; A reverses to the original', () => {
    const s0 = a.forward('alice@sender.example');
    const s1 = b.forward(s0);
    assert.match(s1, /^SRS1=[^=]{4}=mx-a\.example\.test==[^=]{4}=[A-Z2-7]{2}=sender\.example=alice@mx-b\.example\.net$/);
    const back = b.reverse(s1);
    assert.equal(back?.toLowerCase(), s0.toLowerCase());
    assert.equal(a.reverse(back!), 'alice@sender.example');
    // a tampered SRS1 hash is refused
    const bad = s1.replace(/^SRS1=[^=]{4}=/, 'SRS1=ZZZZ=');
    assert.equal(b.reverse(bad), null);
  });

  test('a third forwarder re-forwarding B’s SRS1 address keeps the first hop, and reverses it', () => {
    const c = new Srs(Buffer.alloc(32, 3), 'mx-c.example.org');
    const s0 = a.forward('alice@sender.example');
    const s1 = b.forward(s0);
    const s1c = c.forward(s1);
    assert.match(s1c, /^SRS1=[^=]{4}=mx-a\.example\.test==[^=]{4}=[A-Z2-7]{2}=sender\.example=alice@mx-c\.example\.org$/);
    // reversal at C goes straight back to the first forwarder's SRS0 address (SRS1 skips B)
    const back = c.reverse(s1c);
    assert.equal(back?.toLowerCase(), s0.toLowerCase());
    assert.equal(a.reverse(back!), 'alice@sender.example');
  });
});

describe('Srs.open', () => {
  test('creates a 32-byte secret (mode 0600) once and reuses it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-srs-'));
    try {
      const s1 = await Srs.open(dir, 'MX-A.Example.Test');
      const secret = readFileSync(join(dir, 'srs.secret'));
      assert.equal(secret.length, 32);
      assert.equal(statSync(join(dir, 'srs.secret')).mode & 0o777, 0o600);
      assert.equal(s1.domain, 'mx-a.example.test');
      const f = s1.forward('alice@sender.example');
      const s2 = await Srs.open(dir, 'mx-a.example.test');
      assert.equal(s2.reverse(f), 'alice@sender.example', 'a restart keeps the secret');
      const [x, y] = await Promise.all([Srs.open(dir, 'h.test'), Srs.open(dir, 'h.test')]);
      assert.equal(x.forward('a@b.test'), y.forward('a@b.test'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
