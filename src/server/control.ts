/**
 * The control socket: a Unix socket at <dataDir>/control.sock (mode 0600, so only the server's user and root can
 * use it) through which the CLI asks the running server to act at once (queue flush/hold/release/delete/requeue).
 * One JSON request per line, one JSON response per line. When no server runs, the CLI acts on the files itself.
 */
import net from 'node:net';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { UserError } from '../common/errors.js';

export type ControlHandler = (req: { cmd: string; args?: Record<string, unknown> }) => Promise<unknown>;

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, 'control.sock');
}

export async function startControlServer(dataDir: string, handler: ControlHandler, log: Logger): Promise<() => Promise<void>> {
  const path = controlSocketPath(dataDir);
  await fsp.unlink(path).catch(() => {});
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', async (d: string) => {
      buf += d;
      if (buf.length > 1024 * 1024) return sock.destroy();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let res: unknown;
        try {
          const req = JSON.parse(line) as { cmd: string; args?: Record<string, unknown> };
          res = { ok: true, result: await handler(req) };
        } catch (err) {
          res = { ok: false, error: (err as Error).message };
        }
        sock.write(JSON.stringify(res) + '\n');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await fsp.chmod(path, 0o600);
  log.debug({ path }, 'control socket listening');
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      void fsp.unlink(path).catch(() => {});
    });
}

/** Send one request to a running server; null when none is listening. */
export async function controlRequest(dataDir: string, cmd: string, args: Record<string, unknown> = {}, timeoutMs = 10000): Promise<unknown | null> {
  const path = controlSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(path);
    let buf = '';
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error('the server did not answer on its control socket'));
    }, timeoutMs);
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(t);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(null);
      else reject(err);
    });
    sock.on('connect', () => sock.write(JSON.stringify({ cmd, args }) + '\n'));
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(t);
      sock.end();
      const res = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: unknown; error?: string };
      if (res.ok) resolve(res.result ?? {});
      else reject(new UserError(res.error ?? 'the server refused the request'));
    });
  });
}
