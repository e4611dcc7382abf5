/** Every way the PKI package can fail, as a stable string code. */
export type PkiErrorCode =
  | "malformed_der"
  | "malformed_pem"
  | "unsupported_key_type"
  | "unsupported_algorithm"
  | "invalid_name"
  | "invalid_san"
  | "invalid_argument"
  | "key_encrypted"
  | "bad_passphrase"
  | "ca_exists"
  | "ca_not_found"
  | "ca_locked"
  | "ca_state_corrupt"
  | "csr_signature_invalid"
  | "certificate_not_found"
  | "already_revoked"
  | "wrong_input_type"
  | "io_error";

/**
 * The single error type of `@pier/pki`. `message` says what happened and what to do;
 * `code` is stable and meant for programs.
 *
 * @example
 * throw new PkiError("ca_exists", `A CA already exists in ${dir}; choose another --dir.`);
 */
export class PkiError extends Error {
  override readonly name = "PkiError";
  readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
