// The git service's operations for the node's catalogue, served by the git actor's own messages:
// listing repositories and reading refs need `git:read`; creating a repository needs `git:admin`
// (pushing needs `git:write`, checked by protocols/git on each transport). Granting `git` covers all three.
import { servedBy, type OperationSpec } from '../../operations/catalogue.ts';
import { GIT_SYSTEM_ID } from './messages.ts';

export const GIT_READ_SCOPE = 'git:read';
export const GIT_WRITE_SCOPE = 'git:write';
export const GIT_ADMIN_SCOPE = 'git:admin';

export function gitOperations(): OperationSpec[] {
  return [
    servedBy(GIT_SYSTEM_ID, 'git.init', {
      name: 'git/init', type: 'mutation', scopes: [GIT_ADMIN_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN', 'INVALID_INPUT'], description: 'Create a bare repository served by this node (clone and push with git)',
    }),
    servedBy(GIT_SYSTEM_ID, 'git.list', {
      name: 'git/list', type: 'query', scopes: [GIT_READ_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN'], description: 'The repositories this node serves',
    }),
    servedBy(GIT_SYSTEM_ID, 'git.refs', {
      name: 'git/refs', type: 'query', scopes: [GIT_READ_SCOPE], visibility: 'external',
      errors: ['FORBIDDEN', 'NOT_FOUND', 'INVALID_INPUT'], description: 'HEAD and the refs of a repository',
    }),
  ];
}
