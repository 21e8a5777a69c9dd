// `alknet git init NAME [--allow-force]` and `alknet git ls`: the repositories this home's node serves
// (HOME/git/NAME.git). Like `alknet blob`, the command starts the git service in its own process
// (actors/git/local.ts) and talks to it by message; a running node sees a new repository at once
// (it keeps no list). Clone and push with the stock git CLI: docs/git.md.
import { CliError, type Command, type CommandContext } from '../command.ts';
import type { Bus } from '../../bus/bus.ts';
import { describe } from './index.ts';
import { parseCommandArgs } from '../args.ts';
import { requireHome } from '../home.ts';
import { withLocalServices } from '../localServices.ts';

async function withGit<T>(ctx: CommandContext, create: boolean, fn: (bus: Bus) => Promise<T>): Promise<T> {
  requireHome(ctx, create ? { create: true } : { create: false });
  const { startLocalGit } = await import('../../actors/git/local.ts');
  return withLocalServices(startLocalGit(ctx.home), fn);
}

const init: Command = {
  ...describe('git init'),
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx, { 'allow-force': { type: 'boolean' }, json: { type: 'boolean' } }, { min: 1 });
    const json = ctx.json || values.json === true;
    const r = await withGit(ctx, true, (bus) =>
      bus.request('git', 'git.init', { name: positionals[0]!, ...(values['allow-force'] ? { allowForcePush: true } : {}) }, { deadlineMs: 60_000 }));
    if (!r.created) throw new CliError(`repository "${r.name}" already exists`);
    if (json) ctx.stdout.write(`${JSON.stringify({ name: r.name, created: true, path: `${ctx.home}/git/${r.name}.git` })}\n`);
    else ctx.stdout.write(`created ${ctx.home}/git/${r.name}.git (clone: git clone git://NODE/${r.name}.git, ssh://NODE/${r.name}.git or https://HOST:PORT/git/${r.name}.git)\n`);
  },
};

const ls: Command = {
  ...describe('git ls'),
  async run(ctx) {
    const { values } = parseCommandArgs(ctx, { json: { type: 'boolean' } });
    const json = ctx.json || values.json === true;
    const r = await withGit(ctx, false, (bus) => bus.request('git', 'git.list', {}, { deadlineMs: 60_000 }));
    if (json) {
      ctx.stdout.write(`${JSON.stringify(r.repos)}\n`);
      return;
    }
    if (r.repos.length === 0) ctx.stdout.write(`no repositories in ${ctx.home}/git\n`);
    for (const repo of r.repos) ctx.stdout.write(`${repo.name}.git  HEAD ${repo.head ?? '-'}  ${repo.refs} ref${repo.refs === 1 ? '' : 's'}\n`);
  },
};

export const commands: Command[] = [init, ls];
