// Reads a published vector file from ../shared/vectors (outside the repository); undefined when absent,
// so the caller can skip with a message naming the file.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function vectorFile(name: string): string {
  return path.resolve(projectRoot, '../shared/vectors', name);
}

export function readVectors<T>(name: string): T | undefined {
  const file = vectorFile(name);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
