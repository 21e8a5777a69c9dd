// Published known-answer vectors live outside the repository, in ../shared/vectors beside the project
// (see its README); they are never copied in. A suite that needs one goes through `requireVectors`:
// skipped with the file's path when it is absent, failed under CI=true (see tools.ts).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { needed, type Needed } from './tools.ts';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `../shared/vectors/<name>` beside the project. */
export function vectorsPath(name: string): string {
  return path.resolve(projectRoot, '../shared/vectors', name);
}

/** The parsed JSON of `../shared/vectors/<name>`; `skip` names the file when it is absent. */
export function requireVectors<T>(name: string): Needed<T> {
  const file = vectorsPath(name);
  const found = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
  return needed(found, `vectors file ${file} is absent (published vectors are kept in ../shared/vectors, outside the repository)`);
}
