/**
 * Keep permission signatures: a block locator carries
 * `+A<signature>@<expiry>` where the signature is
 * `hex(HMAC-SHA1(key, digest "@" token "@" expiryHex8 "@" ttlHex))`, exactly as
 * Arvados computes it, so Stowage and Arvados tools accept each other's
 * signed locators. Comparisons run in constant time.
 *
 * @example Signing and verifying
 * ```ts
 * import { signLocator, verifyLocatorSignature } from "stowage/server";
 * import assert from "node:assert/strict";
 *
 * const signed = signLocator("acbd18db4cc2f85cedef654fccc4a4d8+3", {
 *   key: "secret", token: "tok", ttl: 3600, now: 1_700_000_000_000,
 * });
 * const check = verifyLocatorSignature(signed, { key: "secret", token: "tok", ttl: 3600, now: 1_700_000_000_000 });
 * assert.equal(check, "valid");
 * ```
 *
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { formatLocator, type Locator, toLocator } from "./locator.ts";

/** What signing and verifying need. */
export interface SignatureOptions {
  /** The cluster's blob signing key. */
  key: string | Uint8Array;
  /** The API token the signature is bound to (for `v2/<uuid>/<secret>` tokens, the secret is used). */
  token: string;
  /** Signature lifetime in seconds. @default {1209600} (two weeks, Keep's BlobSigningTTL) */
  ttl?: number;
  /** The current time, Unix milliseconds. @default {Date.now()} */
  now?: number;
}

/** Keep's default signature lifetime: 336 hours. */
export const DEFAULT_SIGNATURE_TTL = 1_209_600;

/**
 * Computes a permission signature.
 *
 * @param digest The block's hex digest.
 * @param expiry Expiry, Unix seconds.
 * @param options Key, token and ttl.
 * @returns 40 lowercase hex digits.
 */
export function permissionSignature(
  digest: string,
  expiry: number,
  options: Omit<SignatureOptions, "now">,
): string {
  const ttl = options.ttl ?? DEFAULT_SIGNATURE_TTL;
  const message = `${digest}@${tokenSecret(options.token)}@${hex8(expiry)}@${
    Math.floor(ttl).toString(16)
  }`;
  return createHmac("sha1", options.key).update(message).digest("hex");
}

/**
 * Adds (or replaces) the permission hint of a locator.
 *
 * @param locator The locator to sign.
 * @param options Key, token, ttl and clock.
 * @returns The signed locator text.
 *
 * @example
 * ```ts
 * import { signLocator } from "stowage/server";
 * import assert from "node:assert/strict";
 *
 * const signed = signLocator("acbd18db4cc2f85cedef654fccc4a4d8+3", {
 *   key: "secret",
 *   token: "tok",
 *   ttl: 3600,
 *   now: 1_700_000_000_000,
 * });
 * assert.match(signed, /^acbd18db4cc2f85cedef654fccc4a4d8\+3\+A[0-9a-f]{40}@[0-9a-f]{8}$/);
 * ```
 */
export function signLocator(locator: string | Locator, options: SignatureOptions): string {
  const loc = toLocator(locator);
  const ttl = options.ttl ?? DEFAULT_SIGNATURE_TTL;
  const expiry = Math.floor((options.now ?? Date.now()) / 1000) + ttl;
  const hint = `A${permissionSignature(loc.digest, expiry, options)}@${hex8(expiry)}`;
  const others = loc.hints.filter((h) => !h.startsWith("A"));
  return formatLocator({ digest: loc.digest, size: loc.size, hints: [hint, ...others] });
}

/** The outcome of {@linkcode verifyLocatorSignature}. */
export type SignatureCheck = "valid" | "missing" | "expired" | "invalid";

/**
 * Checks a locator's permission hint.
 *
 * @param locator The signed locator.
 * @param options Key, token, ttl and clock.
 * @returns `"valid"`, `"missing"` (no hint), `"expired"`, or `"invalid"` (wrong token, key or tampered).
 *
 * @example A signature checked after it expired
 * ```ts
 * import { signLocator, verifyLocatorSignature } from "stowage/server";
 * import assert from "node:assert/strict";
 *
 * const options = { key: "secret", token: "tok", ttl: 60, now: 1_700_000_000_000 };
 * const signed = signLocator("acbd18db4cc2f85cedef654fccc4a4d8+3", options);
 * assert.equal(verifyLocatorSignature(signed, options), "valid");
 * assert.equal(verifyLocatorSignature(signed, { ...options, now: options.now + 61_000 }), "expired");
 * ```
 */
export function verifyLocatorSignature(
  locator: string | Locator,
  options: SignatureOptions,
): SignatureCheck {
  const loc = toLocator(locator);
  if (loc.permission === undefined) return "missing";
  const expected = permissionSignature(loc.digest, loc.permission.expiry, options);
  if (!constantTimeEqual(expected, loc.permission.signature)) return "invalid";
  if (loc.permission.expiry * 1000 <= (options.now ?? Date.now())) return "expired";
  return "valid";
}

/**
 * Compares two strings in time independent of where they differ (both are
 * hashed first, so lengths leak nothing either).
 *
 * @param a One string.
 * @param b The other.
 * @returns Whether they are equal.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

function tokenSecret(token: string): string {
  // Arvados signs with the secret part of v2 tokens.
  if (token.startsWith("v2/")) return token.slice(token.lastIndexOf("/") + 1);
  return token;
}

function hex8(n: number): string {
  return Math.floor(n).toString(16).padStart(8, "0");
}
