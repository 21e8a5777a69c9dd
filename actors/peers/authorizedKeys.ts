// The authorized_keys file of the home folder, in OpenSSH's format (sshd(8) "AUTHORIZED_KEYS FILE
// FORMAT"): one key a line, `[options] keytype base64 [comment]`. Pure: parses text and answers
// whether a key (its type and wire blob) may log in from an address, with the options that bind it.
//
// Options honoured: from="pattern-list" (addresses, * and ? wildcards, CIDR blocks, ! negation;
// names are not looked up, so a name pattern never matches), command="…" (forced command),
// no-pty, no-port-forwarding, restrict (= no-pty + no-port-forwarding; agent and X11 forwarding
// are never offered anyway), and the harmless no-agent-forwarding, no-X11-forwarding, no-user-rc.
// Any other option (permitopen, permitlisten, environment, principals, cert-authority, tunnel,
// expiry-time, pty, …) makes its line refused with a warning: a restriction we do not enforce must
// not silently become no restriction.
import { BlockList, isIP } from 'node:net';

/** Files above this are refused whole (a home's authorized_keys is a few KiB). */
export const MAX_AUTHORIZED_KEYS_BYTES = 1024 * 1024;
/** Longer lines are skipped with a warning (OpenSSH's own limit is 16 KiB for a key line). */
export const MAX_KEY_LINE_BYTES = 16 * 1024;

export interface KeyOptions {
  from?: string;
  command?: string;
  noPty: boolean;
  noPortForwarding: boolean;
}

export interface AuthorizedKey {
  /** Line number in the file, for log lines. */
  line: number;
  type: string;
  /** The key's SSH wire blob (what `ssh-ed25519 AAAA…` base64-decodes to). */
  blob: Buffer;
  comment: string;
  options: KeyOptions;
}

export interface ParsedAuthorizedKeys {
  keys: AuthorizedKey[];
  /** One line each for lines skipped (unknown options, malformed); never includes key material. */
  warnings: string[];
}

const KEY_TYPES = new Set([
  'ssh-ed25519', 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
]);
const HARMLESS = new Set(['no-agent-forwarding', 'no-x11-forwarding', 'no-user-rc']);

/** Splits the options field at commas outside double quotes; null if a quote is left open. */
function splitOptions(text: string): string[] | null {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted && text[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) return null;
  out.push(cur);
  return out;
}

/** The options field ends at the first space outside quotes. */
function takeOptionsField(line: string): { field: string; rest: string } | null {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if ((c === ' ' || c === '\t') && !quoted) return { field: line.slice(0, i), rest: line.slice(i).trimStart() };
  }
  return null;
}

function parseOptions(list: string[]): KeyOptions | string {
  const options: KeyOptions = { noPty: false, noPortForwarding: false };
  for (const raw of list) {
    const eq = raw.indexOf('=');
    const name = (eq === -1 ? raw : raw.slice(0, eq)).toLowerCase();
    const value = eq === -1 ? undefined : raw.slice(eq + 1);
    if (name === 'from' && value !== undefined) options.from = value;
    else if (name === 'command' && value !== undefined) options.command = value;
    else if (name === 'no-pty' && value === undefined) options.noPty = true;
    else if (name === 'no-port-forwarding' && value === undefined) options.noPortForwarding = true;
    else if (name === 'restrict' && value === undefined) {
      options.noPty = true;
      options.noPortForwarding = true;
    } else if (HARMLESS.has(name) && value === undefined) continue;
    else return `option "${name.slice(0, 40)}" is not supported here, so the key is not accepted`;
  }
  return options;
}

export function parseAuthorizedKeys(text: string): ParsedAuthorizedKeys {
  const keys: AuthorizedKey[] = [];
  const warnings: string[] = [];
  if (Buffer.byteLength(text) > MAX_AUTHORIZED_KEYS_BYTES) {
    return { keys, warnings: [`authorized_keys is larger than ${MAX_AUTHORIZED_KEYS_BYTES} bytes; no key from it is accepted`] };
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.length > MAX_KEY_LINE_BYTES) {
      warnings.push(`authorized_keys line ${lineNo}: longer than ${MAX_KEY_LINE_BYTES} bytes; skipped`);
      continue;
    }
    let rest = line;
    let options: KeyOptions = { noPty: false, noPortForwarding: false };
    const first = line.split(/[ \t]/, 1)[0]!;
    if (!KEY_TYPES.has(first)) {
      const taken = takeOptionsField(line);
      const list = taken && splitOptions(taken.field);
      if (!taken || !list) {
        warnings.push(`authorized_keys line ${lineNo}: not "[options] keytype base64 [comment]"; skipped`);
        continue;
      }
      const parsed = parseOptions(list);
      if (typeof parsed === 'string') {
        warnings.push(`authorized_keys line ${lineNo}: ${parsed}`);
        continue;
      }
      options = parsed;
      rest = taken.rest;
    }
    const [type, b64, ...comment] = rest.split(/[ \t]+/);
    if (type === undefined || !KEY_TYPES.has(type) || b64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
      warnings.push(`authorized_keys line ${lineNo}: unknown key type or bad base64; skipped`);
      continue;
    }
    const blob = Buffer.from(b64, 'base64');
    // The blob starts with its own type name: a line whose label and blob disagree is refused.
    const nameLen = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
    if (nameLen < 0 || 4 + nameLen > blob.length || blob.subarray(4, 4 + nameLen).toString('latin1') !== type) {
      warnings.push(`authorized_keys line ${lineNo}: the key's blob is not a ${type} key; skipped`);
      continue;
    }
    keys.push({ line: lineNo, type, blob, comment: comment.join(' '), options });
  }
  return { keys, warnings };
}

/** One from= pattern against an address: `*`/`?` wildcards, CIDR blocks; names are never looked up. */
function patternMatches(pattern: string, host: string): boolean {
  if (pattern.includes('/')) {
    const [base, bitsText] = pattern.split('/') as [string, string];
    const family = isIP(base);
    const bits = Number(bitsText);
    const hostFamily = isIP(host);
    if (family === 0 || hostFamily !== family || !Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) return false;
    const list = new BlockList();
    list.addSubnet(base, bits, family === 4 ? 'ipv4' : 'ipv6');
    return list.check(host, family === 4 ? 'ipv4' : 'ipv6');
  }
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, (c) => `\\${c}`).replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(host);
}

/** OpenSSH's from= rule: refused if a negated pattern matches, allowed if a plain one does. */
export function fromAllows(patternList: string, host: string): boolean {
  let allowed = false;
  for (const raw of patternList.split(',')) {
    const p = raw.trim();
    if (p === '') continue;
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), host)) return false;
    } else if (patternMatches(p, host)) allowed = true;
  }
  return allowed;
}

export type KeyDecision =
  | { allowed: true; key: AuthorizedKey }
  | { allowed: false; reason: string };

/** Whether a key (its type and wire blob) may log in from `remoteHost`. */
export function authorizeKey(parsed: ParsedAuthorizedKeys, type: string, blob: Uint8Array, remoteHost: string): KeyDecision {
  const want = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const matches = parsed.keys.filter((k) => k.blob.equals(want));
  if (matches.length === 0) return { allowed: false, reason: `${type.slice(0, 40)} key is not in authorized_keys` };
  for (const key of matches) {
    if (key.options.from === undefined || fromAllows(key.options.from, remoteHost)) return { allowed: true, key };
  }
  return { allowed: false, reason: `key is in authorized_keys (line ${matches[0]!.line}) but not from ${remoteHost} (from= option)` };
}
