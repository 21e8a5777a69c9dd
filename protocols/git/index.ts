// The git server (docs/git.md): alknet/git (git:// over a stream), the SSH exec handler and the
// smart HTTP mount, all on one upload-pack / receive-pack core; the repositories are the git
// service's (actors/git).
export { gitProtocol, GIT_ALPN } from './protocol.ts';
export { gitSshExec } from './ssh.ts';
export { gitHttpMount, GIT_HTTP_PREFIX } from './http.ts';
export { DEFAULT_GIT_CONFIG, readGitConfig, type GitConfig } from './config.ts';
