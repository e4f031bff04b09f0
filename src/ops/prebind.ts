/**
 * Sockets bound before the privilege drop (ports below 1024 need root), handed to the listeners afterwards.
 * Keyed by the configured "host:port". One server per process uses this (`mailwright serve` started as root).
 */
import net from 'node:net';

const bound = new Map<string, net.Server>();

/** Bind "host:port" now (as root); the listener that later listens on the same address takes the socket over. */
export async function prebind(addr: string, host: string, port: number): Promise<net.Server> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host, port, exclusive: true }, () => {
      s.off('error', reject);
      resolve();
    });
  });
  bound.set(addr, s);
  return s;
}

export function takePrebound(addr: string): net.Server | undefined {
  const s = bound.get(addr);
  bound.delete(addr);
  return s;
}

/** Close sockets nobody took (start failed). */
export function releasePrebound(): void {
  for (const s of bound.values()) s.close();
  bound.clear();
}
