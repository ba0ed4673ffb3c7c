/**
 * Stowage's typed errors. Every storage failure is one of these, so callers can
 * branch on `instanceof` instead of parsing messages. Bad arguments are plain
 * `TypeError`s (wrong type) or `RangeError`s (value out of range).
 *
 * @example Telling a missing block from a damaged one
 * ```ts ignore
 * import { BlockCorruptError, BlockNotFoundError, FileStore } from "stowage";
 *
 * const store = new FileStore("/tmp/blocks");
 * try {
 *   await store.get("acbd18db4cc2f85cedef654fccc4a4d8+3");
 * } catch (error) {
 *   if (error instanceof BlockNotFoundError) console.log("not stored here");
 *   else if (error instanceof BlockCorruptError) console.log("damaged:", error.message);
 *   else throw error;
 * }
 * ```
 *
 * @module
 */

/** Base class of every Stowage storage error. */
export class StowageError extends Error {
  /**
   * @param message What failed and where.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A string is not a valid block locator. `input` is the rejected text. */
export class LocatorError extends StowageError {
  /** The text that failed to parse. */
  readonly input: string;
  /**
   * @param input The rejected locator text.
   * @param reason Why it was rejected.
   */
  constructor(input: string, reason: string) {
    super(`Cannot parse locator '${truncate(input)}': ${reason}`);
    this.input = input;
  }
}

/** A manifest (Keep text or JSON) is malformed; `line` and `column` are 1-based. */
export class ManifestError extends StowageError {
  /** 1-based line of the problem (1 for JSON manifests). */
  readonly line: number;
  /** 1-based column of the problem. */
  readonly column: number;
  /**
   * @param reason What is wrong.
   * @param line 1-based line.
   * @param column 1-based column.
   */
  constructor(reason: string, line: number, column: number, options?: ErrorOptions) {
    super(`Cannot parse manifest at line ${line}, column ${column}: ${reason}`, options);
    this.line = line;
    this.column = column;
  }
}

/** The block is not stored (in this store, or on any service asked). */
export class BlockNotFoundError extends StowageError {
  /** The locator that was asked for. */
  readonly locator: string;
  /**
   * @param locator The locator asked for.
   * @param where The store or service that answered.
   */
  constructor(locator: string, where: string, options?: ErrorOptions) {
    super(`Block '${locator}' not found in ${where}`, options);
    this.locator = locator;
  }
}

/** Bytes do not match their digest or size: on put nothing was stored, on get nothing is returned. */
export class BlockCorruptError extends StowageError {
  /** The locator whose bytes failed verification. */
  readonly locator: string;
  /**
   * @param locator The locator that failed verification.
   * @param detail What did not match, and where.
   */
  constructor(locator: string, detail: string, options?: ErrorOptions) {
    super(`Block '${locator}' failed verification: ${detail}`, options);
    this.locator = locator;
  }
}

/** The store has no room for the block (ENOSPC, a quota, HTTP 507); nothing was left behind. */
export class StoreFullError extends StowageError {
  /** The HTTP status, when a service said so (507). */
  readonly status: number | undefined;
  /** @param message What failed and where. @param options `cause`, and the HTTP status. */
  constructor(message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options);
    this.status = options?.status;
  }
}

/** A store or service failed for another reason (I/O, permissions, network); `cause` says why. */
export class StoreError extends StowageError {}

/** A block service answered with an error status, or could not be reached. */
export class ServiceError extends StowageError {
  /** The service's id. */
  readonly service: string;
  /** The HTTP status, when the service answered. */
  readonly status: number | undefined;
  /** Whether another try (later, or at this service) may succeed. */
  readonly retryable: boolean;
  /**
   * @param service The service's id.
   * @param message What failed.
   * @param details Status and retryability.
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

/** A request ran past one of its deadlines (response headers, idle body gap, whole request). */
export class DeadlineError extends ServiceError {
  /** Which deadline passed. */
  readonly deadline: "headers" | "idle" | "request";
  /**
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
 */
export class AuthError extends ServiceError {
  /** The service's error code, e.g. `SignatureDoesNotMatch`, when it sent one. */
  readonly code: string | undefined;
  /**
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

/** A replicated put could not store enough copies (or storage classes). */
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
  /** @param details What was wanted, what was achieved, and what each service said. */
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

/** A block could not be read from any service, and not every service said "not found". */
export class BlockReadError extends StowageError {
  /** The locator asked for. */
  readonly locator: string;
  /** Each service's failure. */
  readonly services: readonly ServiceOutcome[];
  /** @param locator The locator. @param services What each service said. */
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

/** A server answered a ranged request with the whole object (200), where only part was wanted. */
export class RangeNotSupportedError extends StowageError {
  /** The URL read. */
  readonly url: string;
  /** @param url The URL. @param detail What was asked. */
  constructor(url: string, detail: string) {
    super(`Cannot read '${url}' by range: the server ignored the Range header (${detail})`);
    this.url = url;
  }
}

/** The object changed while it was being read (ETag or Last-Modified moved, or 412). */
export class SourceChangedError extends StowageError {
  /** The URL read. */
  readonly url: string;
  /** @param url The URL. @param detail What changed. */
  constructor(url: string, detail: string) {
    super(`Cannot keep reading '${url}': the object changed while being read (${detail})`);
    this.url = url;
  }
}

function truncate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
