/**
 * `MemoryKeyIndex`: a {@linkcode KeyIndex} in memory, for a client over
 * `MemoryStore`s and for tests. It follows the same rules as the file and
 * S3 indexes (an entry is replaced whole; a collision is refused). Nothing
 * persists.
 *
 * @example
 * ```ts
 * import { KeyCollisionError, MemoryKeyIndex } from "stowage";
 * import assert from "node:assert/strict";
 *
 * // A hash that sends every key to one slot, to show a collision.
 * const index = new MemoryKeyIndex({ hash: () => "abc" });
 * const entry = { manifest: "", size: 0, algorithm: "md5" as const, created: 0, fetched: 0, accessed: 0 };
 * await index.set({ ...entry, key: "a" });
 * await assert.rejects(index.set({ ...entry, key: "b" }), KeyCollisionError);
 * assert.equal((await index.get("a"))?.key, "a");
 * ```
 *
 * @module
 */
import type { KeyEntry, KeyIndex } from "../model/key_index.ts";
import { type KeyIndexOptions, SlotKeyIndex } from "./_slot_key_index.ts";

/** See the module doc. */
export class MemoryKeyIndex implements KeyIndex {
  /** Identifies the index in messages. */
  readonly id = "keys:memory";
  #index: SlotKeyIndex;

  /**
   * Creates a {@linkcode MemoryKeyIndex}.
   *
   * @param options The slot hash (tests only).
   */
  constructor(options: KeyIndexOptions = {}) {
    const slots = new Map<string, Uint8Array>();
    this.#index = new SlotKeyIndex({
      id: this.id,
      read: (name) => Promise.resolve(slots.get(name)),
      write: (name, bytes) => {
        slots.set(name, bytes);
        return Promise.resolve();
      },
      remove: (name) => Promise.resolve(slots.delete(name)),
      names: async function* () {
        yield* [...slots.keys()].sort();
      },
    }, options);
  }

  /**
   * A key's entry.
   *
   * @param key The key.
   * @returns The entry, or `undefined`.
   * @throws {KeyCollisionError} When the key's slot holds another key.
   */
  get(key: string): Promise<KeyEntry | undefined> {
    return this.#index.get(key);
  }

  /**
   * Writes an entry.
   *
   * @param entry The entry.
   * @throws {KeyCollisionError} When the key's slot holds another key.
   */
  set(entry: KeyEntry): Promise<void> {
    return this.#index.set(entry);
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
