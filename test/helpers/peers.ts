/**
 * Remote SMTP peers for delivery tests, all on loopback addresses (127.0.0.2+) and OS-chosen ports:
 * - startSmtpSink(): Postfix's smtp-sink, dumping each transaction to a file (`messages()` parses the dumps).
 * - startPeer(): a small programmable SMTP server for what smtp-sink cannot do: greet 421/554, per-recipient
 *   replies, 4xx-then-250, drop mid-DATA, garbage replies, missing 8BITMIME/SMTPUTF8, slow replies, STARTTLS with a
 *   self-signed certificate or a broken handshake, AUTH PLAIN/LOGIN checking.
 * - startPostfix(): a private Postfix (own config/queue directories, `postfix -c DIR`) accepting mail for one
 *   virtual domain into Maildirs that the test reads.
 */
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, chmodSync, existsSync, rmSync, mkdirSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on host (bind to 0, read it, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(host: string, port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host, port }, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A self-signed certificate (EC P-256) made with openssl, cached for the process. */
let certCache: { key: string; cert: string } | null = null;
export function selfSignedCert(cn = 'mx.example.test'): { key: string; cert: string } {
  if (certCache) return certCache;
  const dir = mkdtempSync(join(tmpdir(), 'mw-cert-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', `/CN=${cn}`,
  ], { stdio: 'ignore' });
  certCache = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  rmSync(dir, { recursive: true, force: true });
  return certCache;
}

// ---------------------------------------------------------------------------------------------------------------
// smtp-sink

export interface SinkMessage {
  file: string;
  clientAddr: string;
  helo: string;
  mailArgs: string;
  rcptArgs: string[];
  /** The message as received (header and body, LF line ends as smtp-sink writes them; dot-stuffing removed). */
  data: string;
}

export interface SmtpSink {
  host: string;
  port: number;
  dir: string;
  messages(): SinkMessage[];
  close(): Promise<void>;
}

/**
 * Start smtp-sink on host:port (port chosen free). `args` are extra smtp-sink options, e.g. ['-8'] (no 8BITMIME),
 * ['-p'] (no PIPELINING), ['-r', 'RCPT'] (4xx to RCPT), ['-f', 'MAIL'] (5xx to MAIL), ['-Q', 'DATA'] (421 and
 * disconnect after DATA), ['-q', '.'] (disconnect without reply after the end of data).
 */
export async function startSmtpSink(opts: { host?: string; port?: number; args?: string[] } = {}): Promise<SmtpSink> {
  const host = opts.host ?? '127.0.0.2';
  const dir = mkdtempSync(join(tmpdir(), 'mw-sink-'));
  chmodSync(dir, 0o777); // smtp-sink writes as nobody
  const port = opts.port ?? (await freePort(host));
  const child = spawn('smtp-sink', ['-u', 'nobody', '-d', `${dir}/%M.`, ...(opts.args ?? []), `${host}:${port}`, '100'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    await waitForPort(host, port);
  } catch (e) {
    child.kill();
    throw new Error(`smtp-sink did not start: ${stderr} ${(e as Error).message}`);
  }
  return {
    host,
    port,
    dir,
    messages() {
      return readdirSync(dir)
        .sort()
        .map((f) => parseSinkDump(join(dir, f)));
    },
    close: () => stopChild(child).then(() => rmSync(dir, { recursive: true, force: true })),
  };
}

function parseSinkDump(file: string): SinkMessage {
  const text = readFileSync(file, 'latin1');
  const lines = text.split('\n');
  const m: SinkMessage = { file, clientAddr: '', helo: '', mailArgs: '', rcptArgs: [], data: '' };
  let i = 0;
  for (; i < lines.length; i++) {
    const l = lines[i]!;
    const h = /^(X-[A-Za-z-]+): (.*)$/.exec(l);
    if (h) {
      if (h[1] === 'X-Client-Addr') m.clientAddr = h[2]!;
      else if (h[1] === 'X-Helo-Args') m.helo = h[2]!;
      else if (h[1] === 'X-Mail-Args') m.mailArgs = h[2]!;
      else if (h[1] === 'X-Rcpt-Args') m.rcptArgs.push(h[2]!);
      continue;
    }
    if (l.startsWith('Received: ')) {
      // the three-line Received header smtp-sink adds marks the end of its own headers
      i++;
      while (i < lines.length && /^\s/.test(lines[i]!)) i++;
      break;
    }
  }
  // the dump ends with one extra empty line
  m.data = Buffer.from(lines.slice(i).join('\n').replace(/\n\n$/, '\n'), 'latin1').toString('utf8');
  return m;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 2000).unref();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// programmable peer

export interface PeerSession {
  id: number;
  remoteAddress: string;
  tls: boolean;
  auth: string | null;
  helo: string;
  /** Commands received in this session, in order (AUTH data hidden). */
  commands: string[];
  /** Transactions completed (end of data) in this session. */
  messages: number;
}

export interface PeerMessage {
  session: number;
  mailFrom: string;
  mailParams: string;
  rcptTo: string[];
  /** The data as received, dot-stuffing removed, CRLF kept. */
  data: Buffer;
  tls: boolean;
  auth: string | null;
}

/** What a hook returns: a reply line(s) to send, 'drop' to close the connection without a reply, or undefined for the default. */
export type HookReply = string | 'drop' | undefined;

export interface PeerOptions {
  /** Address to listen on (default 127.0.0.3; "::1" for IPv6). */
  host?: string;
  /** Port (default: chosen by the OS). Several peers can share one port on different addresses. */
  port?: number;
  /** Greeting line (default "220 peer.example.test ESMTP"); e.g. "421 4.3.2 busy" or "554 5.7.1 go away". */
  greeting?: string | ((s: PeerSession) => string);
  /** EHLO keywords (default PIPELINING 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES SIZE 50000000). */
  extensions?: string[];
  /** Offer STARTTLS with a self-signed certificate, or 'broken': answer 220 and then send garbage (failed handshake). */
  starttls?: boolean | 'broken';
  /** Implicit TLS from the first byte (port 465 style). */
  implicitTls?: boolean;
  /** Offer AUTH PLAIN LOGIN and accept only these credentials. */
  auth?: { user: string; pass: string };
  /** Refuse MAIL before AUTH (530 5.7.0). */
  requireAuth?: boolean;
  /** Per-command hooks; return undefined to get the default reply. */
  onMail?: (from: string, params: string, s: PeerSession) => HookReply;
  onRcpt?: (rcpt: string, s: PeerSession) => HookReply;
  /** Reply to the DATA command (default 354). */
  onDataCommand?: (s: PeerSession) => HookReply;
  /** Reply to the end of data (default "250 2.0.0 Ok: queued as Xn"). */
  onMessage?: (m: PeerMessage, s: PeerSession) => HookReply;
  /** Called for each chunk of data received in DATA mode; return 'drop' to drop the connection mid-DATA. */
  onDataChunk?: (bytesSoFar: number, s: PeerSession) => 'drop' | undefined;
  /** Delay (ms) before replying to a command verb ("GREETING", "EHLO", "MAIL", "RCPT", "DATA", "."). */
  delays?: Partial<Record<string, number>>;
}

export interface Peer {
  host: string;
  port: number;
  /** Sessions seen so far (connections accepted). */
  sessions: PeerSession[];
  /** Messages accepted (250 at end of data) and also those refused at end of data (see `accepted`). */
  messages: PeerMessage[];
  /** Highest number of simultaneous connections seen. */
  maxConcurrent: number;
  close(): Promise<void>;
}

export async function startPeer(opts: PeerOptions = {}): Promise<Peer> {
  const host = opts.host ?? '127.0.0.3';
  const extensions = opts.extensions ?? ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'SIZE 50000000'];
  const cert = opts.starttls || opts.implicitTls ? selfSignedCert() : null;
  const sessions: PeerSession[] = [];
  const messages: PeerMessage[] = [];
  const sockets = new Set<net.Socket>();
  let current = 0;
  const peer: Peer = { host, port: 0, sessions, messages, maxConcurrent: 0, close: async () => {} };
  let queued = 0;

  const handle = (raw: net.Socket) => {
    sockets.add(raw);
    current++;
    peer.maxConcurrent = Math.max(peer.maxConcurrent, current);
    // A session counts as active from accept until QUIT or close, whichever comes first.
    let active = true;
    const endActive = () => {
      if (active) {
        active = false;
        current--;
      }
    };
    raw.on('close', () => {
      sockets.delete(raw);
      endActive();
    });
    raw.on('error', () => {});
    const s: PeerSession = { id: sessions.length + 1, remoteAddress: raw.remoteAddress ?? '', tls: !!opts.implicitTls, auth: null, helo: '', commands: [], messages: 0 };
    sessions.push(s);
    let sock: net.Socket = raw;
    let buf = Buffer.alloc(0);
    let mode: 'cmd' | 'data' | 'auth-plain' | 'auth-login-user' | 'auth-login-pass' | 'dead' = 'cmd';
    let tx: { from: string; params: string; rcpts: string[] } | null = null;
    let dataChunks: Buffer[] = [];
    let dataBytes = 0;
    let loginUser = '';
    let chain: Promise<void> = Promise.resolve();

    const write = (text: string) => {
      if (mode !== 'dead' && !sock.destroyed) sock.write(text.endsWith('\r\n') ? text : text + '\r\n');
    };
    const drop = () => {
      mode = 'dead';
      sock.destroy();
      raw.destroy();
    };
    const delay = (verb: string) => new Promise<void>((r) => setTimeout(r, opts.delays?.[verb] ?? 0));
    const reply = async (verb: string, text: HookReply, dflt: string) => {
      await delay(verb);
      if (text === 'drop') return drop();
      write(text ?? dflt);
    };
    const checkCreds = (user: string, pass: string) => {
      if (opts.auth && user === opts.auth.user && pass === opts.auth.pass) {
        s.auth = user;
        return '235 2.7.0 Authentication successful';
      }
      return '535 5.7.8 Authentication credentials invalid';
    };

    const onLine = async (line: string) => {
      if (mode === 'auth-plain' || mode === 'auth-login-user' || mode === 'auth-login-pass') {
        s.commands.push('(auth data)');
        if (mode === 'auth-plain') {
          const [, user = '', pass = ''] = Buffer.from(line, 'base64').toString('utf8').split('\0');
          mode = 'cmd';
          return write(checkCreds(user, pass));
        }
        if (mode === 'auth-login-user') {
          loginUser = Buffer.from(line, 'base64').toString('utf8');
          mode = 'auth-login-pass';
          return write('334 UGFzc3dvcmQ6');
        }
        mode = 'cmd';
        return write(checkCreds(loginUser, Buffer.from(line, 'base64').toString('utf8')));
      }
      s.commands.push(line);
      const verb = line.split(' ')[0]!.toUpperCase();
      switch (verb) {
        case 'EHLO': {
          s.helo = line.slice(5);
          const ext = [...extensions];
          if (opts.starttls && !s.tls) ext.push('STARTTLS');
          if (opts.auth) ext.push('AUTH PLAIN LOGIN');
          const lines = ['peer.example.test', ...ext];
          await delay('EHLO');
          return write(lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join('\r\n'));
        }
        case 'HELO':
          s.helo = line.slice(5);
          return write('250 peer.example.test');
        case 'STARTTLS': {
          if (!opts.starttls || s.tls) return write('502 5.5.1 not offered');
          write('220 2.0.0 Ready to start TLS');
          if (opts.starttls === 'broken') {
            // not a TLS handshake: the client's handshake fails
            sock.write('this is not TLS\r\n\r\n');
            setTimeout(drop, 20);
            mode = 'dead';
            return;
          }
          sock.removeAllListeners('data');
          const t = new tls.TLSSocket(raw, { isServer: true, key: cert!.key, cert: cert!.cert });
          t.on('error', () => drop());
          sock = t;
          s.tls = true;
          buf = Buffer.alloc(0);
          t.on('data', onData);
          return;
        }
        case 'AUTH': {
          const [, mech = '', initial] = line.split(' ');
          if (!opts.auth) return write('502 5.5.1 AUTH not offered');
          if (mech.toUpperCase() === 'PLAIN') {
            if (initial) {
              const [, user = '', pass = ''] = Buffer.from(initial, 'base64').toString('utf8').split('\0');
              s.commands[s.commands.length - 1] = 'AUTH PLAIN (hidden)';
              return write(checkCreds(user, pass));
            }
            mode = 'auth-plain';
            return write('334 ');
          }
          if (mech.toUpperCase() === 'LOGIN') {
            mode = 'auth-login-user';
            return write('334 VXNlcm5hbWU6');
          }
          return write('504 5.5.4 mechanism not supported');
        }
        case 'MAIL': {
          if (opts.requireAuth && !s.auth) return reply('MAIL', undefined, '530 5.7.0 Authentication required');
          const m = /^MAIL FROM:<([^>]*)>\s*(.*)$/i.exec(line);
          if (!m) return write('501 5.5.4 syntax');
          const r = opts.onMail?.(m[1]!, m[2]!, s);
          if (r === undefined || r.startsWith('2')) tx = { from: m[1]!, params: m[2]!, rcpts: [] };
          return reply('MAIL', r, '250 2.1.0 Ok');
        }
        case 'RCPT': {
          const m = /^RCPT TO:<([^>]*)>/i.exec(line);
          if (!tx) return write('503 5.5.1 need MAIL');
          if (!m) return write('501 5.5.4 syntax');
          const r = opts.onRcpt?.(m[1]!, s);
          if (r === undefined || r.startsWith('2')) tx.rcpts.push(m[1]!);
          return reply('RCPT', r, '250 2.1.5 Ok');
        }
        case 'DATA': {
          if (!tx || tx.rcpts.length === 0) return reply('DATA', undefined, '554 5.5.1 Error: no valid recipients');
          const r = opts.onDataCommand?.(s);
          if (r === undefined || r.startsWith('3')) {
            mode = 'data';
            dataChunks = [];
            dataBytes = 0;
          }
          return reply('DATA', r, '354 End data with <CR><LF>.<CR><LF>');
        }
        case 'RSET':
          tx = null;
          return write('250 2.0.0 Ok');
        case 'NOOP':
          return write('250 2.0.0 Ok');
        case 'QUIT':
          endActive();
          write('221 2.0.0 Bye');
          sock.end();
          return;
        default:
          return write('502 5.5.2 Error: command not recognized');
      }
    };

    const finishData = async (data: Buffer) => {
      mode = 'cmd';
      const msg: PeerMessage = {
        session: s.id,
        mailFrom: tx!.from,
        mailParams: tx!.params,
        rcptTo: tx!.rcpts,
        data: Buffer.from(data.toString('latin1').replace(/^\.\./gm, '.'), 'latin1'),
        tls: s.tls,
        auth: s.auth,
      };
      tx = null;
      const r = opts.onMessage?.(msg, s);
      if (r === undefined || r.startsWith('2')) {
        messages.push(msg);
        s.messages++;
      }
      await reply('.', r, `250 2.0.0 Ok: queued as X${++queued}`);
    };

    function onData(chunk: Buffer) {
      if (mode === 'dead') return;
      buf = Buffer.concat([buf, chunk]);
      // process sequentially: replies keep their order even with delays
      chain = chain.then(async () => {
        while (mode !== 'dead') {
          if (mode === 'data') {
            const all = Buffer.concat([...dataChunks, buf]);
            if (opts.onDataChunk?.(all.length, s) === 'drop') return drop();
            const end = all.indexOf('\r\n.\r\n');
            const startEnd = all.length >= 3 && all.subarray(0, 3).toString() === '.\r\n' ? 0 : -1;
            if (startEnd === 0) {
              buf = all.subarray(3);
              dataChunks = [];
              await finishData(Buffer.alloc(0));
              continue;
            }
            if (end < 0) {
              dataChunks = [all];
              dataBytes = all.length;
              buf = Buffer.alloc(0);
              return;
            }
            buf = all.subarray(end + 5);
            dataChunks = [];
            await finishData(all.subarray(0, end + 2));
            continue;
          }
          const nl = buf.indexOf('\r\n');
          if (nl < 0) return;
          const line = buf.subarray(0, nl).toString('utf8');
          buf = buf.subarray(nl + 2);
          await onLine(line);
          if (sock !== raw && s.tls && buf.length && mode === 'cmd') continue;
        }
      });
    }
    void dataBytes;

    const start = async () => {
      const g = typeof opts.greeting === 'function' ? opts.greeting(s) : opts.greeting;
      await delay('GREETING');
      write(g ?? '220 peer.example.test ESMTP');
      if (g && !g.startsWith('220')) {
        // RFC 5321 §3.1: after a 554 greeting the server waits for QUIT; 421 closes at once
        if (g.startsWith('421')) setTimeout(() => sock.end(), 10);
      }
    };
    if (opts.implicitTls) {
      const t = new tls.TLSSocket(raw, { isServer: true, key: cert!.key, cert: cert!.cert });
      t.on('error', () => drop());
      sock = t;
      t.on('data', onData);
      t.once('secure', () => void start());
    } else {
      sock.on('data', onData);
      void start();
    }
  };

  const server = net.createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  peer.port = (server.address() as net.AddressInfo).port;
  peer.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return peer;
}

/** A port on host where nothing listens (connection refused). */
export async function closedPort(host = '127.0.0.4'): Promise<number> {
  return freePort(host);
}

// ---------------------------------------------------------------------------------------------------------------
// private Postfix

export interface PostfixPeer {
  host: string;
  port: number;
  dir: string;
  domain: string;
  /** Files in the user's Maildir (new/), contents as stored by Postfix (LF line ends). */
  maildir(user: string): { file: string; content: Buffer }[];
  /** Wait until the user's Maildir has at least n messages. */
  waitFor(user: string, n: number, ms?: number): Promise<{ file: string; content: Buffer }[]>;
  log(): string;
  stop(): Promise<void>;
}

/**
 * A private Postfix on host:port that accepts mail for `users`@`domain` into Maildirs under its own directory
 * (virtual mailbox delivery). Needs root (tests run as root) and the Debian postfix package.
 */
export async function startPostfix(opts: { host?: string; port?: number; domain?: string; users?: string[] } = {}): Promise<PostfixPeer> {
  const host = opts.host ?? '127.0.0.2';
  const domain = opts.domain ?? 'pf.example.test';
  const users = opts.users ?? ['u1'];
  const dir = mkdtempSync(join(tmpdir(), 'mw-postfix-'));
  chmodSync(dir, 0o755);
  const conf = join(dir, 'etc');
  const queue = join(dir, 'queue');
  const data = join(dir, 'data');
  const mail = join(dir, 'mail');
  for (const d of [conf, queue, data, mail]) mkdirSync(d, { recursive: true });
  const uid = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
  chownSync(mail, uid, gid);
  const pfUid = Number(execFileSync('id', ['-u', 'postfix']).toString().trim());
  chownSync(data, pfUid, 0);
  const port = opts.port ?? (await freePort(host));
  writeFileSync(join(conf, 'vmailbox'), users.map((u) => `${u}@${domain} ${u}/`).join('\n') + '\n');
  const main = {
    compatibility_level: '3.6',
    queue_directory: queue,
    data_directory: data,
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    myhostname: `postfix.${domain}`,
    mydomain: domain,
    mydestination: '',
    // Postfix wants inet_interfaces to be an interface address (127.0.0.2 is local but not on lo); master.cf binds host
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    virtual_mailbox_domains: domain,
    virtual_mailbox_base: mail,
    virtual_mailbox_maps: `texthash:${join(conf, 'vmailbox')}`,
    virtual_uid_maps: `static:${uid}`,
    virtual_gid_maps: `static:${gid}`,
    virtual_minimum_uid: '1',
    alias_maps: '',
    alias_database: '',
    smtputf8_enable: 'yes',
    smtpd_banner: '$myhostname ESMTP',
    maillog_file: join(dir, 'maillog'),
    maillog_file_prefixes: tmpdir(),
    smtpd_peername_lookup: 'no',
    smtp_dns_support_level: 'disabled',
    biff: 'no',
    shlib_directory: '/usr/lib/postfix',
    daemon_directory: '/usr/lib/postfix/sbin',
    command_directory: '/usr/sbin',
    meta_directory: '/etc/postfix',
  } as Record<string, string>;
  writeFileSync(join(conf, 'main.cf'), Object.entries(main).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  const services = [
    `${host}:${port} inet n - n - - smtpd`,
    'pickup    unix  n       -       n       60      1       pickup',
    'cleanup   unix  n       -       n       -       0       cleanup',
    'qmgr      unix  n       -       n       300     1       qmgr',
    'tlsmgr    unix  -       -       n       1000?   1       tlsmgr',
    'rewrite   unix  -       -       n       -       -       trivial-rewrite',
    'bounce    unix  -       -       n       -       0       bounce',
    'defer     unix  -       -       n       -       0       bounce',
    'trace     unix  -       -       n       -       0       bounce',
    'verify    unix  -       -       n       -       1       verify',
    'flush     unix  n       -       n       1000?   0       flush',
    'proxymap  unix  -       -       n       -       -       proxymap',
    'proxywrite unix -       -       n       -       1       proxymap',
    'smtp      unix  -       -       n       -       -       smtp',
    'relay     unix  -       -       n       -       -       smtp',
    'showq     unix  n       -       n       -       -       showq',
    'error     unix  -       -       n       -       -       error',
    'retry     unix  -       -       n       -       -       error',
    'discard   unix  -       -       n       -       -       discard',
    'local     unix  -       n       n       -       -       local',
    'virtual   unix  -       n       n       -       -       virtual',
    'lmtp      unix  -       -       n       -       -       lmtp',
    'anvil     unix  -       -       n       -       1       anvil',
    'scache    unix  -       -       n       -       1       scache',
    'postlog   unix-dgram n  -       n       -       1       postlogd',
  ];
  writeFileSync(join(conf, 'master.cf'), services.join('\n') + '\n');
  // postfix reports fatal errors only to syslog or a terminal: run it under script(1) to see them
  const run = (args: string[]) =>
    execFileSync('script', ['-qec', ['postfix', '-c', conf, ...args].join(' '), '/dev/null'], { stdio: 'pipe' }).toString();
  try {
    run(['start']);
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`postfix start failed: ${(e as { stdout?: Buffer }).stdout?.toString() ?? ''} ${err.stderr?.toString() ?? err.message}`);
  }
  await waitForPort(host, port, 15_000);
  const maildir = (user: string) => {
    const nd = join(mail, user, 'new');
    if (!existsSync(nd)) return [];
    return readdirSync(nd)
      .sort()
      .map((f) => ({ file: join(nd, f), content: readFileSync(join(nd, f)) }));
  };
  return {
    host,
    port,
    dir,
    domain,
    maildir,
    async waitFor(user, n, ms = 15_000) {
      const end = Date.now() + ms;
      for (;;) {
        const list = maildir(user);
        if (list.length >= n) return list;
        if (Date.now() > end) throw new Error(`Postfix delivered ${list.length}/${n} messages to ${user}; log:\n${this.log()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    log: () => (existsSync(join(dir, 'maillog')) ? readFileSync(join(dir, 'maillog'), 'utf8') : ''),
    async stop() {
      try {
        run(['stop']);
      } catch {
        /* not running */
      }
      await new Promise((r) => setTimeout(r, 300));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
