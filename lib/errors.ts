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

/** The store has no room for the block (ENOSPC, or a quota); nothing was left behind. */
export class StoreFullError extends StowageError {}

/** A store or service failed for another reason (I/O, permissions, network); `cause` says why. */
export class StoreError extends StowageError {}

function truncate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
