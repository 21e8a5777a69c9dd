// The few keys of a repository's own git config file that the server obeys (the same keys and
// meanings as git's receive-pack, so `git config --file REPO/config …` is how a user sets them):
// receive.denyNonFastForwards (default true here: a branch only moves forward unless the policy
// allows force) and receive.denyDeletes (default false). Pure parser; unknown keys are ignored.

export interface RefPolicy {
  denyNonFastForwards: boolean;
  denyDeletes: boolean;
}

export const DEFAULT_POLICY: RefPolicy = { denyNonFastForwards: true, denyDeletes: false };

function bool(value: string | undefined): boolean | undefined {
  if (value === undefined) return true; // "[receive] denyDeletes" alone means true
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0', ''].includes(v)) return false;
  return undefined;
}

/** The policy written in a git config file's text (defaults for what it does not say). */
export function parsePolicy(text: string): RefPolicy {
  const policy = { ...DEFAULT_POLICY };
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const sec = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"[^"]*")?\s*\]$/.exec(line);
    if (sec) {
      section = sec[1]!.toLowerCase();
      continue;
    }
    if (section !== 'receive') continue;
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (!kv) continue;
    const key = kv[1]!.toLowerCase();
    const value = bool(kv[2]);
    if (value === undefined) continue;
    if (key === 'denynonfastforwards') policy.denyNonFastForwards = value;
    else if (key === 'denydeletes') policy.denyDeletes = value;
  }
  return policy;
}

/** The config file of a new bare repository served by alknet. */
export function initialConfig(policy: RefPolicy): string {
  return [
    '[core]',
    '\trepositoryformatversion = 0',
    '\tfilemode = true',
    '\tbare = true',
    '[receive]',
    `\tdenyNonFastForwards = ${policy.denyNonFastForwards}`,
    `\tdenyDeletes = ${policy.denyDeletes}`,
    '',
  ].join('\n');
}
