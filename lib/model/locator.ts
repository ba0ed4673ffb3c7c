/**
 * Block locators in Keep's grammar: `<hex digest>+<size>(+<hint>)*`.
 *
 * A digest of 32 lowercase hex digits is MD5, 64 is SHA-256. Hints match
 * `[A-Z][A-Za-z0-9@_-]*`; the permission hint `A<40 hex>@<8 hex expiry>` is also
 * parsed into its signature and expiry. Parsing is strict and canonical, so
 * `formatLocator(parseLocator(s)) === s` for every accepted `s`.
 *
 * @example Parsing and formatting
 * ```ts
 * import { formatLocator, parseLocator } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const loc = parseLocator("acbd18db4cc2f85cedef654fccc4a4d8+3+Kzzzzz");
 * assert.ok(loc.size === 3 && loc.algorithm === "md5");
 * assert.equal(loc.stripped, "acbd18db4cc2f85cedef654fccc4a4d8+3");
 * assert.equal(formatLocator(loc), "acbd18db4cc2f85cedef654fccc4a4d8+3+Kzzzzz");
 * ```
 *
 * @module
 */
import { algorithmOf, digest, type DigestAlgorithm, EMPTY_DIGEST } from "./digest.ts";
import { LocatorError } from "./errors.ts";

/** A permission hint's parts: the HMAC-SHA1 signature and its expiry. */
export interface LocatorPermission {
  /** 40 lowercase hex digits. */
  readonly signature: string;
  /** Expiry as Unix seconds. */
  readonly expiry: number;
}

/** A parsed block locator. */
export interface Locator {
  /** Lowercase hex digest of the block's bytes. */
  readonly digest: string;
  /** Digest algorithm, from the digest's length. */
  readonly algorithm: DigestAlgorithm;
  /** Block size in bytes. */
  readonly size: number;
  /** Hints after the size, without their leading `+`, in their original order. */
  readonly hints: readonly string[];
  /** The permission hint's parts when the locator carries one (`+A…@…`). */
  readonly permission?: LocatorPermission;
  /** `<digest>+<size>`: the locator without hints, the block's identity. */
  readonly stripped: string;
}

const HEX = /^[0-9a-f]+$/;
const SIZE = /^(0|[1-9][0-9]*)$/;
const HINT = /^[A-Z][A-Za-z0-9@_-]*$/;
const PERMISSION = /^A([0-9a-f]{40})@([0-9a-f]{8})$/;

/**
 * Parses a locator string.
 *
 * @param text The locator, e.g. `acbd18db4cc2f85cedef654fccc4a4d8+3`.
 * @returns The parsed {@linkcode Locator}.
 * @throws {LocatorError} When the text is not a valid locator; the message says why.
 * @throws {TypeError} When `text` is not a string.
 *
 * @example
 * ```ts
 * import { parseLocator } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const loc = parseLocator("acbd18db4cc2f85cedef654fccc4a4d8+3+Kzzzzz");
 * assert.equal(loc.size, 3);
 * assert.deepEqual(loc.hints, ["Kzzzzz"]);
 * ```
 */
