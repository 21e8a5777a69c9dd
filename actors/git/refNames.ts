// Names, checked before they touch the disk: repository names (one path component under HOME/git,
// no traversal, nothing hidden) and ref names (git check-ref-format's rules, restricted to refs/).
// Pure.

/** A repository name as users write it ("project" or "project.git"); the folder is NAME.git. */
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export class NameError extends Error {
  override name = 'NameError';
}

/** Shows a name in a message: control characters as \xNN, at most 120 characters. */
export function shown(text: string): string {
  return JSON.stringify(text.slice(0, 120).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/**
 * The canonical name (without ".git") of a repository name or URL path ("/name.git", "name"), or
 * a NameError: one component of letters, digits, ".", "_" and "-", starting with a letter or
 * digit, no "..", at most 100 characters.
 */
export function repoName(text: string): string {
  let name = text.startsWith('/') ? text.slice(1) : text;
  if (name.endsWith('/')) name = name.slice(0, -1);
  if (name.endsWith('.git')) name = name.slice(0, -4);
  if (!REPO_NAME.test(name) || name.includes('..') || name.endsWith('.lock') || name.endsWith('.')) {
    throw new NameError(`${shown(text)} is not a repository name (letters, digits, ".", "_", "-"; one component; no ".." or hidden names)`);
  }
  return name;
}

/** Whether `name` is a ref name a client may create or move (git check-ref-format, under refs/). */
export function isValidRefName(name: string): boolean {
  if (name.length === 0 || name.length > 1024 || !name.startsWith('refs/')) return false;
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(name)) return false;
  if (name.includes('..') || name.includes('@{') || name.includes('//') || name.endsWith('/') || name.endsWith('.')) return false;
  const parts = name.split('/');
  if (parts.length < 3) return false;
  for (const part of parts) {
    if (part.length === 0 || part.startsWith('.') || part.endsWith('.lock')) return false;
  }
  return name !== '@';
}
