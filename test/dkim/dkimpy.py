#!/usr/bin/python3
"""dkimpy (Debian python3-dkim) as a second DKIM implementation for the tests. Run with /usr/bin/python3.

  dkimpy.py verify MESSAGE KEYS.json
      KEYS.json: {"sel._domainkey.example.test": "v=DKIM1; k=rsa; p=..."} served by a dnsfunc (no DNS).
      Prints JSON: [{"d": ..., "s": ..., "a": ..., "pass": true|false}] for every DKIM-Signature, top to bottom.
  dkimpy.py sign MESSAGE SELECTOR DOMAIN KEYFILE rsa|ed25519
      KEYFILE: PKCS#1 PEM for rsa, base64 of the 32-byte seed for ed25519 (dkimpy's formats).
      Prints the DKIM-Signature field (relaxed/relaxed) to prepend.
"""
import json
import sys

import dkim


def tags(value):
    out = {}
    for part in value.split(b';'):
        if b'=' in part:
            k, v = part.split(b'=', 1)
            out[k.strip().decode()] = b''.join(v.split()).decode()
    return out


def verify(msg_path, keys_path):
    msg = open(msg_path, 'rb').read()
    keys = json.load(open(keys_path))

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        v = keys.get(name.rstrip('.').lower())
        return v.encode() if v is not None else None

    d = dkim.DKIM(msg)
    sigs = [v for (k, v) in d.headers if k.lower() == b'dkim-signature']
    out = []
    for i, sig in enumerate(sigs):
        t = tags(sig)
        try:
            ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
        except Exception as e:  # dkimpy raises on malformed input
            ok = False
        out.append({'d': t.get('d'), 's': t.get('s'), 'a': t.get('a'), 'h': t.get('h'), 'pass': ok})
    print(json.dumps(out))


def sign(msg_path, selector, domain, key_path, algo):
    msg = open(msg_path, 'rb').read()
    key = open(key_path, 'rb').read()
    sig = dkim.sign(
        msg,
        selector.encode(),
        domain.encode(),
        key,
        canonicalize=(b'relaxed', b'relaxed'),
        signature_algorithm=b'ed25519-sha256' if algo == 'ed25519' else b'rsa-sha256',
        include_headers=[b'from', b'to', b'subject', b'date', b'message-id'],
    )
    sys.stdout.buffer.write(sig)


if __name__ == '__main__':
    if sys.argv[1] == 'verify':
        verify(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'sign':
        sign(*sys.argv[2:7])
    else:
        sys.exit('usage: dkimpy.py verify|sign ...')
