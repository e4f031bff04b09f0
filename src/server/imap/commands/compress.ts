/**
 * COMPRESS (RFC 4978 §3): after authentication, `COMPRESS DEFLATE` turns on raw DEFLATE in both directions
 * (src/server/net/deflate.ts). The tagged OK is the last uncompressed response. As Dovecot: an unknown algorithm is
 * NO, a second COMPRESS is NO [COMPRESSIONACTIVE]. Allowed in the authenticated and selected states.
 */
import type { CompressCommand } from '../../../protocol/imap/index.js';
import { AUTHED, type Handler } from './types.js';
import { no } from '../errors.js';

export const COMPRESS: Handler<CompressCommand> = {
  states: AUTHED,
  async run(s, cmd) {
    if (s.compressed) throw no('DEFLATE compression is already active', 'COMPRESSIONACTIVE');
    if (cmd.algorithm !== 'DEFLATE') throw no('Unknown compression mechanism');
    s.startCompression(cmd.tag);
    return null;
  },
};
