/**
 * The one check of a byte range `[start, end)` against a size, for every
 * ranged read in the package (blocks, sources, manifests). Private to the
 * package.
 *
 * @example
 * ```ts
 * import { checkRange } from "./_range.ts";
 *
 * checkRange(2, 5, 10, "block 'x'");
 * let failed = false;
 * try {
 *   checkRange(5, 2, 10, "block 'x'");
 * } catch (error) {
 *   failed = error instanceof RangeError;
 * }
 * if (!failed) throw new Error("expected a RangeError");
 * ```
 *
 * @module
 */

/**
 * Throws a RangeError unless `0 <= start <= end <= size` in safe integers.
 *
 * @param start First byte.
 * @param end One past the last byte.
 * @param size The bytes there are.
 * @param of What is read, for the message, e.g. `block '…'`. @default {"the source"}
 * @throws {RangeError} When the range does not fit.
 */
export function checkRange(start: number, end: number, size: number, of = "the source"): void {
  if (
    !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start ||
    end > size
  ) {
    throw new RangeError(`Cannot read range [${start}, ${end}) of ${of}: it has ${size} bytes`);
  }
}
