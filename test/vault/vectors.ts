// The project root, for the vault suites that run the CLI or a child script. Published vectors are
// read through test/support/vectors.ts (`requireVectors`), which also decides skip vs. fail under CI.
export { projectRoot } from '../support/vectors.ts';
