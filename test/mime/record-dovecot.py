#!/usr/bin/python3
"""Record Dovecot's FETCH answers for the MIME fixtures (test/fixtures/mime/*.eml).

How test/fixtures/mime/*.dovecot.json were produced: run as root from /work/main

    /usr/bin/python3 test/mime/record-dovecot.py

It needs Debian's dovecot-imapd (2.3.19.1 when recorded). For each fixture it makes a private Maildir owned by
`nobody`, writes a throw-away dovecot.conf, runs /usr/lib/dovecot/imap in PREAUTH mode over stdin/stdout (no
sockets, no daemon), SELECTs INBOX and sends one FETCH per item. The untagged answers are stored verbatim (literals
inline as `{n}\r\n<bytes>`) for BODYSTRUCTURE / BODY / ENVELOPE / RFC822.SIZE, and as the returned bytes for every
BODY[section]. The tests in test/mime/dovecot.test.ts compare Mailwright's output with these files; they never
start Dovecot themselves, so the suite runs where Dovecot is not installed.

Dovecot counts a bare LF as CRLF (sizes, BODY[] output), so for malformed-lf.eml the tests compare against our
output on the CRLF-normalised message.
"""
import json, os, re, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.normpath(os.path.join(HERE, '..', 'fixtures', 'mime'))

COMMON = ['', 'HEADER', 'TEXT', 'HEADER.FIELDS (SUBJECT FROM X-FOLDED)',
          'HEADER.FIELDS.NOT (RECEIVED SUBJECT DATE)', 'HEADER.FIELDS (NO-SUCH-HEADER)',
          '1', '1.MIME', '1.HEADER', '1.TEXT', '2', '9', '1.9']
PARTS = {
    'alternative': ['2.MIME', '1.1', '2.1', '3'],
    'mixed-attachment': ['2.MIME', '2.HEADER', '2.HEADER.FIELDS (CONTENT-ID)'],
    'nested': ['1.1', '1.2', '1.1.MIME', '1.2.MIME', '2.MIME', '1.3', '1.1.1'],
    'rfc822': ['2.MIME', '2.HEADER', '2.TEXT', '2.1', '2.2', '2.1.MIME', '2.2.MIME', '2.HEADER.FIELDS (SUBJECT)',
               '2.HEADER.FIELDS.NOT (SUBJECT)', '3', '3.HEADER', '3.TEXT', '3.1', '3.MIME', '3.1.MIME', '2.3',
               '2.1.1'],
    'rfc2231': ['2.MIME', '3.MIME', '4.MIME', '5.MIME', '5'],
    'malformed-lf': ['2.MIME', '3', '3.MIME', '4'],
}
ITEMS = ['BODYSTRUCTURE', 'BODY', 'ENVELOPE', 'RFC822.SIZE', 'RFC822.HEADER', 'RFC822.TEXT']
PARTIALS = ['TEXT]<2.10>', ']<0.5>', '1]<100.10>', 'HEADER]<10.1000000>']

CONF = """protocols = imap
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
ssl = no
mail_location = maildir:{d}/mail
mail_uid = nobody
mail_gid = nogroup
passdb {{
  driver = static
  args = password=x
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/home
}}
"""


def run_imap(d, commands):
    script = b'x SELECT INBOX\r\n'
    for i, c in enumerate(commands):
        script += b'c%d UID FETCH 1 (%s)\r\n' % (i, c.encode())
    script += b'z LOGOUT\r\n'
    env = dict(os.environ, HOME=d + '/home', USER='nobody')
    p = subprocess.run(['/usr/lib/dovecot/imap', '-c', d + '/dovecot.conf'], input=script, env=env,
                       capture_output=True, check=True)
    return p.stdout


def parse(out, commands):
    """Split the transcript into the untagged FETCH payload of each command, keeping literals inline."""
    pos = 0
    answers = {}
    current = []
    while pos < len(out):
        eol = out.index(b'\r\n', pos)
        line = out[pos:eol + 2]
        pos = eol + 2
        while True:
            m = re.search(rb'\{(\d+)\}\r\n$', line)
            if not m:
                break
            n = int(m.group(1))
            line += out[pos:pos + n]
            pos += n
            eol = out.index(b'\r\n', pos)
            line += out[pos:eol + 2]
            pos = eol + 2
        m = re.match(rb'c(\d+) ', line)
        if m:
            answers[int(m.group(1))] = line
        elif line.startswith(b'* 1 FETCH ('):
            current.append(line)
    # Dovecot pipelines the commands: all untagged answers may come before the tagged ones, so every command
    # gets the whole list and value_of() picks the line carrying its item.
    return [(current, answers.get(i, b'')) for i in range(len(commands))]


