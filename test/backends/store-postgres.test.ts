/**
 * The mail store tests (test/store/mail/*.test.ts), unchanged, against PostgreSQL: MW_TEST_DB selects the backend
 * in test/store/mail/helpers.ts; one scratch database for this process, dropped at the end.
 */
import { after } from 'node:test';
import { dropProcessScratch } from './scratch.js';

process.env.MW_TEST_DB = 'postgres';
after(() => dropProcessScratch());

await import('../store/mail/mailboxes.test.js');
await import('../store/mail/messages.test.js');
await import('../store/mail/sync.test.js');
await import('../store/mail/sort-keys.test.js');
await import('../store/mail/record-cache.test.js');
await import('../store/mail/lazy-scan.test.js');
await import('../store/mail/parse-cache.test.js');
