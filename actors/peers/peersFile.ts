// peers.toml in the node's home folder: who may call what. One file holds the three grants, so the
// running node watches one file and an operator edits one file:
//
//   [anonymous]                 # what every caller gets, known or not (default: nothing beyond public ops)
//   scopes = []
//   denyAlpns = ["alknet/ssh"]  # ALPNs refused to callers that are not listed peers (optional)
//   [peers.<NODEID>]            # a node, identified by its certificate's key
//   scopes = ["tensor", "git:write"]
//   enabled = true
//   alpns = ["alknet/call"]     # optional allow-list of ALPNs for this peer (absent: every ALPN)
//   denyAlpns = ["alknet/blobs"] # optional: ALPNs refused to this peer
//   [tokens.<label>]            # an HTTP-style bearer token "alk_…", stored only as its sha256 hash
//   hash = "sha256:<64 hex>"
//   scopes = ["tensor"]
//   enabled = true
//   expires = 2026-12-31T00:00:00Z   # optional: refused with "token expired" from then on
//
// Writes are atomic (temp file, fsync, rename), so a running node never reads a torn file.
// Rewriting the file drops comments: it is the CLI's file; hand edits keep working but lose comments.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { parse, stringify } from 'smol-toml';
import { isNodeId } from '../vault/nodeId.ts';
import { isScope } from './scopes.ts';
import { writeFileAtomic } from '../../lib/atomicFile.ts';

/** Which ALPNs a caller may connect with: an allow-list (absent: all) minus a deny-list. */
export interface AlpnGrant {
  alpns?: string[];
  denyAlpns?: string[];
}

export interface PeerEntry extends AlpnGrant {
  nodeId: string;
  scopes: string[];
  enabled: boolean;
}

export interface TokenEntry {
  /** The operator's label for the token (a TOML key). */
  name: string;
  /** "sha256:<hex>" of the token text; the token itself is never stored. */
  hash: string;
  scopes: string[];
  enabled: boolean;
  /** From this instant on the token is refused ("token expired"); absent: it never expires. */
  expires?: Date;
}

export interface PeersConfig {
  anonymous: string[];
  /** ALPN rules for callers that are not enabled, listed peers. */
  anonymousAlpns: AlpnGrant;
  peers: PeerEntry[];
  tokens: TokenEntry[];
}

/** peers.toml is malformed; the message names the file and the key. */
export class PeersFileError extends Error {
  override name = 'PeersFileError';
}

const MAX_FILE_BYTES = 4 * 1024 * 1024;
const TOKEN_PATTERN = /^alk_[A-Za-z0-9_-]{20,200}$/;
const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function peersPath(home: string): string {
  return path.join(home, 'peers.toml');
}

export function emptyPeersConfig(): PeersConfig {
  return { anonymous: [], anonymousAlpns: {}, peers: [], tokens: [] };
}

export function isTokenLabel(text: string): boolean {
  return LABEL_PATTERN.test(text);
}

/** A new bearer token: "alk_" + 32 random bytes in base64url. Shown once; only its hash is kept. */
export function generateToken(): string {
  return `alk_${randomBytes(32).toString('base64url')}`;
}

export function looksLikeToken(text: string): boolean {
  return TOKEN_PATTERN.test(text);
}

export function hashToken(token: string): string {
  return `sha256:${bytesToHex(sha256(new TextEncoder().encode(token)))}`;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function scopeList(where: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new PeersFileError(`${where}.scopes must be an array of strings`);
  for (const s of value) {
    if (typeof s !== 'string' || !isScope(s)) {
      throw new PeersFileError(`${where}.scopes: ${JSON.stringify(s)} is not a scope (like "tensor" or "git:write")`);
    }
  }
  return [...new Set(value as string[])];
}

function alpnList(where: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((a) => typeof a !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(a))) {
    throw new PeersFileError(`${where} must be an array of ALPN names (1-255 printable ASCII characters)`);
  }
  return [...new Set(value as string[])];
}

