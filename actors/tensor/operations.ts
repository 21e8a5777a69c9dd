// The tensor service's operations, declared for the node's catalogue (operations/catalogue.ts) and
// served by the tensor actor's own bus messages (messages.ts): a remote `tensor/run` is a `tensor.run`
// request to the actor, with its deadline, abort, mailbox bound and restart behaviour. tensor/info is
// public; computing and holding handles need the `tensor` scope. Handles are owned by the caller the
// catalogue authorized (its node id, "local" without one).
import { servedBy, type OperationSpec } from '../../operations/catalogue.ts';
import { TENSOR_SYSTEM_ID } from './messages.ts';

export const TENSOR_SCOPE = 'tensor';

/** Declarations only: no engine, no closure; the tensor actor answers them whenever it runs. */
export function tensorOperationDeclarations(): OperationSpec[] {
  const tensor = TENSOR_SYSTEM_ID;
  const scopes = [TENSOR_SCOPE];
  return [
    servedBy(tensor, 'tensor.create', {
      name: 'tensor/create', type: 'mutation', scopes, visibility: 'external',
      errors: ['INVALID_INPUT', 'BUSY', 'UNAVAILABLE'], description: 'Uploads a tensor and returns a handle owned by the caller.',
    }),
    servedBy(tensor, 'tensor.run', {
      name: 'tensor/run', type: 'mutation', scopes, visibility: 'external',
      errors: ['INVALID_INPUT', 'NOT_FOUND', 'BUSY', 'TIMEOUT', 'UNAVAILABLE'],
      description: 'Runs a small graph of ops; returns the named outputs as data and the kept ones as handles.',
    }),
    servedBy(tensor, 'tensor.read', {
      name: 'tensor/read', type: 'query', scopes, visibility: 'external',
      errors: ['NOT_FOUND', 'UNAVAILABLE'], description: "Reads a handle's data.",
    }),
    servedBy(tensor, 'tensor.free', {
      name: 'tensor/free', type: 'mutation', scopes, visibility: 'external',
      errors: ['UNAVAILABLE'], description: 'Frees handles (unknown ones are ignored).',
    }),
    servedBy(tensor, 'tensor.info', {
      name: 'tensor/info', type: 'query', scopes: [], visibility: 'external',
      errors: ['UNAVAILABLE'], description: 'Backend, adapter, features and limits of the tensor engine.',
    }),
  ];
}
