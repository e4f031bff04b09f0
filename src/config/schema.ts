/**
 * The configuration file's shape (YAML), validated with zod so that every error names its key.
 * docs/configuration.md documents each key; keep the two in step.
 */
import { z } from 'zod';
import { isFqdn } from '../common/address.js';

/** "host:port", "[v6]:port" or just ":port"; port 0 lets the OS pick (used by tests). */
export const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]*|[0-9a-fA-F:]+):\d{1,5}$/, 'expected "address:port", e.g. "0.0.0.0:25" or "[::]:25"')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0..65535');

const listener = z.union([listenAddress, z.literal(false), z.null()]).optional();

/** A next hop for outbound mail (relayhost, transportMap entries). */
const nextHop = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(25),
    /** opportunistic (default), starttls (required, certificate verified), implicit (TLS from the start), none. */
    tls: z.enum(['opportunistic', 'starttls', 'implicit', 'none']).default('opportunistic'),
    user: z.string().optional(),
    password: z.string().optional(),
  })
  .strict()
  .refine((h) => Boolean(h.user) === Boolean(h.password), 'user and password go together');

export const configSchema = z
  .object({
    hostname: z
      .string()
      .refine(isFqdn, 'must be a fully qualified domain name such as mail.example.com (the name in the SMTP banner, EHLO and Received; a wrong FQDN gets mail deferred)'),
    dataDir: z.string().min(1),
    database: z
      .string()
      .regex(/^(sqlite:|mysql:\/\/|mariadb:\/\/|postgres:\/\/|postgresql:\/\/)/, 'expected sqlite:PATH, mysql://... or postgres://...')
      .optional(),
    listen: z
      .object({
        smtp: listener,
        submission: listener,
        submissions: listener,
        imap: listener,
        imaps: listener,
        pop3: listener,
        pop3s: listener,
        http: listener,
        /** HTTPS with the server's certificate (same TLS contexts, SNI and reload as the mail listeners). */
        https: listener,
      })
      .strict()
      .default({}),
    dns: z
      .object({
        servers: z.array(z.string().min(1)).optional(),
        timeoutMs: z.number().int().min(100).max(60000).default(5000),
      })
      .strict()
      .default({ timeoutMs: 5000 }),
    tls: z
      .object({
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        /** More certificates chosen by SNI (e.g. mta-sts.DOMAIN, autoconfig.DOMAIN); "*.example.com" allowed. */
        certificates: z
          .array(z.object({ names: z.array(z.string().min(1)).min(1), cert: z.string().min(1), key: z.string().min(1) }).strict())
          .default([]),
        /** Reload the certificate files when they change (SIGHUP always reloads). */
        watch: z.boolean().default(true),
      })
      .strict()
      .refine((t) => Boolean(t.cert) === Boolean(t.key), 'cert and key go together: set both or neither')
      .default({ certificates: [], watch: true }),
    /** ACME (RFC 8555) certificates, e.g. from Let's Encrypt; stored in <dataDir>/acme/. */
    acme: z
      .object({
        directory: z.string().url('expected the ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory'),
        email: z.string().email().optional(),
        /** Names on the certificate; default: the hostname. */
        names: z.array(z.string().min(1)).optional(),
        challenge: z.enum(['http-01', 'tls-alpn-01']).default('http-01'),
        renewDays: z.number().min(1).max(90).default(30),
        /** PEM file of the CA that signed the ACME server's HTTPS certificate (private ACME servers). */
        caCert: z.string().optional(),
        /** A dedicated listener for tls-alpn-01 (port 443 for public CAs); implicit-TLS listeners answer too. */
        tlsAlpnListen: listenAddress.optional(),
      })
      .strict()
      .nullable()
      .default(null),
    /** Started as root: bind the ports, then run as this user (and its group, or `group`). */
    user: z.string().min(1).optional(),
    group: z.string().min(1).optional(),
    /** Graceful stop: how long running transactions may take before connections are cut. */
    shutdownTimeoutSeconds: z.number().min(0).max(3600).default(30),
    /** PROXY protocol v1/v2 (HAProxy, load balancers): accepted, and required, only from these sources. */
    proxyProtocol: z
      .object({
        trusted: z.array(z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'expected an address or CIDR such as 10.0.0.0/8')).default([]),
        timeoutSeconds: z.number().min(0.1).max(60).default(5),
      })
      .strict()
      .default({ trusted: [], timeoutSeconds: 5 }),
    /** Abuse limits per client address, on every listener. */
    limits: z
      .object({
        connectionsPerMinute: z.number().min(1).default(120),
        connectionBurst: z.number().int().min(1).default(40),
        commandsPerSecond: z.number().min(1).default(200),
        commandBurst: z.number().int().min(1).default(1000),
        /** Loopback clients (webmail, local scripts, a proxy on this host) are exempt from the rate limits. */
        exemptLoopback: z.boolean().default(true),
        /** Failed logins from one address within loginWindowSeconds before it is locked out. */
        loginFailuresPerIp: z.number().int().min(1).default(5),
        /** Failed logins to one account (from anywhere) before only known addresses may log in to it. */
        loginFailuresPerAccount: z.number().int().min(1).default(10),
        loginWindowSeconds: z.number().min(1).default(60),
        loginLockoutSeconds: z.number().min(1).default(900),
        /** A successful login is remembered this long (same user, password and stored hash skip the hash check); 0 = off. */
        authCacheSeconds: z.number().min(0).max(3600).default(300),
      })
      .strict()
      .default({
        connectionsPerMinute: 120,
        connectionBurst: 40,
        commandsPerSecond: 200,
        commandBurst: 1000,
        exemptLoopback: true,
        loginFailuresPerIp: 5,
        loginFailuresPerAccount: 10,
        loginWindowSeconds: 60,
        loginLockoutSeconds: 900,
        authCacheSeconds: 300,
      }),
    /** Client autoconfiguration (Thunderbird, Outlook, Apple) on listen.http. */
    autoconfig: z
      .object({ enabled: z.boolean().default(true), displayName: z.string().optional() })
      .strict()
      .default({ enabled: true }),
    /** The web admin (/admin) and the self-service pages of mail users (/account) on listen.http. */
    web: z
      .object({
        enabled: z.boolean().default(true),
        /** A session ends after this long without a request. */
        sessionIdleMinutes: z.number().min(1).max(1440).default(30),
        /** Secure cookies: auto = over listen.https, or when a reverse proxy says X-Forwarded-Proto: https. */
        secureCookies: z.enum(['auto', 'always', 'never']).default('auto'),
        /** With listen.https on: /admin and /account on listen.http redirect to HTTPS (other paths stay plain HTTP). */
        httpsRedirect: z.boolean().default(true),
        /** Strict-Transport-Security max-age of HTTPS responses; 0 = no header. */
        hstsMaxAgeSeconds: z.number().int().min(0).max(63072000).default(31536000),
      })
      .strict()
      .default({ enabled: true, sessionIdleMinutes: 30, secureCookies: 'auto', httpsRedirect: true, hstsMaxAgeSeconds: 31536000 }),
    /**
     * Prometheus metrics at /metrics on listen.http/https: loopback clients may always read them; `allow` adds more
     * sources (CIDRs, e.g. the Prometheus server; ["0.0.0.0/0", "::/0"] for anyone). Others get 403.
     */
    metrics: z
      .object({
        enabled: z.boolean().default(true),
        allow: z.array(z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'expected an address or CIDR such as 192.0.2.10 or 10.0.0.0/8')).default([]),
      })
      .strict()
      .default({ enabled: true, allow: [] }),
    /** Bounds of the HTTP listeners (listen.http, listen.https) against floods and slow clients. */
    http: z
      .object({
        maxConnections: z.number().int().min(1).default(500),
        maxConnectionsPerIp: z.number().int().min(1).default(30),
        /** The request header must arrive within this time (slowloris). */
        headersTimeoutSeconds: z.number().min(1).max(300).default(10),
        /** The whole request (header and body) must arrive within this time. */
        requestTimeoutSeconds: z.number().min(1).max(600).default(30),
        /** An idle keep-alive connection is closed after this time. */
        keepAliveTimeoutSeconds: z.number().min(1).max(300).default(5),
        /** Largest request header in bytes (431 above it). */
        maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(16384),
      })
      .strict()
      .refine((h) => h.requestTimeoutSeconds >= h.headersTimeoutSeconds, 'requestTimeoutSeconds must be at least headersTimeoutSeconds')
      .default({ maxConnections: 500, maxConnectionsPerIp: 30, headersTimeoutSeconds: 10, requestTimeoutSeconds: 30, keepAliveTimeoutSeconds: 5, maxHeaderBytes: 16384 }),
    smtp: z
      .object({
        maxMessageSize: z.number().int().min(1024).default(50 * 1024 * 1024),
        maxRecipients: z.number().int().min(1).max(10000).default(100),
        maxConnections: z.number().int().min(1).default(1000),
        maxConnectionsPerIp: z.number().int().min(1).default(20),
        idleTimeoutSeconds: z.number().int().min(5).default(300),
        recipientDelimiter: z.string().max(1).default('+'),
        reverseLookup: z.boolean().default(true),
        /** Allow AUTH (and so, later, submission) without TLS from loopback clients only. */
        allowInsecureAuthOnLoopback: z.boolean().default(true),
        /** DNS blocklists checked for each client of the MX (554 5.7.1 at connect when listed). */
        dnsbl: z.array(z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?$/, 'expected a DNS zone such as zen.spamhaus.org')).default([]),
        /**
         * A recipient whose mailbox is over its quota: "defer" answers 452 4.2.2 (the sender retries; nothing is
         * lost), "reject" 552 5.2.2 (the sender gets a bounce at once).
         */
        quotaExceeded: z.enum(['defer', 'reject']).default('defer'),
        /** Also check loopback clients against smtp.dnsbl (tests). */
        dnsblCheckLoopback: z.boolean().default(false),
        /** Greylisting on the MX (451 4.7.1 for a new ip/24-sender-recipient triplet). */
        greylisting: z
          .object({
            enabled: z.boolean().default(false),
            delaySeconds: z.number().min(0).default(300),
            /** A triplet that was let through is remembered this long. */
            expireDays: z.number().min(1).default(35),
            checkLoopback: z.boolean().default(false),
          })
          .strict()
          .default({ enabled: false, delaySeconds: 300, expireDays: 35, checkLoopback: false }),
      })
      .strict()
      .default({
        maxMessageSize: 50 * 1024 * 1024,
        maxRecipients: 100,
        maxConnections: 1000,
        maxConnectionsPerIp: 20,
        idleTimeoutSeconds: 300,
        recipientDelimiter: '+',
        reverseLookup: true,
        allowInsecureAuthOnLoopback: true,
        dnsbl: [],
        quotaExceeded: 'defer',
        dnsblCheckLoopback: false,
        greylisting: { enabled: false, delaySeconds: 300, expireDays: 35, checkLoopback: false },
      }),
    imap: z
      .object({
        maxConnections: z.number().int().min(1).default(5000),
        maxConnectionsPerIp: z.number().int().min(1).default(50),
        maxConnectionsPerUser: z.number().int().min(1).default(50),
        /** Plaintext LOGIN/AUTHENTICATE without TLS: "loopback" (default), "always" (behind a TLS proxy), "never". */
        allowInsecureAuth: z.enum(['loopback', 'always', 'never']).default('loopback'),
        maxAppendSize: z.number().int().min(1024).default(50 * 1024 * 1024),
        autologoutMinutes: z.number().int().min(30).default(30),
        /**
         * Message rows (over all mailboxes) the store keeps in memory for IMAP and POP3, ~120 bytes each; the least
         * recently used mailboxes are dropped first. 0 = always ask the database.
         */
        indexCacheMessages: z.number().int().min(0).default(500_000),
        /**
         * Worker threads that read and parse files for a first FETCH ENVELOPE and SEARCH BODY/TEXT over 2,000+ messages (started when
         * needed, stopped after 30 s idle). Default: none on one core, else one per core up to 2; 0 = none.
         */
        parseWorkers: z.number().int().min(0).max(16).optional(),
      })
      .strict()
      .default({
        maxConnections: 5000,
        maxConnectionsPerIp: 50,
        maxConnectionsPerUser: 50,
        allowInsecureAuth: 'loopback',
        maxAppendSize: 50 * 1024 * 1024,
        autologoutMinutes: 30,
        indexCacheMessages: 500_000,
      }),
    pop3: z
      .object({
        maxConnections: z.number().int().min(1).default(1000),
        maxConnectionsPerIp: z.number().int().min(1).default(20),
        /** Plaintext USER/PASS and AUTH PLAIN without TLS: "loopback" (default), "always" (behind a TLS proxy), "never". */
        allowInsecureAuth: z.enum(['loopback', 'always', 'never']).default('loopback'),
        /** RFC 1939 §3: the inactivity autologout timer is at least 10 minutes. */
        idleTimeoutMinutes: z.number().int().min(10).default(10),
        /** Mark retrieved messages \Seen at QUIT (Dovecot does), so IMAP shows them as read. */
        markSeen: z.boolean().default(true),
      })
      .strict()
      .default({ maxConnections: 1000, maxConnectionsPerIp: 20, allowInsecureAuth: 'loopback', idleTimeoutMinutes: 10, markSeen: true }),
    authentication: z
      .object({
        /** SPF, DKIM, DMARC and ARC checks of mail arriving on the MX, with an Authentication-Results header. */
        checkInbound: z.boolean().default(true),
        /** Also check mail from loopback clients (local tools, tests); off by default like Postfix's mynetworks. */
        checkLoopback: z.boolean().default(false),
        /**
         * Domains whose ARC seals (RFC 8617) we trust to vouch for forwarded mail that fails DMARC. Any domain can
         * seal a valid chain, so only listed sealers count (RFC 8617 §7.2: a local policy decision). Default none.
         */
        trustedArcSealers: z.array(z.string().min(1)).default([]),
        /** What a DMARC failure does when the sender's domain publishes p=reject / p=quarantine. */
        dmarcReject: z.enum(['reject', 'junk', 'none']).default('reject'),
        dmarcQuarantine: z.enum(['reject', 'junk', 'none']).default('junk'),
        /** What an SPF "-all" failure without any DKIM pass does. */
        spfFail: z.enum(['reject', 'junk', 'none']).default('junk'),
      })
      .strict()
      .default({ checkInbound: true, checkLoopback: false, trustedArcSealers: [], dmarcReject: 'reject', dmarcQuarantine: 'junk', spfFail: 'junk' }),
    queue: z
      .object({
        retryBaseSeconds: z.number().min(0.1).default(300),
        retryMaxSeconds: z.number().min(0.1).default(4 * 3600),
        maxLifetimeHours: z.number().min(0.0001).default(120),
        /** Send one "delayed" notice after this many hours in the queue; 0 = never. */
        delayWarningHours: z.number().min(0).default(4),
        /** Destination domains worked on at once. */
        concurrency: z.number().int().min(1).max(1000).default(20),
      })
      .strict()
      .default({ retryBaseSeconds: 300, retryMaxSeconds: 4 * 3600, maxLifetimeHours: 120, delayWarningHours: 4, concurrency: 20 }),
    delivery: z
      .object({
        /** Port of remote MX hosts (25; tests use another). */
        port: z.number().int().min(1).max(65535).default(25),
        relayhost: nextHop.nullable().default(null),
        transportMap: z.record(z.string(), nextHop).default({}),
        maxConnectionsPerDestination: z.number().int().min(1).max(100).default(5),
        localAddress: z.string().optional(),
        /** Scale of RFC 5321 §4.5.3.2 timeouts in seconds: connect/greeting/mail/rcpt (default 300). */
        commandTimeoutSeconds: z.number().min(0.1).default(300),
        /** Connection cache: how long an idle outbound session waits for the next message to the same host; 0 = off. */
        connectionCacheSeconds: z.number().min(0).max(300).default(2),
      })
      .strict()
      .default({ port: 25, relayhost: null, transportMap: {}, maxConnectionsPerDestination: 5, commandTimeoutSeconds: 300, connectionCacheSeconds: 2 }),
    /** Our public addresses (DNS records and checks); empty: detected from the machine's interfaces. */
    publicAddresses: z
      .object({
        ipv4: z.array(z.ipv4({ message: 'expected an IPv4 address such as 192.0.2.10' })).default([]),
        ipv6: z.array(z.ipv6({ message: 'expected an IPv6 address such as 2001:db8::10' })).default([]),
      })
      .strict()
      .default({ ipv4: [], ipv6: [] }),
    /** DNS blocklists checked for our addresses (dns check) and for clients (deliverability test). */
    dnsbl: z
      .object({ zones: z.array(z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?$/, 'expected a DNS zone such as zen.spamhaus.org')).default(['zen.spamhaus.org', 'bl.spamcop.net']) })
      .strict()
      .default({ zones: ['zen.spamhaus.org', 'bl.spamcop.net'] }),
    /** MTA-STS policy (RFC 8461) served at /.well-known/mta-sts.txt on listen.http. */
    mtaSts: z
      .object({
        mode: z.enum(['testing', 'enforce', 'none']).default('testing'),
        maxAgeSeconds: z.number().int().min(86400).max(31557600).default(604800),
      })
      .strict()
      .default({ mode: 'testing', maxAgeSeconds: 604800 }),
    /** Periodic `dns check` of every hosted domain by the running server. */
    monitoring: z
      .object({
        /** 0 turns the periodic checks off. */
        intervalHours: z.number().min(0).max(24 * 30).default(24),
      })
      .strict()
      .default({ intervalHours: 24 }),
    /** The built-in deliverability self-test (deliverability@HOSTNAME). */
    deliverability: z
      .object({
        /** Local part of the test address at the hostname; null turns the address off. */
        address: z.string().regex(/^[A-Za-z0-9._+-]+$/, 'expected a local part such as "deliverability"').nullable().default('deliverability'),
        /** spamd (SpamAssassin) as "host:port" for a score; null: not checked. */
        spamd: listenAddress.nullable().default(null),
        spamdTimeoutMs: z.number().int().min(100).max(120000).default(15000),
      })
      .strict()
      .default({ address: 'deliverability', spamd: null, spamdTimeoutMs: 15000 }),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema> & {
  /** Where the config came from ("defaults" when none was given). */
  source: string;
  /** The database URL with the default filled in. */
  database: string;
};
export type ListenerName = keyof Config['listen'];
