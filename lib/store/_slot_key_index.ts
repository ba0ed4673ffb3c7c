/**
 * The one implementation of {@linkcode KeyIndex} behind every store's key
 * index: each key's entry is a small JSON document in a slot named by the
 * SHA-256 of the key (`<3 hex>/<64 hex>`, laid out like a file store's
 * blocks), holding the key itself so that two keys hashing to one slot are
 * told apart and the second refused. Where the slots live — files, S3
 * objects, a `Map` — is a {@linkcode SlotStorage}'s business; it must replace
 * a slot atomically.
 *
 * @module
 */
import { digest } from "../model/digest.ts";
import { KeyCollisionError, StoreError } from "../model/errors.ts";
import type { KeyEntry, KeyIndex } from "../model/key_index.ts";

/** Where the slots live. Names are `<3 hex>/<64 hex>`. */
export interface SlotStorage {
  /** Identifies the storage in messages. */
  readonly id: string;
  /** A slot's bytes, or `undefined` when it is empty. */
  read(name: string, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  /** Replaces a slot's bytes atomically. */
  write(name: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Empties a slot; whether it held something. */
  remove(name: string): Promise<boolean>;
  /** The slots that hold something. */
  names(): AsyncIterable<string>;
}

/** Options for a key index. */
export interface KeyIndexOptions {
  /**
   * The hash naming a key's slot, as hex of at least 3 digits. Only tests
   * change it (to make two keys collide). @default {SHA-256 of the key's UTF-8}
   */
  hash?: (key: string) => string;
}

const SLOT_NAME = /^[0-9a-f]{3}\/[0-9a-f]{3,}$/;

/** See the module doc. */
export class SlotKeyIndex implements KeyIndex {
  /** Identifies the index in messages. */
  readonly id: string;
  #storage: SlotStorage;
  #hash: (key: string) => string;
  /**
   * Keys whose slot this index has read or written as theirs: a transfer
   * records its key once per block, and needs the collision check once.
   */
  #owned = new Set<string>();

  constructor(storage: SlotStorage, options: KeyIndexOptions = {}) {
    this.#storage = storage;
    this.id = storage.id;
    this.#hash = options.hash ?? ((key) => digest(new TextEncoder().encode(key), "sha256"));
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<KeyEntry | undefined> {
    const slot = this.#slot(key);
    const bytes = await this.#storage.read(slot, options.signal);
    if (bytes === undefined) return undefined;
    const entry = this.#decode(bytes, slot);
    if (entry.key !== key) throw new KeyCollisionError(this.id, key, entry.key);
    this.#owned.add(key);
    return entry;
  }

  async set(entry: KeyEntry, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkEntry(entry);
    const slot = this.#slot(entry.key);
    const held = this.#owned.has(entry.key)
      ? undefined
      : await this.#storage.read(slot, options.signal);
    if (held !== undefined) {
      const holder = this.#decodeOrUndefined(held);
      // A damaged slot is overwritten: it holds no key anyone could read.
      if (holder !== undefined && holder.key !== entry.key) {
        throw new KeyCollisionError(this.id, entry.key, holder.key);
      }
    }
    await this.#storage.write(
      slot,
      new TextEncoder().encode(`${JSON.stringify(entry)}\n`),
      options.signal,
    );
    this.#owned.add(entry.key);
  }

  async delete(key: string): Promise<boolean> {
    const slot = this.#slot(key);
    const held = await this.#storage.read(slot);
    if (held === undefined) return false;
    const holder = this.#decodeOrUndefined(held);
    if (holder !== undefined && holder.key !== key) return false;
    this.#owned.delete(key);
    return await this.#storage.remove(slot);
  }

  async *list(): AsyncGenerator<KeyEntry> {
    for await (const name of this.#storage.names()) {
      if (!SLOT_NAME.test(name)) continue;
      const bytes = await this.#storage.read(name);
      if (bytes === undefined) continue; // removed meanwhile
      yield this.#decode(bytes, name);
    }
  }

  #slot(key: string): string {
    if (typeof key !== "string" || key === "") {
      throw new TypeError(`Cannot use key in ${this.id}: expected a non-empty string`);
    }
    const hex = this.#hash(key);
    if (!/^[0-9a-f]{3,}$/.test(hex)) {
      throw new TypeError(`Cannot use key in ${this.id}: its hash '${hex}' is not lowercase hex`);
    }
    return `${hex.slice(0, 3)}/${hex}`;
  }

  #decode(bytes: Uint8Array, slot: string): KeyEntry {
    const entry = this.#decodeOrUndefined(bytes);
    if (entry === undefined) {
      throw new StoreError(`Cannot read key entry '${slot}' in ${this.id}: it is not a key entry`, {
        retryable: false,
      });
    }
    return entry;
  }

  #decodeOrUndefined(bytes: Uint8Array): KeyEntry | undefined {
    try {
      const entry = JSON.parse(new TextDecoder().decode(bytes)) as KeyEntry;
      checkEntry(entry);
      return entry;
    } catch {
      return undefined;
    }
  }
}

/** @throws {TypeError} When the entry lacks a field or has one of the wrong type. */
function checkEntry(entry: KeyEntry): void {
  const bad = (field: string): never => {
    throw new TypeError(`Cannot write key entry: '${field}' is missing or of the wrong type`);
  };
  if (entry === null || typeof entry !== "object") bad("entry");
  if (typeof entry.key !== "string" || entry.key === "") bad("key");
  if (typeof entry.manifest !== "string") bad("manifest");
  if (entry.algorithm !== "md5" && entry.algorithm !== "sha256") bad("algorithm");
  for (const field of ["size", "created", "fetched", "accessed"] as const) {
    if (!Number.isFinite(entry[field])) bad(field);
  }
  if (entry.partial !== undefined) {
    if (!Array.isArray(entry.partial.pieces)) bad("partial.pieces");
    for (const p of entry.partial.pieces) {
      if (!Number.isSafeInteger(p.offset) || !Number.isSafeInteger(p.size)) bad("partial.pieces");
      if (typeof p.locator !== "string") bad("partial.pieces");
    }
  }
}
