/**
 * IMAP dates: `date` for SEARCH and `date-time` for APPEND and INTERNALDATE.
 *
 * Standards: RFC 3501 §9 `date`, `date-text`, `date-day`, `date-month`, `date-year`, `date-time`,
 * `date-day-fixed`, `time`, `zone`.
 * Untrusted input: parse functions take client text and return `null` for anything invalid
 * (unknown month, day not in month, hour > 23, zone minutes > 59); callers turn that into BAD.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function monthIndex(name: string): number {
  const i = MONTHS.findIndex((m) => m.toLowerCase() === name.toLowerCase());
  return i;
}

function validDay(year: number, month: number, day: number): boolean {
  if (day < 1 || day > 31) return false;
  const d = new Date(Date.UTC(year, month, day));
  return d.getUTCMonth() === month && d.getUTCDate() === day;
}

/**
 * RFC 3501 §9 date-text "1-Feb-1994" (quotes already removed) -> Date at 00:00:00 UTC of that day.
 * SEARCH compares dates "disregarding time and timezone", so UTC midnight is the canonical day.
 */
export function parseImapDate(text: string): Date | null {
  const m = /^([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})$/.exec(text);
  if (!m) return null;
  const day = Number(m[1]);
  const month = monthIndex(m[2]!);
  const year = Number(m[3]);
  if (month < 0 || !validDay(year, month, day)) return null;
  return new Date(Date.UTC(year, month, day));
}

/** RFC 3501 §9 date-time "17-Jul-1996 02:44:25 -0700" (without the DQUOTEs) -> Date (an instant). */
export function parseImapDateTime(text: string): Date | null {
  // date-day-fixed = (SP DIGIT) / 2DIGIT; a single digit without the space is accepted too.
  const m = /^ ?([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})$/.exec(text);
  if (!m) return null;
  const day = Number(m[1]);
  const month = monthIndex(m[2]!);
  const year = Number(m[3]);
  const hh = Number(m[4]);
  const mm = Number(m[5]);
  const ss = Number(m[6]);
  const zh = Number(m[8]);
  const zm = Number(m[9]);
  if (month < 0 || !validDay(year, month, day) || hh > 23 || mm > 59 || ss > 60 || zm > 59) return null;
  const offsetMinutes = (m[7] === '-' ? -1 : 1) * (zh * 60 + zm);
  return new Date(Date.UTC(year, month, day, hh, mm, Math.min(ss, 59)) - offsetMinutes * 60_000);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Date -> RFC 3501 §9 date-time text without quotes, e.g. "17-Jul-1996 02:44:25 -0700".
 * `offsetMinutes` is the zone to show (east of UTC positive); default UTC ("+0000").
 */
export function formatImapDateTime(date: Date, offsetMinutes = 0): string {
  const d = new Date(date.getTime() + offsetMinutes * 60_000);
  const day = d.getUTCDate();
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return (
    `${day < 10 ? ' ' : ''}${day}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} ` +
    `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`
  );
}

/** Date -> RFC 3501 §9 date-text "1-Feb-1994" (UTC day). */
export function formatImapDate(date: Date): string {
  return `${date.getUTCDate()}-${MONTHS[date.getUTCMonth()]}-${date.getUTCFullYear()}`;
}
