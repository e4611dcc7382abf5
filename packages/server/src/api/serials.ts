import { canonicalSerial } from "@pier/pki";

/**
 * A certificate serial as the store keeps Pier's: lowercase hex, whole bytes, no leading zero
 * bytes ("0b20", as `X509Certificate` shows "0B20", not "b20"). What is not hex (an empty or
 * malformed value in a record) is only lowercased, so it matches nothing rather than throwing.
 *
 * @example
 * storedSerial("0B20"); // "0b20"
 */
export function storedSerial(serial: string): string {
  return /^[0-9a-f]+$/i.test(serial) ? canonicalSerial(serial) : serial.toLowerCase();
}
