// An SSH client over an alknet connection (the dialing side of alknet/ssh): ssh2's Client on the
// connection's one stream, logging in with an ssh-ed25519 key (for `alknet socks`: the home's node
// key, which the server maps to the node's peer-list grant). The SSH host key is not checked
// again: the alknet connection under it already pinned the node (NODEID@ or known_nodes).
import ssh2, { type Client } from 'ssh2';
import type { Connection } from '../../actors/listener/connection.ts';
import { openSshPrivateKey } from '../../actors/vault/openssh.ts';
import type { NodeKeyPair } from '../../actors/listener/tlsIdentity.ts';

export interface SshClientOptions {
  username?: string;
  /** An OpenSSH private key (PEM text), or a node key pair used as an ssh-ed25519 key. */
  key: string | NodeKeyPair;
  readyTimeoutMs?: number;
}

/** Logs in over `conn`; resolves with the ready client or rejects with ssh2's reason (never a key). */
export async function sshOverConnection(conn: Connection, opts: SshClientOptions): Promise<Client> {
  const stream = await conn.openStream();
  const privateKey = typeof opts.key === 'string' ? opts.key : openSshPrivateKey(opts.key.privateKey, opts.key.publicKey, 'alknet');
  const client = new ssh2.Client();
  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    client.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new Error(`ssh: ${err.message}`));
    });
    client.once('close', () => {
      if (settled) return;
      settled = true;
      reject(new Error('ssh: the node closed the connection during login'));
    });
    client.on('error', () => {}); // after login, errors surface on the channels and 'close'
    client.connect({
      sock: stream as never,
      username: opts.username ?? 'alknet',
      privateKey,
      readyTimeout: opts.readyTimeoutMs ?? 20_000,
      hostVerifier: () => true,
      keepaliveInterval: 15_000,
    });
  });
}
