// The one error type of the vault. Every failure a user or a caller can act on carries a code and a
// one-line message that says what to do; none carries key material, a passphrase or a mnemonic.
export type VaultErrorCode =
  | 'WRONG_PASSPHRASE'
  | 'TAMPERED'
  | 'TRUNCATED'
  | 'UNKNOWN_VERSION'
  | 'PERMISSIONS'
  | 'NOT_FOUND'
  | 'EXISTS'
  /** A bad mnemonic, derivation path, envelope or argument. */
  | 'INVALID_INPUT'
  /** An at-rest envelope that does not authenticate under its key. */
  | 'DECRYPT_FAILED';

export class VaultError extends Error {
  override name = 'VaultError';
  readonly code: VaultErrorCode;

  constructor(code: VaultErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export function isVaultError(err: unknown, code?: VaultErrorCode): err is VaultError {
  return err instanceof VaultError && (code === undefined || err.code === code);
}
