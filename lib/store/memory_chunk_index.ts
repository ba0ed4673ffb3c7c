/**
 * `MemoryChunkIndex`: a {@linkcode ChunkIndex} in a `Map`, for a client over
 * `MemoryStore`s and for tests. Nothing persists.
 *
 * @example
 * ```ts
 * import { MemoryChunkIndex } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const index = new MemoryChunkIndex();
 * const locator = "acbd18db4cc2f85cedef654fccc4a4d8+3";
 * await index.add([{ digest: "0".repeat(64), locator, offset: 0, length: 3 }]);
 * assert.equal(await index.dropBlocks([locator]), 1);
 * assert.equal((await index.lookup(["0".repeat(64)])).size, 0);
 * ```
 *
 * @module
 */
import type { ChunkEntry, ChunkIndex, ChunkLocation } from "../model/chunk_index.ts";
import { toLocator } from "../model/locator.ts";

/** See the module doc. */
export class MemoryChunkIndex implements ChunkIndex {
  /** Identifies the index in messages. */
  readonly id: string;
  #entries = new Map<string, ChunkLocation>();

  /**
   * Creates a {@linkcode MemoryChunkIndex}.
   *
   * @param id Its name in messages. @default {"memory"}
   */
  constructor(id = "memory") {
    this.id = id;
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Finds chunks.
   *
   * @param digests SHA-256 hex digests.
   * @returns The locations of those found.
   */
  lookup(digests: readonly string[]): Promise<Map<string, ChunkLocation>> {
    const found = new Map<string, ChunkLocation>();
    for (const digest of digests) {
      const location = this.#entries.get(digest);
      if (location !== undefined) found.set(digest, location);
    }
    return Promise.resolve(found);
  }

  /**
   * Records chunks.
   *
   * @param entries The chunks and where they lie.
   */
  add(entries: readonly ChunkEntry[]): Promise<void> {
    for (const { digest, locator, offset, length } of entries) {
      this.#entries.set(digest, { locator: toLocator(locator).stripped, offset, length });
    }
    return Promise.resolve();
  }

  /**
   * Forgets chunks.
   *
   * @param digests SHA-256 hex digests.
   */
  drop(digests: readonly string[]): Promise<void> {
    for (const digest of digests) this.#entries.delete(digest);
    return Promise.resolve();
  }

  /**
   * Forgets every chunk inside these blocks.
   *
   * @param locators The blocks.
   * @returns How many entries were dropped.
   */
  dropBlocks(locators: readonly string[]): Promise<number> {
    const gone = new Set(locators.map((l) => toLocator(l).stripped));
    let dropped = 0;
    for (const [digest, location] of this.#entries) {
      if (gone.has(location.locator)) {
        this.#entries.delete(digest);
        dropped++;
      }
    }
    return Promise.resolve(dropped);
  }
}
