// Password checks for [ssh.passwords]: `user = "scrypt:<salt base64>:<hash base64>"`, scrypt with
// N=16384, r=8, p=1 and a 32-byte output (docs/ssh.md shows the one-liner that makes a line).
// Compared in constant time; the password itself is never logged or kept.
import { scrypt, timingSafeEqual, randomBytes } from 'node:crypto';

const PARAMS = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
/** Passwords longer than this are refused before hashing (scrypt on megabytes is a CPU sink). */
export const MAX_PASSWORD_BYTES = 1024;

function derive(password: string, salt: Buffer, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, length, PARAMS, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt:${salt.toString('base64')}:${(await derive(password, salt, 32)).toString('base64')}`;
}

/** True when `password` matches the stored line; false for a malformed line or a wrong password. */
export async function checkPassword(stored: string | undefined, password: string): Promise<boolean> {
  if (stored === undefined || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return false;
  const m = /^scrypt:([A-Za-z0-9+/=]{8,}):([A-Za-z0-9+/=]{16,})$/.exec(stored);
  if (!m) return false;
  const expected = Buffer.from(m[2]!, 'base64');
  const got = await derive(password, Buffer.from(m[1]!, 'base64'), expected.length);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
