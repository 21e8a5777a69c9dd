// OpenSSH encodings of an Ed25519 key (the SSH host key): the `ssh-ed25519 AAAA…` public line and the
// unencrypted "openssh-key-v1" private key file (OpenSSH PROTOCOL.key), which ssh2 and ssh-keygen read.
// Hand-written because it is ~40 lines of length-prefixed fields and no kept library does only this.
import { createHash } from 'node:crypto';

function sshString(bytes: Uint8Array | string): Buffer {
  const body = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function publicBlob(publicKey: Uint8Array): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(publicKey)]);
}

/** `ssh-ed25519 <base64> [comment]`, as in authorized_keys and known_hosts. */
export function openSshPublicKey(publicKey: Uint8Array, comment = ''): string {
  return `ssh-ed25519 ${publicBlob(publicKey).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** `SHA256:<base64, no padding>` as ssh-keygen -l prints it. */
export function openSshFingerprint(publicKey: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(publicBlob(publicKey)).digest('base64').replace(/=+$/u, '')}`;
}

/**
 * The unencrypted OpenSSH private key file. Deterministic (the check integers come from the public
 * key), so the same seed always gives the same file. The caller must treat the result as a secret.
 */
export function openSshPrivateKey(privateKey: Uint8Array, publicKey: Uint8Array, comment = ''): string {
  const check = createHash('sha256').update(publicKey).digest().readUInt32BE(0);
  const secret = Buffer.concat([privateKey, publicKey]);
  const parts = [uint32(check), uint32(check), sshString('ssh-ed25519'), sshString(publicKey), sshString(secret), sshString(comment)];
  let section = Buffer.concat(parts);
  const padLength = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1))]);
  const blob = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob(publicKey)),
    sshString(section),
  ]);
  const lines = blob.toString('base64').match(/.{1,70}/gu) ?? [];
  const pem = `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
  for (const b of [secret, section, blob, ...parts]) b.fill(0);
  return pem;
}
