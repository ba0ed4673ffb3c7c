/**
 * Stowage's typed errors. Every storage failure is one of these, so callers can
 * branch on `instanceof` instead of parsing messages. Bad arguments are plain
 * `TypeError`s (wrong type) or `RangeError`s (value out of range).
 *
 * @example Telling a missing block from a damaged one
 * ```ts
 * import { BlockCorruptError, BlockNotFoundError, MemoryStore, StowageError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * const error = await store.get("acbd18db4cc2f85cedef654fccc4a4d8+3").catch((e) => e);
 * assert.ok(error instanceof BlockNotFoundError && error instanceof StowageError);
 * assert.ok(!(error instanceof BlockCorruptError));
 * assert.equal(error.locator, "acbd18db4cc2f85cedef654fccc4a4d8+3");
 * ```
 *
 * @module
 */

/**
 * Base class of every Stowage storage error; its `name` is the subclass's.
 *
 * @example Catching any storage failure
 * ```ts
 * import { parseLocator, StowageError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => parseLocator("nonsense"), StowageError);
 * ```
 */
export class StowageError extends Error {
  /**
   * Creates a {@linkcode StowageError}.
   *
   * @param message What failed and where.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A string is not a valid block locator. `input` is the rejected text.
 *
 * @example
 * ```ts
 * import { LocatorError, parseLocator } from "stowage";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => parseLocator("acbd18db4cc2f85cedef654fccc4a4d8"), LocatorError);
 * ```
 */
export class LocatorError extends StowageError {
  /** The text that failed to parse. */
  readonly input: string;
  /**
   * Creates a {@linkcode LocatorError}.
   *
   * @param input The rejected locator text.
   * @param reason Why it was rejected.
   */
  constructor(input: string, reason: string) {
    super(`Cannot parse locator '${truncate(input)}': ${reason}`);
    this.input = input;
  }
}

/**
 * A manifest (Keep text or JSON) is malformed; `line` and `column` are 1-based.
 *
 * @example
 * ```ts
 * import { Manifest, ManifestError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = (() => {
 *   try {
 *     return Manifest.parse(". nonsense 0:3:foo\n");
 *   } catch (e) {
 *     return e;
 *   }
 * })();
 * assert.ok(error instanceof ManifestError);
 * assert.equal(error.line, 1);
 * ```
 */
export class ManifestError extends StowageError {
  /** 1-based line of the problem (1 for JSON manifests). */
  readonly line: number;
  /** 1-based column of the problem. */
  readonly column: number;
  /**
   * Creates a {@linkcode ManifestError}.
   *
   * @param reason What is wrong.
   * @param line 1-based line.
   * @param column 1-based column.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(reason: string, line: number, column: number, options?: ErrorOptions) {
    super(`Cannot parse manifest at line ${line}, column ${column}: ${reason}`, options);
    this.line = line;
    this.column = column;
  }
}

/**
 * The block is not stored (in this store, or on any service asked).
 *
 * @example
 * ```ts
 * import { BlockNotFoundError, MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(new MemoryStore().get("acbd18db4cc2f85cedef654fccc4a4d8+3"), BlockNotFoundError);
 * ```
 */
export class BlockNotFoundError extends StowageError {
  /** The locator that was asked for. */
  readonly locator: string;
  /**
   * Creates a {@linkcode BlockNotFoundError}.
   *
   * @param locator The locator asked for.
   * @param where The store or service that answered.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(locator: string, where: string, options?: ErrorOptions) {
    super(`Block '${locator}' not found in ${where}`, options);
    this.locator = locator;
  }
}

/**
 * Bytes do not match their digest or size: on put nothing was stored, on get
 * nothing is returned.
 *
 * @example Putting bytes under the wrong locator
 * ```ts
 * import { BlockCorruptError, MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * const bytes = new TextEncoder().encode("bar");
 * await assert.rejects(
 *   store.put(bytes, { expect: "acbd18db4cc2f85cedef654fccc4a4d8+3" }),
 *   BlockCorruptError,
 * );
 * ```
 */
export class BlockCorruptError extends StowageError {
  /** The locator whose bytes failed verification. */
  readonly locator: string;
  /**
   * Creates a {@linkcode BlockCorruptError}.
   *
   * @param locator The locator that failed verification.
   * @param detail What did not match, and where.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(locator: string, detail: string, options?: ErrorOptions) {
    super(`Block '${locator}' failed verification: ${detail}`, options);
    this.locator = locator;
  }
}

/**
 * The store has no room for the block (ENOSPC, a quota, HTTP 507); nothing
 * was left behind.
 *
 * @example
 * ```ts
 * import { StoreFullError, StowageError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new StoreFullError("Cannot write block: no space left (ENOSPC)", { status: 507 });
 * assert.ok(error instanceof StowageError);
 * assert.equal(error.status, 507);
 * ```
 */
export class StoreFullError extends StowageError {
  /** The HTTP status, when a service said so (507). */
  readonly status: number | undefined;
  /**
   * Creates a {@linkcode StoreFullError}.
   *
   * @param message What failed and where.
   * @param options `cause`, and the HTTP status.
   */
  constructor(message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options);
    this.status = options?.status;
  }
}

/**
 * A store failed for another reason (I/O, permissions); `cause` says why,
 * and `retryable` whether trying again can help.
 *
 * @example A file store whose folder cannot be made
 * ```ts
 * import { FileStore, StoreError } from "stowage";
 * import assert from "node:assert/strict";
 * import { mkdtemp, writeFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const file = join(await mkdtemp(join(tmpdir(), "stowage-doc-")), "a-file");
 * await writeFile(file, "not a folder");
 * const error = await new FileStore(join(file, "blocks")).open().catch((e) => e);
 * assert.ok(error instanceof StoreError);
 * assert.equal(error.retryable, false); // ENOTDIR cannot heal by itself
 * ```
 */
export class StoreError extends StowageError {
  /**
   * Whether another try may succeed: `false` for what cannot heal by itself
   * (a folder that is a file, no permission, a read-only file system).
   */
  readonly retryable: boolean;

