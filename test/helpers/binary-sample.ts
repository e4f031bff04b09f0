/** A MIME message for BINARY and CATENATE tests (the Dovecot comparisons use it): QP, base64, unknown CTE, message/rfc822, 7bit. */
export const MSG = Buffer.from(
  [
    'From: a@x', 'Subject: bin', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=BB', '',
    '--BB', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '',
    'Caf=C3=A9 soft=', 'break =3D end   ', 'line2',
    '--BB', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', 'AAECAwQFBgcICQ==',
    '--BB', 'Content-Type: text/plain', 'Content-Transfer-Encoding: x-uuencode', '', 'begin 644 x',
    '--BB', 'Content-Type: message/rfc822', '', 'Subject: inner', 'Content-Transfer-Encoding: base64', '', 'aGVsbG8=',
    '--BB', 'Content-Type: text/plain', '', 'plain 7bit',
    '--BB--', '',
  ].join('\r\n'),
  'latin1',
);
