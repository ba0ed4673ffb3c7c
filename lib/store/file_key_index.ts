/**
 * `FileKeyIndex`: a {@linkcode KeyIndex} in a folder — by default a
 * `FileStore`'s `keys/` folder, beside its blocks. Each key's entry is one
 * small JSON file, `<dir>/<3 hex>/<SHA-256 of the key>`, laid out as the
 * blocks are; it holds the whole key, so a hash collision is detected and
 * refused. Entries are replaced atomically (temp file, `datasync`, rename):
 * a process killed mid-write leaves the old entry, never half of a new one.
 *
 * @example Recording a key beside a store's blocks
 * ```ts
 * import { FileKeyIndex } from "stowage";
 * import assert from "node:assert/strict";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const dir = join(await mkdtemp(join(tmpdir(), "stowage-doc-")), "keys");
 * const index = new FileKeyIndex(dir);
 * const now = Date.now();
 * await index.set({
 *   key: "https://example.com/a.bin",
 *   manifest: ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:a.bin\n",
 *   size: 3,
 *   algorithm: "md5",
 *   created: now,
 *   fetched: now,
 *   accessed: now,
 * });
 * const keys = [];
 * for await (const entry of index.list()) keys.push(entry.key);
 * assert.deepEqual(keys, ["https://example.com/a.bin"]);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { StoreError } from "../model/errors.ts";
import type { KeyEntry, KeyIndex } from "../model/key_index.ts";
import { atomicWrite, TEMP_PREFIX } from "../platform/_atomic_write.ts";
import { errorCode, fs, isPermanentFsError } from "../platform/_fs.ts";
import { type KeyIndexOptions, SlotKeyIndex, type SlotStorage } from "./_slot_key_index.ts";

export type { KeyIndexOptions };

/** See the module doc. */
export class FileKeyIndex implements KeyIndex {
  /** The folder. */
  readonly dir: string;
  /** Identifies the index in messages. */
  readonly id: string;
  #index: SlotKeyIndex;

  /**
   * Creates a {@linkcode FileKeyIndex}; folders are made on the first write.
   *
   * @param dir The folder.
   * @param options The slot hash (tests only).
   * @throws {TypeError} When `dir` is not a non-empty string.
   */
  constructor(dir: string, options: KeyIndexOptions = {}) {
    if (typeof dir !== "string" || dir === "") {
      throw new TypeError("Cannot construct FileKeyIndex: dir must be a non-empty path");
    }
    this.dir = dir;
    this.id = `keys:${dir}`;
    this.#index = new SlotKeyIndex(new FolderSlots(dir, this.id), options);
  }

  /**
   * A key's entry.
   *
   * @param key The key.
   * @param options Signal.
   * @returns The entry, or `undefined`.
   * @throws {KeyCollisionError} When the key's slot holds another key.
   * @throws {StoreError} When the entry cannot be read.
   */
  get(key: string, options: { signal?: AbortSignal } = {}): Promise<KeyEntry | undefined> {
    return this.#index.get(key, options);
  }

  /**
   * Writes an entry atomically.
   *
   * @param entry The entry.
   * @param options Signal: an abort before the rename writes nothing.
   * @throws {KeyCollisionError} When the key's slot holds another key.
   * @throws {StoreError} When it cannot be written.
   */
  set(entry: KeyEntry, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#index.set(entry, options);
  }

  /**
   * Removes a key's entry.
   *
   * @param key The key.
   * @returns Whether there was one.
   */
  delete(key: string): Promise<boolean> {
    return this.#index.delete(key);
  }

  /** Every entry. */
  list(): AsyncIterable<KeyEntry> {
    return this.#index.list();
  }
}

/** Slots as files `<dir>/<3 hex>/<hash>`. */
class FolderSlots implements SlotStorage {
  readonly id: string;
  #dir: string;

  constructor(dir: string, id: string) {
    this.#dir = dir;
    this.id = id;
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    try {
      return await fs.readFile(join(this.#dir, name));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw this.#wrap(error, `read key entry '${name}'`);
    }
  }

  async write(name: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    try {
      await atomicWrite(join(this.#dir, name), bytes, signal === undefined ? {} : { signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw this.#wrap(error, `write key entry '${name}'`);
    }
  }

  async remove(name: string): Promise<boolean> {
    try {
      await fs.unlink(join(this.#dir, name));
      return true;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw this.#wrap(error, `remove key entry '${name}'`);
    }
  }

  async *names(): AsyncGenerator<string> {
    let groups: string[];
    try {
      groups = (await fs.readdir(this.#dir)).filter((n) => /^[0-9a-f]{3}$/.test(n)).sort();
    } catch (error) {
      if (errorCode(error) === "ENOENT") return;
      throw this.#wrap(error, "list keys");
    }
    for (const group of groups) {
      let names: string[];
      try {
        names = await fs.readdir(join(this.#dir, group));
      } catch (error) {
        if (errorCode(error) === "ENOENT") continue;
        throw this.#wrap(error, `list keys in '${group}'`);
      }
      for (const name of names.sort()) {
        if (!name.startsWith(TEMP_PREFIX)) yield `${group}/${name}`;
      }
    }
  }

  #wrap(error: unknown, what: string): StoreError {
    const message = error instanceof Error ? error.message : String(error);
    return new StoreError(`Cannot ${what} in '${this.#dir}': ${message}`, {
      cause: error,
      retryable: !isPermanentFsError(error),
    });
  }
}
