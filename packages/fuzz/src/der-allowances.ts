import { firstElementLength, hasPrimitiveSequenceOrSet } from "./der-mutations.ts";
import type { Parsed } from "./differential.ts";
import type { AllowedDifference } from "./harness.ts";

/**
 * The differences every DER target (certificate, CSR, CRL) has with OpenSSL's BER-tolerant
 * decoder, each checked on the input, not only on Pier's message: bytes after the structure,
 * BER-only encodings, and a SEQUENCE or SET tagged primitive.
 *
 * @example
 * const allowList = [...derEncodingAllowances<Context>("the CRL", refusal, parse), …];
 */
export function derEncodingAllowances<Context extends { readonly input: Buffer }>(
  what: string,
  refusal: (context: Context) => string | undefined,
  parse: (input: Buffer) => Parsed<unknown>,
): AllowedDifference<Context>[] {
  return [
    {
      id: "trailing-bytes",
      reason: `bytes after ${what}: OpenSSL's d2i reads the first object and ignores the rest; Pier refuses the input (DER is exactly one structure)`,
      applies: (c) => {
        const first = firstElementLength(c.input);
        return /trailing bytes after the structure/.test(refusal(c) ?? "") && first !== undefined && first < c.input.length && "accepted" in parse(c.input.subarray(0, first));
      },
    },
    {
      id: "ber-encoding",
      reason: "BER-only encodings (indefinite length, a length field over 4 bytes or not minimal, high tag numbers): OpenSSL's decoder accepts BER, Pier's reader only DER (X.690 §10.1)",
      applies: (c) => /indefinite length is not allowed|length field too large|length is not minimally encoded|high tag numbers are not used/.test(refusal(c) ?? ""),
    },
    {
      id: "primitive-sequence-or-set",
      reason: "a SEQUENCE or SET encoded with the primitive bit clear (X.690 §8.9/§8.11 require the constructed form): OpenSSL's decoder ignores the bit; Pier refuses",
      applies: (c) => /unexpected type|is not a SEQUENCE/.test(refusal(c) ?? "") && hasPrimitiveSequenceOrSet(c.input),
    },
  ];
}
