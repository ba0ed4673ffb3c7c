/**
 * The chunk index contract: where content-defined chunks already stored can
 * be found again, so a write stores each chunk once (`chunking: "content"`).
 * A chunk is named by the SHA-256 of its bytes and found as a run of bytes in
 * a stored block. An entry is added only once its block is stored at the
 * wanted copies; a writer checks that a block still exists before it points a
 * manifest at it, and drops entries whose block is gone.
 *
 * @example A chunk index in memory
 * ```ts
 * import { MemoryChunkIndex } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const index = new MemoryChunkIndex();
 * const digest = "ab".repeat(32);
 * await index.add([{ digest, locator: "acbd18db4cc2f85cedef654fccc4a4d8+3", offset: 0, length: 3 }]);
 * assert.equal((await index.lookup([digest])).get(digest)?.length, 3);
 * ```
 *
 * @module
 */

/** Where a chunk's bytes lie: a run inside a stored block. */
export interface ChunkLocation {
  /** The block's locator, without hints. */
  readonly locator: string;
  /** First byte of the chunk inside the block. */
  readonly offset: number;
  /** The chunk's length. */
  readonly length: number;
}

/** An index entry: a chunk's SHA-256 (lowercase hex) and where it lies. */
export interface ChunkEntry extends ChunkLocation {
  /** SHA-256 of the chunk's bytes, 64 lowercase hex digits. */
  readonly digest: string;
}

/** A persistent map from chunk digests to their locations. */
export interface ChunkIndex {
  /** Identifies the index in messages. */
  readonly id: string;
  /**
   * Finds chunks.
   *
   * @param digests SHA-256 hex digests.
   * @returns The locations of those found.
   */
  lookup(digests: readonly string[]): Promise<Map<string, ChunkLocation>>;
  /** Records chunks whose blocks are stored. A digest recorded again takes the new location. */
  add(entries: readonly ChunkEntry[]): Promise<void>;
  /** Forgets chunks (their block is gone). */
  drop(digests: readonly string[]): Promise<void>;
  /**
   * Forgets every chunk that lies in one of these blocks (they are being
   * removed).
   *
   * @returns How many entries were dropped.
   */
  dropBlocks(locators: readonly string[]): Promise<number>;
}
