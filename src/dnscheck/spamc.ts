/**
 * A spamc client (the SPAMC/1.5 protocol of SpamAssassin's spamd, over TCP): REPORT gives the score, the
 * threshold and the rules that fired. spamd is Debian's `spamd` package (spamassassin); `--local` skips network
 * tests.
 */
import net from 'node:net';

export interface SpamRule {
  name: string;
  score: number;
  description: string;
}

export interface SpamResult {
  score: number;
  threshold: number;
  isSpam: boolean;
  rules: SpamRule[];
}

export function parseHostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  return { host: v.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(v.slice(i + 1)) };
}

/** Parses the "Content analysis details" table of a REPORT answer. */
export function parseReport(text: string): SpamRule[] {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => /^-{3,}\s+-{3,}/.test(l));
  if (start < 0) return [];
  const rules: SpamRule[] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s*(.*)$/.exec(line);
    if (m) rules.push({ score: Number(m[1]), name: m[2]!, description: m[3]!.trim() });
    else if (/^\s{5,}\S/.test(line) && rules.length) rules[rules.length - 1]!.description += ' ' + line.trim();
    else if (!line.trim()) continue;
  }
  return rules;
}

export function spamcReport(address: string, message: Buffer, timeoutMs = 15000): Promise<SpamResult> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => sock.destroy(new Error(`spamd at ${address} did not answer within ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => {
      sock.write(`REPORT SPAMC/1.5\r\nContent-length: ${message.length}\r\nUser: mailwright\r\n\r\n`);
      sock.end(message);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const status = /^SPAMD\/[\d.]+\s+(\d+)\s+(.*)\r?\n/.exec(text);
      if (!status) return reject(new Error(`spamd at ${address} gave no SPAMD answer`));
      if (status[1] !== '0') return reject(new Error(`spamd error ${status[1]} ${status[2]!.trim()}`));
      const spam = /\r?\nSpam:\s*(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*\/\s*(-?[\d.]+)/i.exec(text);
      if (!spam) return reject(new Error('spamd answer without a Spam: line'));
      const body = text.slice(text.search(/\r?\n\r?\n/) + 2);
      resolve({ isSpam: /true|yes/i.test(spam[1]!), score: Number(spam[2]), threshold: Number(spam[3]), rules: parseReport(body) });
    });
  });
}