export function parseLocator(text: string): Locator {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot parse locator: expected a string, received ${typeof text}`);
  }
  if (text.length === 0) throw new LocatorError(text, "it is empty");
  const parts = text.split("+");
  const digest = parts[0]!;
  if (digest.length === 0) throw new LocatorError(text, "the digest is missing");
  if (!HEX.test(digest)) {
    throw new LocatorError(text, "the digest is not lowercase hex");
  }
  const algorithm = algorithmOf(digest);
  if (algorithm === undefined) {
    throw new LocatorError(
      text,
      `the digest has ${digest.length} hex digits: expected 32 (MD5) or 64 (SHA-256)`,
    );
  }
  if (parts.length < 2) throw new LocatorError(text, "the size is missing");
  for (let i = 1; i < parts.length; i++) {
    if (parts[i] === "") {
      throw new LocatorError(text, `part ${i + 1} is empty ('++' or a trailing '+')`);
    }
  }
  const sizeText = parts[1]!;
  if (!SIZE.test(sizeText)) {
    if (sizeText.startsWith("-")) throw new LocatorError(text, "the size is negative");
    if (HINT.test(sizeText)) throw new LocatorError(text, "a hint comes before the size");
    if (/^[0-9]+$/.test(sizeText)) {
      throw new LocatorError(text, "the size has leading zeros");
    }
    throw new LocatorError(text, `the size '${sizeText}' is not a decimal number`);
  }
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new LocatorError(text, "the size is too large");
  const hints = parts.slice(2);
  let permission: LocatorPermission | undefined;
  for (const hint of hints) {
    if (!HINT.test(hint)) {
      throw new LocatorError(
        text,
        `hint '${hint}' must start with an uppercase letter and contain only A-Z, a-z, 0-9, '@', '_' or '-'`,
      );
    }
    if (hint.startsWith("A")) {
      const match = PERMISSION.exec(hint);
      if (match === null) {
        throw new LocatorError(
          text,
          "the permission hint must be 'A' + 40 lowercase hex + '@' + 8 lowercase hex",
        );
      }
      if (permission !== undefined) {
        throw new LocatorError(text, "there is more than one permission hint");
      }
      permission = { signature: match[1]!, expiry: parseInt(match[2]!, 16) };
    }
  }
  const stripped = formatLocator({ digest, size });
  return permission === undefined
    ? { digest, algorithm, size, hints, stripped }
    : { digest, algorithm, size, hints, permission, stripped };
}

/**
 * Formats a locator as `<digest>+<size>(+<hint>)*`.
 *
 * @param locator A parsed locator, or any object with `digest`, `size` and optional `hints`.
 * @returns The locator text.
 *
 * @example
 * ```ts
 * import { formatLocator } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const text = formatLocator({ digest: "acbd18db4cc2f85cedef654fccc4a4d8", size: 3, hints: ["K1"] });
 * assert.equal(text, "acbd18db4cc2f85cedef654fccc4a4d8+3+K1");
 * ```
 */
export function formatLocator(
  locator: Pick<Locator, "digest" | "size"> & { readonly hints?: readonly string[] },
): string {
  const hints = locator.hints ?? [];
  let text = `${locator.digest}+${locator.size}`;
  for (const hint of hints) text += `+${hint}`;
  return text;
}

/**
 * Parses a locator inside a manifest: as {@linkcode parseLocator}, except that
 * an `A` hint of another shape is carried through untouched (Arvados's
 * manifest readers accept `+Awhatever`; only a signature check needs the
 * strict `A<40 hex>@<8 hex>` form, and there it fails as invalid). Private to
 * the package.
 *
 * @param text The locator token.
 * @returns The parsed locator; `permission` only from a well-formed hint.
 * @throws {LocatorError} When the text is not a locator even so.
 */
export function parseManifestLocator(text: string): Locator {
  try {
    return parseLocator(text);
  } catch (error) {
    const parts = text.split("+");
    const odd = parts.slice(2).filter((h) => h.startsWith("A") && !PERMISSION.test(h));
    if (odd.length === 0 || !odd.every((h) => HINT.test(h))) throw error;
    const rest = parseLocator(parts.filter((p, i) => i < 2 || !odd.includes(p)).join("+"));
    return { ...rest, hints: parts.slice(2) };
  }
}

/**
 * The locator that names `bytes`: `<digest>+<size>`, no hints. The one way
 * the package names a block it has the bytes of.
 *
 * @param bytes The block.
 * @param algorithm The digest algorithm. @default {"md5"}
 * @returns The locator text.
 * @example
 * ```ts
 * import { locatorOf } from "stowage";
 * import assert from "node:assert/strict";
 *
 * assert.equal(locatorOf(new TextEncoder().encode("foo")), "acbd18db4cc2f85cedef654fccc4a4d8+3");
 * ```
 */
export function locatorOf(bytes: Uint8Array, algorithm: DigestAlgorithm = "md5"): string {
  return formatLocator({ digest: digest(bytes, algorithm), size: bytes.length });
}

/**
 * Accepts a locator as text or parsed, and returns it parsed.
 *
 * @param locator Locator text or a parsed locator.
 * @returns The parsed locator.
 */
export function toLocator(locator: string | Locator): Locator {
  return typeof locator === "string" ? parseLocator(locator) : locator;
}

/**
 * Tells whether a locator names the empty block, which never needs I/O.
 *
 * @param locator Locator text or a parsed locator.
 * @returns `true` for `d41d8cd98f00b204e9800998ecf8427e+0` and its SHA-256 twin.
 *
 * @example
 * ```ts
 * import { isEmptyBlock } from "stowage";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isEmptyBlock("d41d8cd98f00b204e9800998ecf8427e+0"), true);
 * assert.equal(isEmptyBlock("acbd18db4cc2f85cedef654fccc4a4d8+3"), false);
 * ```
 */
export function isEmptyBlock(locator: string | Locator): boolean {
  const loc = toLocator(locator);
  return loc.size === 0 && loc.digest === EMPTY_DIGEST[loc.algorithm];
}

/** The MD5 locator of the empty block. */
export const EMPTY_BLOCK_LOCATOR = "d41d8cd98f00b204e9800998ecf8427e+0";
