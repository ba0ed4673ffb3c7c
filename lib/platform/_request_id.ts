/**
 * Request ids in Arvados's form: `req-` and 20 base-36 characters. Private.
 *
 * @module
 */

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** A fresh request id. */
export function newRequestId(): string {
  let id = "req-";
  for (const b of crypto.getRandomValues(new Uint8Array(20))) id += ALPHABET[b % 36];
  return id;
}
