/**
 * TLS material for every listener: the configured certificate and key (tls.cert / tls.key), or, when none is
 * configured, a self-signed certificate for the hostname generated once into <dataDir>/tls/ (mode 0600).
 * A self-signed certificate is fine for testing and for opportunistic STARTTLS between MTAs; clients need a real
 * one (ACME comes with the production-operation issue).
 */
import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { UserError } from '../common/errors.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  certPath: string;
  keyPath: string;
  selfSigned: boolean;
  notAfter: Date;
}

export async function loadTls(opts: { hostname: string; dataDir: string; cert?: string; key?: string }): Promise<TlsMaterial> {
  if (opts.cert && opts.key) {
    let cert: Buffer, key: Buffer;
    try {
      cert = readFileSync(opts.cert);
    } catch (err) {
      throw new UserError(`tls.cert: cannot read ${opts.cert}: ${(err as Error).message}`, 2);
    }
    try {
      key = readFileSync(opts.key);
    } catch (err) {
      throw new UserError(`tls.key: cannot read ${opts.key}: ${(err as Error).message}`, 2);
    }
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
    } catch (err) {
      throw new UserError(`tls.cert: ${opts.cert} is not a PEM certificate: ${(err as Error).message}`, 2);
    }
    return { cert, key, certPath: opts.cert, keyPath: opts.key, selfSigned: false, notAfter: new Date(x509.validTo) };
  }
  const dir = join(opts.dataDir, 'tls');
  const certPath = join(dir, 'selfsigned-cert.pem');
  const keyPath = join(dir, 'selfsigned-key.pem');
  try {
    const cert = await fsp.readFile(certPath);
    const key = await fsp.readFile(keyPath);
    const x509 = new X509Certificate(cert);
    const sans = x509.subjectAltName ?? '';
    if (sans.includes(`DNS:${opts.hostname}`) && new Date(x509.validTo).getTime() > Date.now() + 7 * 86400_000) {
      return { cert, key, certPath, keyPath, selfSigned: true, notAfter: new Date(x509.validTo) };
    }
  } catch {
    /* none yet, or unreadable: make a new one */
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const notBefore = new Date(Date.now() - 3600_000);
  const pems = await generate([{ name: 'commonName', value: opts.hostname }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: new Date(notBefore.getTime() + 825 * 86400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: opts.hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  await fsp.writeFile(keyPath, pems.private, { mode: 0o600 });
  await fsp.writeFile(certPath, pems.cert, { mode: 0o644 });
  const x509 = new X509Certificate(pems.cert);
  return {
    cert: Buffer.from(pems.cert),
    key: Buffer.from(pems.private),
    certPath,
    keyPath,
    selfSigned: true,
    notAfter: new Date(x509.validTo),
  };
}
