// Where the CLI gets a vault passphrase (and a mnemonic for `init --recover`), in order:
// an environment variable, a file (first line), a no-echo prompt on a terminal. Without any of them
// the command fails with one line that says how to give one. Secrets are never echoed or logged.
import fs from 'node:fs';
import { CliError, type CommandContext } from './command.ts';

/** A passphrase or mnemonic longer than this is not one (and is not read into memory). */
const MAX_SECRET_BYTES = 4096;

export interface ReadPassphraseOptions {
  /** Ask twice on a terminal (a new passphrase). */
  confirm?: boolean;
  /** Prompt text on a terminal. */
  prompt?: string;
  /** Environment variable to look at first (default ALKNET_PASSPHRASE). */
  envVar?: string;
  /** File whose first line is the passphrase (default: the global --passphrase-file). */
  file?: string;
  /** The flag that names `file`, for messages (default --passphrase-file). */
  fileFlag?: string;
}

/** The first line of a secret file (bounded), or a one-line CliError naming the flag. */
export function firstLine(file: string, flag: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new CliError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const buf = Buffer.alloc(MAX_SECRET_BYTES + 1);
  let n: number;
  try {
    n = fs.readSync(fd, buf, 0, buf.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const text = buf.subarray(0, n).toString('utf8');
  buf.fill(0);
  const line = text.split(/\r?\n/u)[0] ?? '';
  if (n > MAX_SECRET_BYTES && !text.includes('\n')) throw new CliError(`${flag} ${file}: the first line is longer than ${MAX_SECRET_BYTES} bytes`);
  if (line.length === 0) throw new CliError(`${flag} ${file}: the first line is empty`);
  return line;
}

type TtyInput = CommandContext['stdin'] & { setRawMode?: (mode: boolean) => unknown };

/** Reads one line from the terminal without echo. Ctrl-C cancels, Ctrl-D or Enter ends. */
export function promptHidden(ctx: CommandContext, prompt: string): Promise<string> {
  const input = ctx.stdin as TtyInput;
  if (!input.isTTY || typeof input.setRawMode !== 'function') {
    return Promise.reject(new CliError('no terminal to prompt on'));
  }
  ctx.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (err?: Error): void => {
      input.removeListener('data', onData);
      input.setRawMode!(false);
      input.pause();
      ctx.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new CliError('cancelled'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else if (text.length >= MAX_SECRET_BYTES) return finish(new CliError(`input longer than ${MAX_SECRET_BYTES} characters`));
        else if (ch >= ' ') text += ch;
      }
    };
    input.setRawMode!(true);
    input.resume();
    input.on('data', onData);
  });
}

function noSourceError(envVar: string, fileFlag: string): CliError {
  return new CliError(`no passphrase: set ${envVar}, pass ${fileFlag} F, or run on a terminal to be prompted`);
}

export async function readPassphrase(ctx: CommandContext, options: ReadPassphraseOptions = {}): Promise<string> {
  const envVar = options.envVar ?? 'ALKNET_PASSPHRASE';
  const fileFlag = options.fileFlag ?? '--passphrase-file';
  const fromEnv = ctx.env[envVar];
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv;
  // The global --passphrase-file is the current passphrase: it never stands in for a new one.
  const file = options.fileFlag === undefined ? (options.file ?? ctx.passphraseFile) : options.file;
  if (file !== undefined) return firstLine(file, fileFlag);
  if (!ctx.stdin.isTTY) throw noSourceError(envVar, fileFlag);
  const prompt = options.prompt ?? 'Vault passphrase: ';
  const first = await promptHidden(ctx, prompt);
  if (first.length === 0) throw new CliError('the passphrase must not be empty');
  if (options.confirm) {
    const again = await promptHidden(ctx, 'Repeat it: ');
    if (again !== first) throw new CliError('the two passphrases differ; nothing was changed');
  }
  return first;
}

/** The new passphrase of `vault passwd`: ALKNET_NEW_PASSPHRASE, --new-passphrase-file F, or a confirmed prompt. */
export function readNewPassphrase(ctx: CommandContext, newPassphraseFile?: string): Promise<string> {
  return readPassphrase(ctx, {
    confirm: true,
    prompt: 'New vault passphrase: ',
    envVar: 'ALKNET_NEW_PASSPHRASE',
    file: newPassphraseFile,
    fileFlag: '--new-passphrase-file',
  });
}

/** A mnemonic for `init --recover`: stdin when piped (all of it, bounded), else a no-echo prompt. */
export async function readMnemonicInput(ctx: CommandContext): Promise<string> {
  if (ctx.stdin.isTTY) return promptHidden(ctx, 'Recovery phrase (words separated by spaces, not shown): ');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_SECRET_BYTES) throw new CliError(`the mnemonic on stdin is longer than ${MAX_SECRET_BYTES} bytes`);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  for (const c of chunks) c.fill(0);
  if (text.trim().length === 0) throw new CliError('no mnemonic on stdin: pipe the words in, e.g. alknet init --recover < words.txt');
  return text;
}
