// The running node's view of peers.toml. Each lookup first stats the file (a few microseconds) and
// re-reads it when its inode, size or mtime changed, so `alknet peer add` in another process takes
// effect on the next call without a restart. Cheap and reliable beats fs.watch, which misses
// atomic renames on some platforms and fires twice on others.
import fs from 'node:fs';
import { alpnRefusal, callerFor, indexPeers, type CallerResolver, type PeerIndex } from './authorize.ts';
import { emptyPeersConfig, peersPath, readPeersConfig, type PeerEntry } from './peersFile.ts';
import type { Caller } from '../../operations/catalogue.ts';

export interface PeerListOptions {
  /** Told when a changed peers.toml is malformed; the previous grants stay in force. */
  onError?(err: Error): void;
}

/** The grants of one moment (PeerList.current()). */
export interface PeerView {
  alpnRefusal(nodeId: string | null, alpn: string): string | undefined;
  callerFor(nodeId: string | null, authToken?: string): Caller;
  peer(nodeId: string): PeerEntry | undefined;
}

export class PeerList implements CallerResolver {
  readonly home: string;
  readonly file: string;
  #index: PeerIndex = indexPeers(emptyPeersConfig());
  #version: string | undefined;
  readonly #onError: ((err: Error) => void) | undefined;

  /** Throws PeersFileError if peers.toml exists and is malformed: a node should not start on it. */
  constructor(home: string, options: PeerListOptions = {}) {
    this.home = home;
    this.file = peersPath(home);
    this.#onError = options.onError;
    this.#load(this.#stat(), true);
  }

  /** Re-reads peers.toml if it changed; returns true when it did. */
  refresh(): boolean {
    const version = this.#stat();
    if (version === this.#version) return false;
    return this.#load(version, false);
  }

  /**
   * peers.toml as it is now, after one stat: several questions about one request (its ALPN, its
   * caller, whether it is a listed peer) answered from the same grants, at the cost of one stat.
   */
  current(): PeerView {
    this.refresh();
    const index = this.#index;
    return {
      alpnRefusal: (nodeId, alpn) => alpnRefusal(index, nodeId, alpn),
      callerFor: (nodeId, authToken) => callerFor(index, nodeId, authToken),
      peer: (nodeId) => index.peers.get(nodeId),
    };
  }

  callerFor(nodeId: string | null, authToken?: string): Caller {
    this.refresh();
    return callerFor(this.#index, nodeId, authToken);
  }

  /** Why this caller may not use `alpn` (peers.toml alpns/denyAlpns), or undefined when it may. */
  alpnRefusal(nodeId: string | null, alpn: string): string | undefined {
    this.refresh();
    return alpnRefusal(this.#index, nodeId, alpn);
  }

  peer(nodeId: string): PeerEntry | undefined {
    this.refresh();
    return this.#index.peers.get(nodeId);
  }

  peers(): PeerEntry[] {
    this.refresh();
    return [...this.#index.peers.values()];
  }

  #stat(): string {
    try {
      const st = fs.statSync(this.file, { bigint: true });
      return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `error:${(err as Error).message}`;
    }
  }

  #load(version: string, initial: boolean): boolean {
    try {
      this.#index = indexPeers(readPeersConfig(this.home));
      this.#version = version;
      return true;
    } catch (err) {
      if (initial) throw err;
      // Remember the bad version so a broken file is reported once, not on every call.
      this.#version = version;
      this.#onError?.(err as Error);
      return false;
    }
  }
}
