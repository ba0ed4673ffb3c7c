/**
 * Joins byte arrays into one new array: the one loop for it, named as
 * `@std/bytes`' `concat`, which cannot be installed here. Private to the
 * package.
 *
 * @example
 * ```ts
 * import { concat } from "./_concat.ts";
 *
 * const joined = concat([new Uint8Array([1, 2]), new Uint8Array([3])]);
 * if (joined.join() !== "1,2,3") throw new Error("not joined");
 * ```
 *
 * @module
 */

/**
 * Joins `buffers` into a new array of their total length.
 *
 * @param buffers The arrays, in order.
 * @returns A new array holding them one after another.
 */
export function concat(buffers: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of buffers) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}
