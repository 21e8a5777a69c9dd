// Where the blob store keeps each file under a node home:
//
//   blobs/data/<hex>          complete content          blobs/data/<hex>.obao    its outboard
//   blobs/partial/<hex>       a blob being fetched (sparse; the index holds its verified-group bitfield)
//   blobs/partial/<hex>.obao  its outboard when the fetcher supplied one
//   blobs/partial/<hex>.cvs   the proven chaining value of each stored group (32 bytes at 32·group)
//   blobs/tmp/<pid>-<rand>.*  adds in progress (removed at open when <pid> is gone)
//   db/                       the LMDB index
//
// The home itself must exist: the store never creates it (a typo in --home must not quietly make a
// new, empty node), and makes its own folders one level at a time. Not mkdirSync(recursive): on
// Node 20 that never returns for a path under /proc (it retries ENOENT forever at 100 % CPU).
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BlobStoreError } from './errors.ts';

export class StoreLayout {
  readonly home: string;
  readonly root: string;
  readonly dataDir: string;
  readonly partialDir: string;
  readonly tmpDir: string;
  readonly dbDir: string;

  constructor(home: string) {
    this.home = home;
    this.root = path.join(home, 'blobs');
    this.dataDir = path.join(this.root, 'data');
    this.partialDir = path.join(this.root, 'partial');
    this.tmpDir = path.join(this.root, 'tmp');
    this.dbDir = path.join(home, 'db');
  }

  /** Checks the home and creates the store's folders in it; a one-line UNAVAILABLE error otherwise. */
  ensureFolders(): void {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(this.home, { throwIfNoEntry: false });
    } catch (err) {
      throw new BlobStoreError('UNAVAILABLE', `cannot use the home folder: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (!st) throw new BlobStoreError('UNAVAILABLE', 'the home folder does not exist (the blob store never creates it)');
    if (!st.isDirectory()) throw new BlobStoreError('UNAVAILABLE', 'the home folder is not a folder');
    for (const dir of [this.root, this.dataDir, this.partialDir, this.tmpDir, this.dbDir]) {
      try {
        fs.mkdirSync(dir, { mode: 0o700 });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' && fs.statSync(dir).isDirectory()) continue;
        throw new BlobStoreError('UNAVAILABLE', `cannot create the blob store's folders in the home (${code ?? 'error'})`);
      }
    }
  }

  dataFile(hash: string): string {
    return path.join(this.dataDir, hash);
  }
  outboardFile(hash: string): string {
    return path.join(this.dataDir, `${hash}.obao`);
  }
  partialFile(hash: string): string {
    return path.join(this.partialDir, hash);
  }
  partialOutboard(hash: string): string {
    return path.join(this.partialDir, `${hash}.obao`);
  }
  partialCvs(hash: string): string {
    return path.join(this.partialDir, `${hash}.cvs`);
  }
  /** A fresh name in tmp/ that reconcile() can tell belongs to this process. */
  tempFile(kind: string): string {
    return path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.${kind}`);
  }
}