function alpnGrant(where: string, table: Record<string, unknown>): AlpnGrant {
  const grant: AlpnGrant = {};
  const alpns = alpnList(`${where}.alpns`, table.alpns);
  const denyAlpns = alpnList(`${where}.denyAlpns`, table.denyAlpns);
  if (alpns) grant.alpns = alpns;
  if (denyAlpns) grant.denyAlpns = denyAlpns;
  return grant;
}

function enabledFlag(where: string, value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw new PeersFileError(`${where}.enabled must be true or false`);
  return value;
}

/** A token's `expires`: a TOML date-time with an offset (or a date: midnight UTC), or the same as an ISO string. */
function expiryOf(where: string, value: unknown): Date | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? new Date(value.getTime()) : typeof value === 'string' ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new PeersFileError(`${where}.expires must be a date-time such as 2026-12-31T00:00:00Z`);
  return date;
}

/** Parses and checks peers.toml text. `file` only names the file in messages. */
export function parsePeersToml(text: string, file = 'peers.toml'): PeersConfig {
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new PeersFileError(`${file} is not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const config = emptyPeersConfig();
  try {
    for (const key of Object.keys(raw)) {
      if (!['anonymous', 'peers', 'tokens'].includes(key)) throw new PeersFileError(`unknown key "${key}"`);
    }
    if (raw.anonymous !== undefined) {
      if (!isTable(raw.anonymous)) throw new PeersFileError('[anonymous] must be a table');
      config.anonymous = scopeList('anonymous', raw.anonymous.scopes);
      config.anonymousAlpns = alpnGrant('anonymous', raw.anonymous);
    }
    if (raw.peers !== undefined) {
      if (!isTable(raw.peers)) throw new PeersFileError('[peers] must be a table of [peers.NODEID] tables');
      for (const [nodeId, entry] of Object.entries(raw.peers)) {
        const where = `peers.${nodeId}`;
        if (!isNodeId(nodeId)) throw new PeersFileError(`${where}: "${nodeId}" is not a node id (52 z-base-32 characters)`);
        if (!isTable(entry)) throw new PeersFileError(`${where} must be a table`);
        config.peers.push({ nodeId, scopes: scopeList(where, entry.scopes), enabled: enabledFlag(where, entry.enabled), ...alpnGrant(where, entry) });
      }
    }
    if (raw.tokens !== undefined) {
      if (!isTable(raw.tokens)) throw new PeersFileError('[tokens] must be a table of [tokens.LABEL] tables');
      for (const [name, entry] of Object.entries(raw.tokens)) {
        const where = `tokens.${name}`;
        if (!isTokenLabel(name)) throw new PeersFileError(`${where}: the label must be 1-64 letters, digits, "_", "." or "-"`);
        if (!isTable(entry)) throw new PeersFileError(`${where} must be a table`);
        if (typeof entry.hash !== 'string' || !HASH_PATTERN.test(entry.hash)) {
          throw new PeersFileError(`${where}.hash must be "sha256:" followed by 64 lowercase hex digits`);
        }
        const token: TokenEntry = { name, hash: entry.hash, scopes: scopeList(where, entry.scopes), enabled: enabledFlag(where, entry.enabled) };
        const expires = expiryOf(where, entry.expires);
        if (expires) token.expires = expires;
        config.tokens.push(token);
      }
    }
  } catch (err) {
    if (err instanceof PeersFileError) throw new PeersFileError(`${file}: ${err.message}`);
    throw err;
  }
  return config;
}

export function stringifyPeersConfig(config: PeersConfig): string {
  const doc: Record<string, unknown> = {};
  if (config.anonymous.length > 0 || config.anonymousAlpns.alpns || config.anonymousAlpns.denyAlpns) {
    doc.anonymous = { scopes: config.anonymous, ...config.anonymousAlpns };
  }
  doc.peers = Object.fromEntries(
    config.peers.map((p) => [p.nodeId, { scopes: p.scopes, enabled: p.enabled, ...(p.alpns ? { alpns: p.alpns } : {}), ...(p.denyAlpns ? { denyAlpns: p.denyAlpns } : {}) }]),
  );
  doc.tokens = Object.fromEntries(
    config.tokens.map((t) => [t.name, { hash: t.hash, scopes: t.scopes, enabled: t.enabled, ...(t.expires ? { expires: t.expires } : {}) }]),
  );
  return `# alknet peers: who may call what (alknet peer add|ls|rm). See docs/call.md.\n${stringify(doc)}\n`;
}

/** Reads peers.toml; a missing file is an empty list (only public operations). */
export function readPeersConfig(home: string): PeersConfig {
  const file = peersPath(home);
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > MAX_FILE_BYTES) throw new PeersFileError(`${file} is ${size} bytes, above the ${MAX_FILE_BYTES}-byte limit`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyPeersConfig();
    if (err instanceof PeersFileError) throw err;
    throw new PeersFileError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return parsePeersToml(text, file);
}

export function writePeersConfig(home: string, config: PeersConfig): void {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileAtomic(peersPath(home), stringifyPeersConfig(config));
}

function checkScopes(scopes: readonly string[]): string[] {
  for (const s of scopes) {
    if (!isScope(s)) throw new PeersFileError(`"${s}" is not a scope (like "tensor" or "git:write")`);
  }
  return [...new Set(scopes)];
}

/** Adds a peer, or replaces its scopes and enabled flag if it is already listed. */
export function addPeer(home: string, nodeId: string, options: { scopes?: readonly string[]; enabled?: boolean } = {}): PeerEntry {
  if (!isNodeId(nodeId)) throw new PeersFileError(`"${nodeId}" is not a node id (52 z-base-32 characters)`);
  const entry: PeerEntry = { nodeId, scopes: checkScopes(options.scopes ?? []), enabled: options.enabled ?? true };
  const config = readPeersConfig(home);
  const at = config.peers.findIndex((p) => p.nodeId === nodeId);
  // Re-adding a peer changes its scopes and flag; ALPN rules written by hand stay.
  if (at >= 0) config.peers[at] = { ...config.peers[at]!, ...entry };
  else config.peers.push(entry);
  writePeersConfig(home, config);
  return entry;
}

/** Returns false if the peer was not listed. */
export function removePeer(home: string, nodeId: string): boolean {
  const config = readPeersConfig(home);
  const before = config.peers.length;
  config.peers = config.peers.filter((p) => p.nodeId !== nodeId);
  if (config.peers.length === before) return false;
  writePeersConfig(home, config);
  return true;
}

export function listPeers(home: string): PeerEntry[] {
  return readPeersConfig(home).peers;
}

/**
 * Creates a token with these scopes (and an optional expiry); returns the token text, which exists
 * nowhere else afterwards.
 */
export function addToken(home: string, name: string, scopes: readonly string[], options: { expires?: Date } = {}): { token: string; entry: TokenEntry } {
  if (!isTokenLabel(name)) throw new PeersFileError(`token label "${name}" must be 1-64 letters, digits, "_", "." or "-"`);
  const config = readPeersConfig(home);
  if (config.tokens.some((t) => t.name === name)) throw new PeersFileError(`a token named "${name}" already exists`);
  const token = generateToken();
  const entry: TokenEntry = { name, hash: hashToken(token), scopes: checkScopes(scopes), enabled: true };
  if (options.expires) {
    if (Number.isNaN(options.expires.getTime())) throw new PeersFileError('the expiry is not a valid date');
    entry.expires = new Date(options.expires.getTime());
  }
  config.tokens.push(entry);
  writePeersConfig(home, config);
  return { token, entry };
}

export function removeToken(home: string, name: string): boolean {
  const config = readPeersConfig(home);
  const before = config.tokens.length;
  config.tokens = config.tokens.filter((t) => t.name !== name);
  if (config.tokens.length === before) return false;
  writePeersConfig(home, config);
  return true;
}

export function listTokens(home: string): TokenEntry[] {
  return readPeersConfig(home).tokens;
}
