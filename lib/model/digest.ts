/**
 * Block digests: MD5 (Keep-compatible, the default) and SHA-256, one-shot or
 * incremental. Both go through `node:crypto`, which Node and Deno both provide
 * natively; WebCrypto has no MD5 and no incremental hashing.
 *
 * @example Hashing a block
 * ```ts
 * import { digest } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const hex = digest(new TextEncoder().encode("foo"));
 * assert.equal(hex, "acbd18db4cc2f85cedef654fccc4a4d8");
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The digest algorithms a locator can carry: 32 hex digits are MD5, 64 are SHA-256. */
export type DigestAlgorithm = "md5" | "sha256";

/** Every supported algorithm, in preference order. */
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ["md5", "sha256"];

/** Hex length of each algorithm's digest. */
export const DIGEST_HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = {
  md5: 32,
  sha256: 64,
};

/** An incremental hasher: feed it chunks, then read the lowercase hex digest once. */
export interface Hasher {
  /** The algorithm this hasher computes. */
  readonly algorithm: DigestAlgorithm;
  /** Adds bytes to the digest. Throws once {@linkcode Hasher.digest} has been called. */
  update(bytes: Uint8Array): void;
  /** Finishes and returns the lowercase hex digest. Callable once. */
  digest(): string;
}

/**
 * Creates an incremental hasher.
 *
 * @param algorithm `"md5"` (default) or `"sha256"`.
 * @returns A {@linkcode Hasher}.
 *
 * @example Hashing in pieces
 * ```ts
 * import { createHasher } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const hasher = createHasher("sha256");
 * hasher.update(new TextEncoder().encode("ab"));
 * hasher.update(new TextEncoder().encode("c"));
 * assert.ok(hasher.digest().startsWith("ba7816bf"));
 * ```
 */
export function createHasher(algorithm: DigestAlgorithm = "md5"): Hasher {
  assertAlgorithm(algorithm);
  const hash = createHash(algorithm);
  return {
    algorithm,
    update(bytes: Uint8Array): void {
      hash.update(bytes);
    },
    digest(): string {
      return hash.digest("hex");
    },
  };
}

/**
 * Hashes bytes in one call.
 *
 * @param bytes The bytes to hash.
 * @param algorithm `"md5"` (default) or `"sha256"`.
 * @returns The lowercase hex digest.
 *
 * @example
 * ```ts
 * import { digest } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("foo");
 * assert.equal(digest(bytes), "acbd18db4cc2f85cedef654fccc4a4d8");
 * assert.equal(digest(bytes, "sha256").length, 64);
 * ```
 */
export function digest(bytes: Uint8Array, algorithm: DigestAlgorithm = "md5"): string {
  assertAlgorithm(algorithm);
  return createHash(algorithm).update(bytes).digest("hex");
}

/**
 * Tells which algorithm produced a hex digest, from its length.
 *
 * @param hex A digest in hex.
 * @returns The algorithm, or `undefined` when the length matches none.
 */
export function algorithmOf(hex: string): DigestAlgorithm | undefined {
  if (hex.length === 32) return "md5";
  if (hex.length === 64) return "sha256";
  return undefined;
}

/** The digest of zero bytes for each algorithm: the empty block never needs I/O. */
export const EMPTY_DIGEST: Readonly<Record<DigestAlgorithm, string>> = {
  md5: "d41d8cd98f00b204e9800998ecf8427e",
  sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
};

/** Throws a TypeError unless `algorithm` is a supported digest name. */
export function assertAlgorithm(algorithm: unknown): asserts algorithm is DigestAlgorithm {
  if (algorithm !== "md5" && algorithm !== "sha256") {
    throw new TypeError(
      `Cannot use digest algorithm '${String(algorithm)}': expected 'md5' or 'sha256'`,
    );
  }
}