  /**
   * Creates a {@linkcode StoreError}.
   *
   * @param message What failed and where.
   * @param options `cause`, and whether another try may succeed (default `true`).
   */
  constructor(message: string, options?: ErrorOptions & { retryable?: boolean }) {
    super(message, options);
    this.retryable = options?.retryable ?? true;
  }
}

/**
 * A block service answered with an error status, or could not be reached.
 * `retryable` says whether another try may succeed.
 *
 * @example
 * ```ts
 * import { ServiceError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new ServiceError("http://a:25107/", "HTTP 503", { status: 503, retryable: true });
 * assert.equal(error.message, "HTTP 503 (service 'http://a:25107/')");
 * ```
 */
export class ServiceError extends StowageError {
  /** The service's id. */
  readonly service: string;
  /** The HTTP status, when the service answered. */
  readonly status: number | undefined;
  /** Whether another try (later, or at this service) may succeed. */
  readonly retryable: boolean;
  /**
   * Creates a {@linkcode ServiceError}.
   *
   * @param service The service's id.
   * @param message What failed.
   * @param details Status and retryability.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(
    service: string,
    message: string,
    details: { status?: number; retryable: boolean },
    options?: ErrorOptions,
  ) {
    super(`${message} (service '${service}')`, options);
    this.service = service;
    this.status = details.status;
    this.retryable = details.retryable;
  }
}

/**
 * A request ran past one of its deadlines (response headers, idle body gap,
 * whole request). Always retryable.
 *
 * @example
 * ```ts
 * import { DeadlineError, ServiceError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new DeadlineError("http://a:25107/", "headers", 5000);
 * assert.ok(error instanceof ServiceError && error.retryable);
 * ```
 */
export class DeadlineError extends ServiceError {
  /** Which deadline passed. */
  readonly deadline: "headers" | "idle" | "request";
  /**
   * Creates a {@linkcode DeadlineError}.
   *
   * @param service The service's id.
   * @param deadline Which deadline passed.
   * @param ms The deadline in milliseconds.
   */
  constructor(service: string, deadline: "headers" | "idle" | "request", ms: number) {
    const what = deadline === "headers"
      ? "no response headers"
      : deadline === "idle"
      ? "no body bytes"
      : "the request did not finish";
    super(service, `Deadline passed: ${what} within ${ms} ms`, { retryable: true });
    this.deadline = deadline;
  }
}

/**
 * A service refused our credentials (S3's 403 `SignatureDoesNotMatch`,
 * `InvalidAccessKeyId`, `AccessDenied`, ...). Never retried: the same
 * request would be refused again.
 *
 * @example
 * ```ts
 * import { AuthError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new AuthError("s3:blocks", "Bucket 'blocks' refused the signature", {
 *   status: 403,
 *   code: "SignatureDoesNotMatch",
 * });
 * assert.equal(error.retryable, false);
 * ```
 */
export class AuthError extends ServiceError {
  /** The service's error code, e.g. `SignatureDoesNotMatch`, when it sent one. */
  readonly code: string | undefined;
  /**
   * Creates a {@linkcode AuthError}.
   *
   * @param service The service's id.
   * @param message What was refused, naming the bucket or resource.
   * @param details Status and the service's error code.
   */
  constructor(service: string, message: string, details: { status: number; code?: string }) {
    super(service, message, { status: details.status, retryable: false });
    this.code = details.code;
  }
}

/** What one service last said during a replicated put or a read. */
export interface ServiceOutcome {
  /** The service's id. */
  service: string;
  /** Its last HTTP status, when it answered. */
  status?: number;
  /** Its last error message, when it failed. */
  error?: string;
  /** Replicas it confirmed. */
  replicas?: number;
}

/**
 * A replicated put could not store enough copies (or storage classes);
 * `services` says what each service answered.
 *
 * @example A client with no writable service
 * ```ts
 * import { BlockClient, InsufficientReplicasError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const client = new BlockClient({ services: [] });
 * await assert.rejects(client.put(new Uint8Array(1)), InsufficientReplicasError);
 * ```
 */
export class InsufficientReplicasError extends StowageError {
  /** The block's locator. */
  readonly locator: string;
  /** Copies wanted. */
  readonly wanted: number;
  /** Copies confirmed. */
  readonly achieved: number;
  /** Storage classes wanted. */
  readonly classesWanted: readonly string[];
  /** Copies confirmed per class. */
  readonly classesAchieved: Readonly<Record<string, number>>;
  /** Every service's last status or error. */
  readonly services: readonly ServiceOutcome[];
  /**
   * Creates an {@linkcode InsufficientReplicasError}.
   *
   * @param details What was wanted, what was achieved, and what each service said.
   */
  constructor(details: {
    locator: string;
    wanted: number;
    achieved: number;
    classesWanted: readonly string[];
    classesAchieved: Readonly<Record<string, number>>;
    services: readonly ServiceOutcome[];
    rounds: number;
  }) {
    const classes = details.classesWanted.length === 0
      ? ""
      : ` and classes [${details.classesWanted.join(", ")}] (confirmed ${
        JSON.stringify(details.classesAchieved)
      })`;
    const said = details.services.map((s) => `${s.service}: ${s.error ?? `HTTP ${s.status}`}`).join(
      "; ",
    );
    super(
      `Cannot store block '${details.locator}': wanted ${details.wanted} copies${classes} but ${details.achieved} confirmed after ${details.rounds} round(s)${
        said ? ` — ${said}` : " — no writable service"
      }`,
    );
    this.locator = details.locator;
    this.wanted = details.wanted;
    this.achieved = details.achieved;
    this.classesWanted = details.classesWanted;
    this.classesAchieved = details.classesAchieved;
    this.services = details.services;
  }
}

/**
 * A block could not be read from any service, and not every service said
 * "not found"; `services` lists each failure.
 *
 * @example
 * ```ts
 * import { BlockReadError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new BlockReadError("acbd18db4cc2f85cedef654fccc4a4d8+3", [
 *   { service: "http://a:25107/", status: 500, error: "HTTP 500" },
 * ]);
 * assert.match(error.message, /from any service — http:\/\/a:25107\/: HTTP 500/);
 * ```
 */
export class BlockReadError extends StowageError {
  /** The locator asked for. */
  readonly locator: string;
  /** Each service's failure. */
  readonly services: readonly ServiceOutcome[];
  /**
   * Creates a {@linkcode BlockReadError}.
   *
   * @param locator The locator.
   * @param services What each service said.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(locator: string, services: readonly ServiceOutcome[], options?: ErrorOptions) {
    super(
      `Cannot read block '${locator}' from any service — ${
        services.map((s) => `${s.service}: ${s.error ?? `HTTP ${s.status}`}`).join("; ") ||
        "no service"
      }`,
      options,
    );
    this.locator = locator;
    this.services = services;
  }
}

/**
 * A server answered a ranged request with the whole object (200), where only
 * part was wanted. `httpSource` raises it.
 *
 * @example
 * ```ts
 * import { RangeNotSupportedError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new RangeNotSupportedError("http://example.com/x", "bytes 0-99");
 * assert.equal(error.url, "http://example.com/x");
 * ```
 */
export class RangeNotSupportedError extends StowageError {
  /** The URL read. */
  readonly url: string;
  /**
   * Creates a {@linkcode RangeNotSupportedError}.
   *
   * @param url The URL.
   * @param detail What was asked.
   */
  constructor(url: string, detail: string) {
    super(`Cannot read '${url}' by range: the server ignored the Range header (${detail})`);
    this.url = url;
  }
}

/**
 * The object changed while it was being read (ETag or Last-Modified moved, or
 * 412). `httpSource` raises it rather than mixing two versions.
 *
 * @example
 * ```ts
 * import { SourceChangedError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new SourceChangedError("http://example.com/x", "HTTP 412");
 * assert.match(error.message, /changed while being read/);
 * ```
 */
export class SourceChangedError extends StowageError {
  /** The URL read. */
  readonly url: string;
  /**
   * Creates a {@linkcode SourceChangedError}.
   *
   * @param url The URL.
   * @param detail What changed.
   */
  constructor(url: string, detail: string) {
    super(`Cannot keep reading '${url}': the object changed while being read (${detail})`);
    this.url = url;
  }
}

/**
 * Two keys hash to one slot of a key index. The entry there belongs to the
 * other key and is left as it is; nothing is written for this one.
 *
 * @example
 * ```ts
 * import { KeyCollisionError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new KeyCollisionError("keys:/srv/keys", "https://a/x", "https://b/y");
 * assert.equal(error.key, "https://a/x");
 * assert.match(error.message, /already holds 'https:\/\/b\/y'/);
 * ```
 */
export class KeyCollisionError extends StowageError {
  /** The key refused. */
  readonly key: string;
  /** The key that holds the slot. */
  readonly holder: string;
  /**
   * Creates a {@linkcode KeyCollisionError}.
   *
   * @param index The index's id.
   * @param key The key refused.
   * @param holder The key whose entry is in its slot.
   */
  constructor(index: string, key: string, holder: string) {
    super(
      `Cannot use key '${key}' in ${index}: its hash slot already holds '${holder}' (a hash collision); nothing was written`,
    );
    this.key = key;
    this.holder = holder;
  }
}

/**
 * A key has no complete entry in the key index (`stowage fetch --offline`
 * of a URL never fetched, `stowage keys rm` of an unknown key).
 *
 * @example
 * ```ts
 * import { KeyNotFoundError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new KeyNotFoundError("keys:memory", "https://example.com/x");
 * assert.match(error.message, /no entry for 'https:\/\/example.com\/x'/);
 * ```
 */
export class KeyNotFoundError extends StowageError {
  /** The key asked for. */
  readonly key: string;
  /**
   * Creates a {@linkcode KeyNotFoundError}.
   *
   * @param index The index's id.
   * @param key The key.
   * @param detail Why, when there is more to say.
   */
  constructor(index: string, key: string, detail?: string) {
    super(`${index} has no entry for '${key}'${detail ? `: ${detail}` : ""}`);
    this.key = key;
  }
}

/**
 * An object's bytes do not match the checksum its origin gave for it
 * (`Content-MD5`, `Digest`, `Repr-Digest`, an S3 ETag). Nothing is recorded
 * for it.
 *
 * @example
 * ```ts
 * import { ChecksumMismatchError } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const error = new ChecksumMismatchError("https://example.com/x", "md5", "aa", "bb");
 * assert.match(error.message, /md5 aa was promised, bb was received/);
 * ```
 */
export class ChecksumMismatchError extends StowageError {
  /** The URL fetched. */
  readonly url: string;
  /**
   * Creates a {@linkcode ChecksumMismatchError}.
   *
   * @param url The URL (without credentials).
   * @param algorithm The checksum's algorithm.
   * @param expected The hex digest the origin gave.
   * @param actual The hex digest of the bytes received.
   */
  constructor(url: string, algorithm: string, expected: string, actual: string) {
    super(
      `Cannot store '${url}': its bytes do not match the origin's checksum (${algorithm} ${expected} was promised, ${actual} was received); nothing was recorded`,
    );
    this.url = url;
  }
}

function truncate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
