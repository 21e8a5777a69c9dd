// NodeId: the z-base-32 form of a node's 32-byte Ed25519 public key (52 characters, as pkarr
// writes it), and the `ed25519:<hex>` fingerprint form. Pure; used by the vault, the listener
// (to name a peer from its certificate), the CLI, pkarr (lib/pkarr) and the DNS front end.
const ALPHABET = 'ybndrfg8ejkmcpqxot1uwisza345h769';
const INDEX = new Map([...ALPHABET].map((c, i) => [c, i]));

export function zbase32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

export function zbase32Decode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let n = 0;
  for (const c of text) {
    const v = INDEX.get(c);
    if (v === undefined) throw new Error(`not z-base-32: unexpected character "${c}"`);
    buffer = (buffer << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (buffer >>> (bits - 8)) & 255;
      bits -= 8;
      buffer &= (1 << bits) - 1;
    }
  }
  return out;
}

export type NodeId = string;

export function nodeIdFromPublicKey(publicKey: Uint8Array): NodeId {
  if (publicKey.length !== 32) throw new Error(`an Ed25519 public key has 32 bytes, got ${publicKey.length}`);
  return zbase32Encode(publicKey);
}

/** Parses a NodeId back to its public key; throws a one-line reason if it is not one. */
export function publicKeyFromNodeId(nodeId: string): Uint8Array {
  if (!/^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/.test(nodeId)) {
    throw new Error(`"${nodeId}" is not a node id (52 z-base-32 characters)`);
  }
  return zbase32Decode(nodeId);
}

export function isNodeId(text: string): boolean {
  return /^[ybndrfg8ejkmcpqxot1uwisza345h769]{52}$/.test(text);
}

export function fingerprint(publicKey: Uint8Array): string {
  return `ed25519:${Buffer.from(publicKey).toString('hex')}`;
}
