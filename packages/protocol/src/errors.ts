/** Ways decoding protocol data fails. */
export type ProtocolErrorCode = "edge_key_malformed" | "edge_key_field_invalid" | "message_malformed" | "http_head_invalid";

/** The protocol package's single error type. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
