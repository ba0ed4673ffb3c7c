/**
 * `FileChunkIndex`: a {@linkcode ChunkIndex} in a folder: 4096 append-only
 * shard files (`abc.idx`, by the first three hex digits of the chunk digest)
 * of 80-byte records, so memory is bounded by the shards loaded, not the
 * index's size. Adds and drops are appended to a journal (`log.idx`), one
 * write each, and merged into the shards when it holds 64 Ki records.
 *
 * - Cost at scale: one record per chunk, 80 bytes; 1 TB of 64 KiB chunks is
 *   15.3 million chunks and 1.2 GB of index on disk, 300 KB a shard. A lookup
 *   loads its shard (kept in an LRU bounded by `maxMemory`, default 64 MiB).
 * - Crash safety: records are appended whole, and a torn last record (a crash
 *   mid-write) is ignored. Appends are not fsync'd: a crash may lose recent
 *   entries, which only costs storing those chunks again.
 * - A FileStore keeps its index in `<root>/chunks`; clients of block services
 *   keep one in a local folder named by the services.
 *
 * @example
 * ```ts
 * import { FileChunkIndex } from "stowage";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import assert from "node:assert/strict";
 *
 * const index = new FileChunkIndex(join(await mkdtemp(join(tmpdir(), "stowage-doc-")), "chunks"));
 * const digest = "ab".repeat(32);
 * await index.add([{ digest, locator: "acbd18db4cc2f85cedef654fccc4a4d8+3", offset: 0, length: 3 }]);
 * assert.equal((await index.lookup([digest])).get(digest)?.locator, "acbd18db4cc2f85cedef654fccc4a4d8+3");
 * ```
 *
 * @module
 */
import { join } from "node:path";
import type { ChunkEntry, ChunkIndex, ChunkLocation } from "../model/chunk_index.ts";
import { StoreError } from "../model/errors.ts";
import { atomicWrite } from "../platform/_atomic_write.ts";
import { errorCode, fs, isPermanentFsError, makeDirectory } from "../platform/_fs.ts";
import { ShardedChunkIndex, type ShardStorage } from "./_sharded_chunk_index.ts";

/** Options for {@linkcode FileChunkIndex}. */
export interface FileChunkIndexOptions {
  /** Memory the loaded shards may take, bytes (an estimate). @default {67108864} (64 MiB) */
  maxMemory?: number;
  /** Records the journal holds before it is merged into the shards. @default {65536} */
  journalRecords?: number;
}

/** See the module doc. */
export class FileChunkIndex implements ChunkIndex {
  /** The folder. */
  readonly dir: string;
  /** Identifies the index in messages. */
  readonly id: string;
  #index: ShardedChunkIndex;

  /**
   * Creates a {@linkcode FileChunkIndex}; the folder is made on the first write.
   *
   * @param dir The folder.
   * @param options Memory bound.
   * @throws {TypeError} When `dir` is not a non-empty string.
   */
  constructor(dir: string, options: FileChunkIndexOptions = {}) {
    if (typeof dir !== "string" || dir === "") {
      throw new TypeError("Cannot construct FileChunkIndex: dir must be a non-empty path");
    }
    this.dir = dir;
    this.id = `chunks:${dir}`;
    this.#index = new ShardedChunkIndex(new FolderShards(dir, this.id), options);
  }

  /**
   * Finds chunks.
   *
   * @param digests SHA-256 hex digests.
   * @returns The locations of those found.
   * @throws {StoreError} When a shard cannot be read.
   */
  lookup(digests: readonly string[]): Promise<Map<string, ChunkLocation>> {
    return this.#index.lookup(digests);
  }

  /**
   * Records chunks: one append to the journal.
   *
   * @param entries The chunks and where they lie.
   * @throws {StoreError} When a shard cannot be written.
   */
  add(entries: readonly ChunkEntry[]): Promise<void> {
    return this.#index.add(entries);
  }

  /**
   * Forgets chunks: a removal record each, in the journal.
   *
   * @param digests SHA-256 hex digests.
   * @throws {StoreError} When a shard cannot be written.
   */
  drop(digests: readonly string[]): Promise<void> {
    return this.#index.drop(digests);
  }

  /**
   * Forgets every chunk inside these blocks: the shards holding one are
   * rewritten without it (atomically).
   *
   * @param locators The blocks.
   * @returns How many entries were dropped.
   * @throws {StoreError} When a shard cannot be read or written.
   */
  dropBlocks(locators: readonly string[]): Promise<number> {
    return this.#index.dropBlocks(locators);
  }
}

/** Shards as files `<dir>/<name>.idx`. */
class FolderShards implements ShardStorage {
  readonly id: string;
  #dir: string;
  #made = false;

  constructor(dir: string, id: string) {
    this.#dir = dir;
    this.id = id;
  }

  async read(name: string): Promise<Uint8Array> {
    try {
      return await fs.readFile(join(this.#dir, `${name}.idx`));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return new Uint8Array(0);
      throw this.#wrap(error, `read chunk index shard '${name}.idx'`);
    }
  }

  async append(name: string, records: Uint8Array): Promise<void> {
    try {
      await this.#mkdir();
      const handle = await fs.open(join(this.#dir, `${name}.idx`), "a");
      try {
        // Whole records in one write: appends do not interleave.
        let done = 0;
        while (done < records.length) {
          const { bytesWritten } = await handle.write(records, done, records.length - done);
          if (bytesWritten <= 0) throw new Error("write made no progress");
          done += bytesWritten;
        }
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw this.#wrap(error, `append to chunk index shard '${name}.idx'`);
    }
  }

  async replace(name: string, records: Uint8Array): Promise<void> {
    try {
      await this.#mkdir();
      await atomicWrite(join(this.#dir, `${name}.idx`), records);
    } catch (error) {
      throw this.#wrap(error, `rewrite chunk index shard '${name}.idx'`);
    }
  }

  async names(): Promise<string[]> {
    try {
      return (await fs.readdir(this.#dir))
        .filter((n) => /^[0-9a-f]{3}\.idx$/.test(n))
        .map((n) => n.slice(0, 3));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw this.#wrap(error, "list the chunk index");
    }
  }

  async #mkdir(): Promise<void> {
    if (this.#made) return;
    await makeDirectory(this.#dir);
    this.#made = true;
  }

  #wrap(error: unknown, what: string): StoreError {
    const message = error instanceof Error ? error.message : String(error);
    return new StoreError(`Cannot ${what} in '${this.#dir}': ${message}`, {
      cause: error,
      retryable: !isPermanentFsError(error),
    });
  }
}
