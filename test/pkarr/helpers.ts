// Helpers for the pkarr tests: nodes with a [pkarr] config, curl with binary bodies (the relay
// answers bytes), the outside-made packets of outside_packet.py, and a private DHT on loopback.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type NodeConfig, type PkarrConfig } from '../../supervisors/config.ts';
import { makeHome, startTestNode, type TestHome } from '../node/helpers.ts';
import type { RunningNode, StartNodeOptions } from '../../supervisors/startNode.ts';
import { spkiPin } from '../http/helpers.ts';
import { needed, type Needed } from '../support/tools.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface PkarrNode {
  home: TestHome;
  node: RunningNode;
  config: NodeConfig;
  /** NODEID@127.0.0.1:PORT */
  address: string;
  stop(): Promise<void>;
  /** Stops the node and starts it again on the same home (and config). */
  restart(): Promise<void>;
  cleanup(): void;
}

export async function startPkarrNode(pkarr: Partial<PkarrConfig> = {}, options: Partial<StartNodeOptions> = {}, existing?: TestHome): Promise<PkarrNode> {
  const home = existing ?? (await makeHome('alknet-pkarr-'));
  const config = loadConfig(home.home);
  config.pkarr = { ...config.pkarr, ...pkarr };
  const start = () => startTestNode(home, { agent: false, config, ...options });
  const handle: PkarrNode = {
    home,
    config,
    node: await start(),
    get address() {
      return `${handle.node.nodeId}@${handle.node.address}`;
    },
    async stop() {
      await handle.node.stop();
    },
    async restart() {
      await handle.node.stop();
      handle.node = await start();
    },
    cleanup: () => home.cleanup(),
  };
  return handle;
}

export interface CurlBinary {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  stderr: string;
}

/** curl against the node's HTTPS (key pinned), the body kept as bytes. */
export function curlBinary(node: RunningNode, pathAndQuery: string, args: string[] = []): Promise<CurlBinary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-pkarr-curl-'));
  const headerFile = path.join(dir, 'headers');
  const bodyFile = path.join(dir, 'body');
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-k', '--pinnedpubkey', spkiPin(node.nodeId), '-D', headerFile, '-o', bodyFile, '-w', '%{http_code}', '--max-time', '30', ...args, `https://127.0.0.1:${node.tcpPort}${pathAndQuery}`]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', () => {
      const headers: Record<string, string> = {};
      const raw = fs.existsSync(headerFile) ? fs.readFileSync(headerFile, 'utf8') : '';
      const blocks = raw.split(/\r?\n\r?\n/).filter((b) => b.trim());
      for (const line of (blocks.at(-1) ?? '').split(/\r?\n/).slice(1)) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      const body = fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile) : Buffer.alloc(0);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ status: Number(stdout.trim()), headers, body, stderr });
    });
  });
}

/** Writes bytes to a temporary file for curl's --data-binary @FILE; returns the path. */
export function bodyFile(bytes: Uint8Array): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alknet-pkarr-body-'));
  const file = path.join(dir, 'body');
  fs.writeFileSync(file, bytes);
  return file;
}

export interface OutsidePackets {
  publicKey: Buffer;
  z32: string;
  timestamp: number;
  good: Buffer;
  stale: Buffer;
  forged: Buffer;
  newer: Buffer;
}

/** Python's `cryptography` (Debian python3-cryptography): needed to sign outside the project. */
export function requirePythonCryptography(): Needed<string> {
  const python = '/usr/bin/python3';
  const ok = fs.existsSync(python) && spawnSync(python, ['-c', 'import cryptography'], { stdio: 'ignore' }).status === 0;
  return needed(ok ? python : undefined, 'python3 with cryptography not found: install it with "apt-get install -y python3-cryptography" (scripts/system-deps.sh)');
}

/** Runs outside_packet.py: a fresh key, a hand-built DNS packet, signed by Python's cryptography. */
export function outsidePackets(python: string): OutsidePackets {
  const r = spawnSync(python, [path.join(here, 'outside_packet.py')], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`outside_packet.py failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as Record<string, string | number>;
  const hex = (k: string) => Buffer.from(j[k] as string, 'hex');
  return { publicKey: hex('publicKey'), z32: j.z32 as string, timestamp: j.timestamp as number, good: hex('good'), stale: hex('stale'), forged: hex('forged'), newer: hex('newer') };
}
