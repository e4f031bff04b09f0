/**
 * The outbound queue's data model (Postfix's qmgr in spirit). A queued message is an immutable body file plus a
 * small envelope record (this type) whose directory is its state: incoming -> active -> deferred/hold -> done.
 * A state change is a rename of the envelope file; an update is write-tmp + fsync + rename. Every queued message has
 * an id that appears in every log line about it.
 */

export type QueueState = 'incoming' | 'active' | 'deferred' | 'hold';

export type RecipientStatus = 'pending' | 'delivered' | 'failed';

export interface QueueRecipient {
  /** The address to deliver to (after alias expansion). */
  address: string;
  /** The address as the sender gave it (RFC 3461 ORCPT), for DSNs. */
  original: string;
  status: RecipientStatus;
  /** Last SMTP reply or local error for this recipient, e.g. "550 5.1.1 <x@y>: User unknown". */
  lastError?: string;
  /** Reply code class of the last attempt: 4 (temporary) or 5 (permanent); 0 for connection-level errors. */
  lastCode?: number;
  /** Remote MTA that gave the last answer (DSN Remote-MTA). */
  remoteMta?: string;
  /** When the recipient reached its final status (ms). */
  finishedAt?: number;
  /** A bounce (failed) was sent for this recipient already. */
  notified?: boolean;
}

export interface QueueEntry {
  id: string;
  /** Envelope sender; "" for the null reverse-path (bounces): never bounced itself. */
  sender: string;
  recipients: QueueRecipient[];
  /** Arrival time (ms). */
  arrival: number;
  /** Size of the body file in bytes. */
  size: number;
  /** The message uses 8-bit data (BODY=8BITMIME) / UTF-8 addresses (SMTPUTF8). */
  body8bit: boolean;
  smtputf8: boolean;
  /** Delivery attempts so far. */
  attempts: number;
  /** Earliest time of the next attempt (ms). */
  nextAttempt: number;
  /** A delay warning (DSN action=delayed) was sent. */
  warned: boolean;
  /** Who submitted it (authenticated user) or "mx"/"forward"/"bounce". */
  origin: string;
  /** DSN parameters of the submission (RFC 3461): RET=FULL|HDRS and ENVID. */
  dsnRet?: 'FULL' | 'HDRS';
  envid?: string;
}

/** What a delivery attempt to one destination reports per recipient. */
export interface RecipientResult {
  address: string;
  /** 'ok' delivered; 'temp' retry later; 'perm' bounce now. */
  outcome: 'ok' | 'temp' | 'perm';
  /** SMTP reply (code, enhanced, text) or a description of a local/connection error. */
  code: number;
  enhanced?: string;
  message: string;
  remoteMta?: string;
}

/** A message handed to a transport for one destination (remote delivery). */
export interface OutboundMessage {
  id: string;
  sender: string;
  recipients: string[];
  body8bit: boolean;
  smtputf8: boolean;
  size: number;
  bodyPath: string;
}

/** Delivers messages to one destination domain; resolves per message id to per-recipient results. */
export interface Transport {
  deliver(domain: string, messages: OutboundMessage[]): Promise<Map<string, RecipientResult[]>>;
  close?(): Promise<void>;
}

/**
 * A new queue entry (not yet attempted, no warning sent), arriving now. One place for the fields every producer
 * (MX forwarding, submission, quota deferral, generated bounces) sets the same way; the caller adds `size` once the
 * body file exists.
 */
export function newQueueEntry(o: {
  id: string;
  sender: string;
  recipients: Iterable<string | { address: string; original: string }>;
  body8bit: boolean;
  smtputf8: boolean;
  origin: string;
  dsnRet?: 'FULL' | 'HDRS';
  envid?: string;
}): Omit<QueueEntry, 'size'> {
  const entry: Omit<QueueEntry, 'size'> = {
    id: o.id,
    sender: o.sender,
    recipients: [...o.recipients].map((r) =>
      typeof r === 'string' ? { address: r, original: r, status: 'pending' as const } : { address: r.address, original: r.original, status: 'pending' as const },
    ),
    arrival: Date.now(),
    body8bit: o.body8bit,
    smtputf8: o.smtputf8,
    attempts: 0,
    nextAttempt: 0,
    warned: false,
    origin: o.origin,
  };
  if (o.dsnRet) entry.dsnRet = o.dsnRet;
  if (o.envid !== undefined) entry.envid = o.envid;
  return entry;
}