def value_of(fetch_lines, item):
    # '* 1 FETCH (UID 1 ITEM value)\r\n' or '* 1 FETCH (ITEM value UID 1)\r\n'; Dovecot may send an extra
    # unsolicited FETCH (RFC822.SIZE) first, so take the line that carries the item.
    if isinstance(fetch_lines, bytes):
        fetch_lines = [fetch_lines]
    for fetch_line in fetch_lines:
        body = fetch_line[len(b'* 1 FETCH ('):-3]
        body = re.sub(rb'^UID 1 ', b'', body)
        body = re.sub(rb' UID 1$', b'', body)
        if body.startswith(item + b' '):
            return body[len(item) + 1:]
    raise KeyError(item)


def section_bytes(v):
    if v == b'NIL':
        return None
    if v.startswith(b'"'):
        return v[1:-1].replace(b'\\"', b'"').replace(b'\\\\', b'\\')
    m = re.match(rb'\{(\d+)\}\r\n', v)
    return v[m.end():m.end() + int(m.group(1))]


def as_json_bytes(b):
    if b is None:
        return None
    try:
        return b.decode('utf-8')
    except UnicodeDecodeError:
        import base64
        return {'base64': base64.b64encode(b).decode()}


def record(name):
    d = tempfile.mkdtemp(prefix='mw-dovecot-')
    os.chmod(d, 0o755)
    try:
        for sub in ('mail/cur', 'mail/new', 'mail/tmp', 'home', 'run', 'state'):
            os.makedirs(os.path.join(d, sub))
        with open(d + '/dovecot.conf', 'w') as f:
            f.write(CONF.format(d=d))
        shutil.copy(os.path.join(FIX, name + '.eml'), d + '/mail/cur/1.' + name + ':2,S')
        subprocess.run(['chown', '-R', 'nobody:nogroup', d + '/mail', d + '/home'], check=True)
        sections = COMMON + PARTS.get(name, [])
        commands = ITEMS + ['BODY.PEEK[%s]' % s for s in sections] + ['BODY.PEEK[%s' % p for p in PARTIALS]
        res = {'_comment': 'Recorded from Dovecot 2.3 by test/mime/record-dovecot.py; do not edit by hand.'}
        for cmd, (line, tagged) in zip(commands, parse(run_imap(d, commands), commands)):
            if not tagged.startswith(b'c%d OK' % commands.index(cmd)):
                res[cmd] = {'error': tagged.decode(errors='replace').strip()}
                continue
            try:
                value_of(line, (re.sub(r'<(\d+)\.\d+>$', r'<\1>', cmd.replace('BODY.PEEK', 'BODY'))).encode())
            except KeyError:
                res[cmd] = {'error': 'no untagged FETCH answer'}
                continue
            if cmd.startswith('BODY.PEEK['):
                item = cmd.replace('BODY.PEEK', 'BODY')
                # Dovecot echoes the partial origin only: BODY[TEXT]<2>
                item = re.sub(r'<(\d+)\.\d+>$', r'<\1>', item)
                # and upper-cases / normalises header lists as sent
                res[cmd] = as_json_bytes(section_bytes(value_of(line, item.encode())))
            elif cmd == 'RFC822.SIZE':
                res[cmd] = int(value_of(line, cmd.encode()))
            elif cmd in ('RFC822.HEADER', 'RFC822.TEXT'):
                res[cmd] = as_json_bytes(section_bytes(value_of(line, cmd.encode())))
            else:
                res[cmd] = value_of(line, cmd.encode()).decode('utf-8')
        with open(os.path.join(FIX, name + '.dovecot.json'), 'w') as f:
            json.dump(res, f, indent=1, ensure_ascii=False)
            f.write('\n')
    finally:
        shutil.rmtree(d)


if __name__ == '__main__':
    names = sys.argv[1:] or sorted(f[:-4] for f in os.listdir(FIX) if f.endswith('.eml'))
    for n in names:
        record(n)
        print('recorded', n)
