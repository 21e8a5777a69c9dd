// HOME/authorized_keys as the peers service reads it: parsed again only when the file changed
// (size or mtime), so `ssh-copy-id`-style edits take effect on the next login. Warnings about
// skipped lines are logged once per version of the file.
import fs from 'node:fs';
import path from 'node:path';
import { MAX_AUTHORIZED_KEYS_BYTES, parseAuthorizedKeys, type ParsedAuthorizedKeys } from './authorizedKeys.ts';

export class AuthorizedKeysFile {
  readonly file: string;
  #stamp = '';
  #parsed: ParsedAuthorizedKeys = { keys: [], warnings: [] };
  constructor(home: string, private readonly log?: { warn(obj: object, msg?: string): void }) {
    this.file = path.join(home, 'authorized_keys');
  }

  current(): ParsedAuthorizedKeys {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch {
      this.#stamp = 'missing';
      this.#parsed = { keys: [], warnings: [] };
      return this.#parsed;
    }
    const stamp = `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
    if (stamp === this.#stamp) return this.#parsed;
    this.#stamp = stamp;
    if (!stat.isFile() || stat.size > MAX_AUTHORIZED_KEYS_BYTES) {
      this.#parsed = { keys: [], warnings: [`${this.file} is not a file of at most ${MAX_AUTHORIZED_KEYS_BYTES} bytes; no key from it is accepted`] };
    } else {
      this.#parsed = parseAuthorizedKeys(fs.readFileSync(this.file, 'utf8'));
    }
    for (const warning of this.#parsed.warnings) this.log?.warn({ file: this.file }, warning);
    return this.#parsed;
  }

  toJSON(): { file: string } {
    return { file: this.file };
  }
}
