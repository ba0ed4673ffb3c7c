/**
 * Helpers shared by the block stores: range checks, expected-locator checks,
 * abort checks. Private to the package.
 *
 * @module
 */
import type { ByteRange } from "../model/block_store.ts";
import { assertAlgorithm, digest, type DigestAlgorithm } from "../model/digest.ts";
import { BlockCorruptError, BlockNotFoundError } from "../model/errors.ts";
import { type Locator, locatorOf, toLocator } from "../model/locator.ts";
import { checkRange } from "../model/_range.ts";

/**
 * Resolves an optional range against a block size.
 * @throws {RangeError} When the range does not fit inside the block.
 */
export function resolveRange(
  range: ByteRange | undefined,
  size: number,
  locator: string,
): [number, number] {
  if (range === undefined) return [0, size];
  const end = range.end ?? size;
  checkRange(range.start, end, size, `block '${locator}'`);
  return [range.start, end];
}

/** Hashes `bytes` and returns their locator, checking them against `expect` when given. */
export function locatorFor(
  bytes: Uint8Array,
  algorithm: DigestAlgorithm,
  expect: string | Locator | undefined,
  where: string,
  verified = false,
): string {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot put block into ${where}: expected a Uint8Array`);
  }
  let wanted: Locator | undefined;
  if (expect !== undefined) {
    wanted = toLocator(expect);
    algorithm = wanted.algorithm;
  }
  assertAlgorithm(algorithm);
  if (verified && wanted !== undefined && wanted.size === bytes.length) return wanted.stripped;
  const locator = locatorOf(bytes, algorithm);
  if (wanted !== undefined && wanted.stripped !== locator) {
    throw new BlockCorruptError(
      wanted.stripped,
      `the ${bytes.length} bytes given to ${where} hash to '${locator}'`,
    );
  }
  return locator;
}

/** Throws `signal.reason` when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}

/** Throws a TypeError unless `prefix` is lowercase hex (or empty). */
export function checkPrefix(prefix: string): void {
  if (typeof prefix !== "string" || !/^[0-9a-f]*$/.test(prefix)) {
    throw new TypeError(
      `Cannot list blocks with prefix '${String(prefix)}': expected lowercase hex`,
    );
  }
}

/**
 * Checks what a service sent for `GET` of `loc` over [start, end): a whole
 * block must hash to its digest; a 206 must have the range's length; a 200 to
 * a range request (the service ignored Range) is verified whole, then sliced.
 *
 * @throws {BlockCorruptError} When the bytes are not the block's.
 */
export function checkBlockBody(
  loc: Locator,
  start: number,
  end: number,
  status: number,
  bytes: Uint8Array,
  service: string,
): Uint8Array {
  if (start === 0 && end === loc.size) {
    if (status !== 200 || bytes.length !== loc.size) {
      throw new BlockCorruptError(loc.stripped, `service '${service}' sent ${bytes.length} bytes`);
    }
    const actual = digest(bytes, loc.algorithm);
    if (actual !== loc.digest) {
      throw new BlockCorruptError(
        loc.stripped,
        `service '${service}' sent bytes hashing to '${actual}'`,
      );
    }
    return bytes;
  }
  if (status === 206) {
    if (bytes.length !== end - start) {
      throw new BlockCorruptError(
        loc.stripped,
        `service '${service}' sent ${bytes.length} bytes for a range of ${end - start}`,
      );
    }
    return bytes;
  }
  if (bytes.length === loc.size && digest(bytes, loc.algorithm) === loc.digest) {
    return bytes.slice(start, end);
  }
  throw new BlockCorruptError(
    loc.stripped,
    `service '${service}' answered a range request with ${bytes.length} bytes`,
  );
}

/** Resolves `true` when `work` does, `false` when it rejects with `BlockNotFoundError`. */
export async function falseIfNotFound(work: Promise<unknown>): Promise<boolean> {
  try {
    await work;
    return true;
  } catch (error) {
    if (error instanceof BlockNotFoundError) return false;
    throw error;
  }
}
