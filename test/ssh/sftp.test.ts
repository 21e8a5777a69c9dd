// SFTP with the real OpenSSH clients: `sftp -b` and `scp` through alknet/ssh's sftp subsystem (QUIC
// and TLS), and `sftp -D` straight on alknet/sftp. 16 MiB put/get with checksums, rename, mkdir,
// readdir, symlinks, random-access reads; traversal refused (`..`, absolute paths stay inside the
// root, a symlink out of the root); a NUL byte and 10,000 components refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { dial } from '../../actors/listener/dial.ts';
import { sshOverConnection } from '../../protocols/ssh/client.ts';
import type { SFTPWrapper } from 'ssh2';
import { BIN, PASSPHRASE, authorize, needsSsh, content, run, sshClientDir, startSshNode, type SshClientDir, type SshNode } from './fixtures.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('sftp', { skip: needsSsh }, () => {
  let node: SshNode;
  let client: SshClientDir;
  let root: string;
  let work: string;
  const big = content(16 * 1024 * 1024, 5);
  before(async () => {
    node = await startSshNode({ maxAuthFailuresPerMinute: 1000 });
    client = sshClientDir(node);
    authorize(node, client.publicKey);
    root = path.join(node.home, 'files');
    work = path.join(client.dir, 'work');
    fs.mkdirSync(work);
    fs.writeFileSync(path.join(work, 'big.bin'), big);
  });
  after(async () => {
    await node?.stop();
    if (client) fs.rmSync(client.dir, { recursive: true, force: true });
  });

  const batch = (host: string, lines: string[]) => {
    const file = path.join(client.dir, `batch-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return run('sftp', ['-F', client.config, '-b', file, host], { cwd: work, timeoutMs: 120_000 });
  };

  for (const host of ['alk-quic', 'alk-tls']) {
    it(`sftp -b puts and gets 16 MiB over ${host}, with mkdir, rename, ls and symlinks`, async () => {
      const dir = `d-${host}`;
      const r = await batch(host, [
        `mkdir ${dir}`, `put big.bin ${dir}/up.bin`, `rename ${dir}/up.bin ${dir}/moved.bin`,
        `ln -s moved.bin ${dir}/link.bin`, `ls -l ${dir}`, `get ${dir}/link.bin back-${host}.bin`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /moved\.bin/);
      assert.equal(sha(fs.readFileSync(path.join(root, dir, 'moved.bin'))), sha(big));
      assert.equal(fs.readlinkSync(path.join(root, dir, 'link.bin')), 'moved.bin');
      assert.equal(sha(fs.readFileSync(path.join(work, `back-${host}.bin`))), sha(big));
    });
  }

  it('scp puts and gets 16 MiB', async () => {
    const up = await run('scp', ['-F', client.config, '-q', 'big.bin', 'alk-quic:scp.bin'], { cwd: work, timeoutMs: 120_000 });
    assert.equal(up.code, 0, up.stderr);
    assert.equal(sha(fs.readFileSync(path.join(root, 'scp.bin'))), sha(big));
    const down = await run('scp', ['-F', client.config, '-q', 'alk-tls:scp.bin', 'scp-back.bin'], { cwd: work, timeoutMs: 120_000 });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(sha(fs.readFileSync(path.join(work, 'scp-back.bin'))), sha(big));
  });

  it('serves alknet/sftp straight (sftp -D), to the node key only', async () => {
    fs.writeFileSync(path.join(root, 'direct.bin'), big.subarray(0, 3_000_000));
    const proxy = (home: string) => `${process.execPath} ${BIN} --home ${home} connect ${node.address} --alpn alknet/sftp`;
    const file = path.join(client.dir, 'direct-batch');
    fs.writeFileSync(file, 'get direct.bin direct-back.bin\nput big.bin direct-up.bin\nls\n');
    const r = await run('sftp', ['-D', proxy(node.home), '-b', file], { cwd: work, env: { ALKNET_PASSPHRASE: PASSPHRASE }, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha(fs.readFileSync(path.join(work, 'direct-back.bin'))), sha(big.subarray(0, 3_000_000)));
    assert.equal(sha(fs.readFileSync(path.join(root, 'direct-up.bin'))), sha(big));
    // A caller without the scope (anonymous here) is refused, with the reason in the log.
    const anon = await run('sftp', ['-D', proxy(path.join(client.dir, 'nobody')), '-b', file], { cwd: work, timeoutMs: 60_000 });
    assert.notEqual(anon.code, 0);
    assert.ok(node.logs.some((l) => /sftp refused: the caller has neither scope/.test(String(l.msg))));
  });

  it('refuses traversal: .., absolute paths stay in the root, a symlink out of the root', async () => {
    fs.symlinkSync('/etc', path.join(root, 'escape'));
    const r = await batch('alk-quic', ['-get ../../etc/passwd p1', '-get /etc/passwd p2', '-get escape/passwd p3', '-ls escape/', '-put big.bin escape/x', '-ln -s /etc/passwd abs-link', '-get abs-link p4']);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['p1', 'p2', 'p3', 'p4']) assert.equal(fs.existsSync(path.join(work, f)), false, `${f} must not be fetched`);
    assert.equal(fs.existsSync('/etc/x'), false);
    assert.match(r.stderr, /Permission denied|No such file/);
    assert.ok(node.logs.some((l) => /sftp path refused: path (leaves|leads outside) the SFTP root/.test(String(l.msg))));
    // An absolute symlink target is stored inside the root (relative), never to the real /etc.
    assert.equal(fs.readlinkSync(path.join(root, 'abs-link')), path.join('etc', 'passwd'));
  });

  it('reads at random offsets, and refuses NUL bytes and 10,000 components (ssh2 client)', async () => {
    const conn = await dial(node.address, { alpn: 'alknet/ssh', transport: 'tls' });
    try {
      const c = await sshOverConnection(conn, { key: fs.readFileSync(client.key, 'utf8') });
      const sftp = await new Promise<SFTPWrapper>((res, rej) => c.sftp((e, s) => (e ? rej(e) : res(s))));
      const call = <T>(f: (cb: (err: Error | null | undefined, v: T) => void) => void) => new Promise<T>((res, rej) => f((e, v) => (e ? rej(e) : res(v))));
      const handle = await call<Buffer>((cb) => sftp.open('scp.bin', 'r', cb));
      for (const offset of [12_345_678, 0, 9_999_999, 16 * 1024 * 1024 - 100]) {
        const buf = Buffer.alloc(100);
        const n = await call<number>((cb) => sftp.read(handle, buf, 0, 100, offset, cb));
        assert.ok(buf.subarray(0, n).equals(big.subarray(offset, offset + n)), `bytes at ${offset}`);
      }
      await call((cb) => sftp.close(handle, cb as never));
      await assert.rejects(call((cb) => sftp.stat('a\0b', cb)), /NUL byte/);
      await assert.rejects(call((cb) => sftp.stat(Array.from({ length: 10_000 }, () => 'a').join('/'), cb)), /longer than 4096 bytes/);
      await assert.rejects(call((cb) => sftp.stat('./'.repeat(2_000) + 'a', cb)), /more than 256 components/);
      // The session still works after the refusals.
      const st = await call<{ size: number }>((cb) => sftp.stat('scp.bin', cb));
      assert.equal(st.size, big.length);
      c.end();
    } finally {
      await conn.close();
    }
  });
});
