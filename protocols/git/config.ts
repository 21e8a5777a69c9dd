// [git] in config.toml: the git server's limits (docs/git.md). Read by supervisors/config.ts, which
// turns the Error thrown here into its one-line ConfigError. Pure.
//
//   [git]
//   maxPushBytes = 536870912     largest pack one push may send (bytes; held in memory while checked)
//   maxObjectBytes = 268435456   largest single object a pushed pack may hold (inflated bytes)
//   idleTimeoutMs = 120000       a client that sends nothing this long is dropped
//   maxRequestBytes = 67108864   largest smart-HTTP upload-pack request body (wants and haves)

export interface GitConfig {
  maxPushBytes: number;
  maxObjectBytes: number;
  idleTimeoutMs: number;
  maxRequestBytes: number;
}

export const DEFAULT_GIT_CONFIG: GitConfig = {
  maxPushBytes: 512 * 1024 * 1024,
  maxObjectBytes: 256 * 1024 * 1024,
  idleTimeoutMs: 120_000,
  maxRequestBytes: 64 * 1024 * 1024,
};

export function readGitConfig(raw: unknown): GitConfig {
  const config = { ...DEFAULT_GIT_CONFIG };
  if (raw === undefined) return config;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('[git] must be a table');
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in config)) throw new Error(`unknown key "git.${key}"`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new Error(`"git.${key}" must be a positive whole number`);
    config[key as keyof GitConfig] = value;
  }
  return config;
}
