/**
 * The key index contract: a small, durable map from a string key (a URL
 * fetched with `client.stage`, a file being put) to the manifest stored for
 * it, with what is needed to avoid doing the work again — when it was
 * fetched and last used, the origin's validators for a conditional refetch,
 * and, while a transfer is unfinished, the blocks stored so far, so an
 * interrupted transfer resumes where it stopped.
 *
 * An entry is written whole or not at all; a key whose hash names another
 * key's entry is refused with a `KeyCollisionError`, never overwritten.
 *
 * @example A key index in memory
 * ```ts
 * import { MemoryKeyIndex } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const index = new MemoryKeyIndex();
 * const now = Date.now();
 * await index.set({
 *   key: "https://example.com/data.csv",
 *   manifest: ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:data.csv\n",
 *   size: 3,
 *   algorithm: "md5",
 *   created: now,
 *   fetched: now,
 *   accessed: now,
 * });
 * assert.equal((await index.get("https://example.com/data.csv"))?.size, 3);
 * ```
 *
 * @module
 */
import type { DigestAlgorithm } from "./digest.ts";

/** What an origin said about the object it sent: for conditional and resumed requests. */
export interface KeyValidators {
  /** The `ETag`, as sent (weak ones keep their `W/`). */
  etag?: string;
  /** The `Last-Modified` date, as sent. */
  lastModified?: string;
  /** The object's size, from `Content-Length` or `Content-Range`. */
  contentLength?: number;
  /** The file's modification time, ms (a resumed put). */
  mtime?: number;
  /**
   * A checksum of the whole object the origin gave (`Content-MD5`,
   * `Digest`, `Repr-Digest`, an S3 ETag): checked once the object is stored.
   */
  checksum?: { algorithm: "md5" | "sha256"; hex: string };
}

/** A run of the object stored as one block. */
export interface StoredPiece {
  /** Where the block's bytes begin in the object. */
  offset: number;
  /** The block's size. */
  size: number;
  /** The block's locator (hints kept: a signature lets it be read). */
  locator: string;
}

/** An unfinished transfer: what is stored so far, to resume from. */
export interface PartialTransfer {
  /** The blocks stored so far, at the wanted copies; any order, never overlapping. */
  pieces: StoredPiece[];
  /** The validators of the version being stored: a resume that finds others starts again. */
  validators: KeyValidators;
  /** The block size of the transfer. */
  blockSize: number;
  /** The digest algorithm the pieces are named with: a resume with another starts again. */
  algorithm: DigestAlgorithm;
  /** Replicas each piece was stored at: a resume that wants more starts again. */
  copies: number;
  /** When it started, ms since the epoch. */
  started: number;
}

/** One key's entry. Times are milliseconds since the epoch. */
export interface KeyEntry {
  /** The key, whole: a hash collision is told by it. */
  key: string;
  /** The manifest (Keep text) of the last complete transfer; empty while there was none. */
  manifest: string;
  /** Bytes of that manifest's file. */
  size: number;
  /** The digest algorithm its blocks are named with. */
  algorithm: DigestAlgorithm;
  /** When the entry was made. */
  created: number;
  /** When the manifest was last fetched or found unchanged at the origin. */
  fetched: number;
  /** When the entry was last used (fetched, answered from the index, read). */
  accessed: number;
  /** The origin's validators for the manifest's version. */
  validators?: KeyValidators;
  /** An unfinished transfer of a newer version (or of the first). */
  partial?: PartialTransfer;
}

/** A durable map from keys to {@linkcode KeyEntry}s. */
export interface KeyIndex {
  /** Identifies the index in messages. */
  readonly id: string;
  /**
   * A key's entry.
   *
   * @throws {KeyCollisionError} When the key's slot holds another key.
   */
  get(key: string, options?: { signal?: AbortSignal }): Promise<KeyEntry | undefined>;
  /**
   * Writes an entry, atomically: a reader sees the old one or the new one.
   *
   * @throws {KeyCollisionError} When the key's slot holds another key.
   */
  set(entry: KeyEntry, options?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Removes a key's entry.
   *
   * @returns Whether there was one.
   */
  delete(key: string): Promise<boolean>;
  /** Every entry, in no particular order. */
  list(): AsyncIterable<KeyEntry>;
}
