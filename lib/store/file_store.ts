/**
 * `FileStore`: the embedded default {@linkcode BlockStore}, blocks as files in
 * keepstore's layout `<root>/<digest[0:3]>/<digest>`.
 *
 * - A put writes a temp file in the block's folder, fsyncs and renames it, so no
 *   reader ever sees a partial block and concurrent puts of one block are safe.
 * - Bytes are verified on put (against `expect`) and on every whole-block get: a
 *   damaged file raises {@linkcode BlockCorruptError}, never returns bad bytes. A
 *   ranged get reads only its range from disk and checks the file's size.
 * - A duplicate put verifies the stored copy and only refreshes its mtime.
 * - A full disk raises {@linkcode StoreFullError} and leaves nothing behind.
 * - Temp files older than a minute (from a crash) are removed when the store opens.
 *
 * The root defaults to `$STOWAGE_DIR`, else `$XDG_DATA_HOME/stowage`, else
 * `~/.local/share/stowage`.
 *
 * @module
 */
import { join } from "node:path";
import { homedir } from "node:os";
import process from "node:process";
import type {
  BlockInfo,
  BlockStore,
  GetOptions,
  ListOptions,
  PutOptions,
  PutResult,
} from "../model/block_store.ts";
import { checkPrefix, locatorFor, resolveRange, throwIfAborted } from "./_block_utils.ts";
import {
  errorCode,
  fs,
  isNoSpace,
  isPermanentFsError,
  makeDirectory,
  readFully,
} from "../platform/_fs.ts";
import { atomicWrite, sweepTempFiles } from "../platform/_atomic_write.ts";
import { hashBlock } from "../platform/_hash_pool.ts";
import type { DigestAlgorithm } from "../model/digest.ts";
import {
  BlockCorruptError,
  BlockNotFoundError,
  StoreError,
  StoreFullError,
} from "../model/errors.ts";
import { formatLocator, isEmptyBlock, type Locator, toLocator } from "../model/locator.ts";

/** Options for {@linkcode FileStore}. */
export interface FileStoreOptions {
  /** Identifier for rendezvous ordering and messages. @default {"file:" + root} */
  id?: string;
  /** The digest algorithm new blocks are named with. @default {"md5"} */
  algorithm?: DigestAlgorithm;
  /** Temp files older than this are removed when the store opens, in ms. @default {60000} */
  staleTempAge?: number;
  /** Clock, Unix milliseconds. @default {Date.now} */
  now?: () => number;
}

const PREFIX_DIR = /^[0-9a-f]{3}$/;
const BLOCK_FILE = /^(?:[0-9a-f]{32}|[0-9a-f]{64})$/;

/**
 * The default store root: `$STOWAGE_DIR`, else `$XDG_DATA_HOME/stowage`, else
 * `~/.local/share/stowage`.
 *
 * @returns An absolute or user-given path.
 *
 * @example
 * ```ts
 * import { defaultStoreDir } from "stowage";
 * import assert from "node:assert/strict";
 * import process from "node:process";
 *
 * const saved = process.env.STOWAGE_DIR;
 * process.env.STOWAGE_DIR = "/srv/blocks";
 * assert.equal(defaultStoreDir(), "/srv/blocks");
 * if (saved === undefined) delete process.env.STOWAGE_DIR;
 * else process.env.STOWAGE_DIR = saved;
 * ```
 */
export function defaultStoreDir(): string {
  const env = process.env;
  if (env.STOWAGE_DIR) return env.STOWAGE_DIR;
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "stowage");
  return join(homedir(), ".local", "share", "stowage");
}

/**
 * A block store on the local file system; see the module doc.
 *
 * @example Storing a block on disk
 * ```ts
 * import { FileStore } from "stowage";
 * import assert from "node:assert/strict";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const store = new FileStore(await mkdtemp(join(tmpdir(), "stowage-doc-")));
 * const { locator } = await store.put(new TextEncoder().encode("hello"));
 * assert.equal(locator, "5d41402abc4b2a76b9719d911017c592+5");
 * assert.ok(store.pathOf(locator).endsWith("/5d4/5d41402abc4b2a76b9719d911017c592"));
 * const listed = await Array.fromAsync(store.list());
 * assert.deepEqual(listed.map((b) => b.locator), [locator]);
 * ```
 */
export class FileStore implements BlockStore {
  readonly id: string;
  /** The folder holding the blocks. */
  readonly root: string;
  #algorithm: DigestAlgorithm;
  #staleTempAge: number;
  #now: () => number;
  #ready: Promise<void> | undefined;

  /**
   * Creates a {@linkcode FileStore}.
   *
   * @param root Folder holding the blocks; created on first use. @default {defaultStoreDir()}
   * @param options Identifier, digest algorithm, stale temp age, clock.
   */
  constructor(root: string = defaultStoreDir(), options: FileStoreOptions = {}) {
    if (typeof root !== "string" || root.length === 0) {
      throw new TypeError("Cannot construct FileStore: root must be a non-empty path");
    }
    this.root = root;
    this.id = options.id ?? `file:${root}`;
    this.#algorithm = options.algorithm ?? "md5";
    this.#staleTempAge = options.staleTempAge ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Creates the root and removes stale temp files. Called on first use; call it
   * yourself to surface set-up errors early.
   */
  open(): Promise<void> {
    this.#ready ??= this.#open().catch((error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #open(): Promise<void> {
    try {
      await makeDirectory(this.root);
    } catch (error) {
      // Nothing heals a folder that cannot be created: no retry.
      throw this.#wrap(error, "create the store folder", this.root, false);
    }
    const cutoff = this.#now() - this.#staleTempAge;
    for (const dir of await this.#prefixDirs()) await sweepTempFiles(join(this.root, dir), cutoff);
  }

  /** The path a block lives at. */
  pathOf(locator: string | Locator): string {
    const { digest } = toLocator(locator);
    return join(this.root, digest.slice(0, 3), digest);
  }

  async get(locator: string | Locator, options: GetOptions = {}): Promise<Uint8Array> {
    const loc = toLocator(locator);
    const [start, end] = resolveRange(options.range, loc.size, loc.stripped);
    throwIfAborted(options.signal);
    if (isEmptyBlock(loc)) return new Uint8Array(0);
    await this.open();
    const path = this.pathOf(loc);
    let handle;
    try {
      handle = await fs.open(path, "r");
    } catch (error) {
      if (errorCode(error) === "ENOENT") {
        throw new BlockNotFoundError(loc.stripped, `FileStore '${this.root}'`);
      }
      throw this.#wrap(error, `read block '${loc.stripped}'`, path);
    }
    try {
      const { size } = await handle.stat();
      if (size !== loc.size) {
        throw new BlockCorruptError(
          loc.stripped,
          `file '${path}' has ${size} bytes, the locator says ${loc.size}`,
        );
      }
      const whole = start === 0 && end === loc.size;
      const bytes = await readFully(handle, start, end - start, options.signal);
      if (bytes.length !== end - start) {
        throw new BlockCorruptError(loc.stripped, `file '${path}' was truncated while reading`);
      }
      if (!whole) return bytes;
      // The buffer was just made for this read: it may go to a hashing thread and back.
      const checked = await hashBlock(bytes, loc.algorithm, { transfer: true });
      if (checked.hex !== loc.digest) {
        throw new BlockCorruptError(loc.stripped, `file '${path}' hashes to '${checked.hex}'`);
      }
      return checked.bytes;
    } catch (error) {
      if (error instanceof BlockCorruptError || options.signal?.aborted) throw error;
      throw this.#wrap(error, `read block '${loc.stripped}'`, path);
    } finally {
      await handle.close().catch(() => {});
    }
  }

  async put(bytes: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    throwIfAborted(options.signal);
    const locator = locatorFor(
      bytes,
      options.algorithm ?? this.#algorithm,
      options.expect,
      `FileStore '${this.root}'`,
      options.verified,
    );
    if (bytes.length === 0) {
      options.onProgress?.(0);
      return { locator, replicas: 1 };
    }
    await this.open();
    const path = this.pathOf(locator);
    if (await this.#refresh(locator, path, options.signal)) {
      options.onProgress?.(bytes.length);
      return { locator, replicas: 1 };
    }
    throwIfAborted(options.signal);
    try {
      await atomicWrite(
        path,
        bytes,
        options.signal === undefined ? {} : { signal: options.signal },
      );
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw this.#wrap(error, `write block '${locator}'`, path);
    }
    options.onProgress?.(bytes.length);
    return { locator, replicas: 1 };
  }

  /** If an intact copy is stored, refreshes its mtime and returns true. */
  async #refresh(locator: string, path: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.get(locator, signal === undefined ? {} : { signal });
    } catch (error) {
      if (error instanceof BlockNotFoundError || error instanceof BlockCorruptError) return false;
      throw error;
    }
    const now = new Date(this.#now());
    try {
      await fs.utimes(path, now, now);
      return true;
    } catch (error) {
      // Removed between the read and the touch: store it afresh.
      if (errorCode(error) === "ENOENT") return false;
      throw this.#wrap(error, `refresh block '${locator}'`, path);
    }
  }

  async has(locator: string | Locator): Promise<boolean> {
    const loc = toLocator(locator);
    if (isEmptyBlock(loc)) return true;
    await this.open();
    try {
      return (await fs.stat(this.pathOf(loc))).size === loc.size;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw this.#wrap(error, `check block '${loc.stripped}'`, this.pathOf(loc));
    }
  }

  async delete(locator: string | Locator): Promise<boolean> {
    const loc = toLocator(locator);
    if (isEmptyBlock(loc)) return false;
    await this.open();
    try {
      await fs.unlink(this.pathOf(loc));
      return true;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw this.#wrap(error, `delete block '${loc.stripped}'`, this.pathOf(loc));
    }
  }

  async *list(options: ListOptions = {}): AsyncGenerator<BlockInfo> {
    const prefix = options.prefix ?? "";
    checkPrefix(prefix);
    await this.open();
    const dirs = (await this.#prefixDirs()).filter((d) =>
      prefix.length >= 3 ? d === prefix.slice(0, 3) : d.startsWith(prefix)
    );
    for (const dir of dirs) {
      throwIfAborted(options.signal);
      let names: string[];
      try {
        names = await fs.readdir(join(this.root, dir));
      } catch (error) {
        if (errorCode(error) === "ENOENT") continue;
        throw this.#wrap(error, "list blocks", join(this.root, dir));
      }
      names = names.filter((n) => BLOCK_FILE.test(n) && n.startsWith(prefix)).sort();
      for (const name of names) {
        throwIfAborted(options.signal);
        try {
          const info = await fs.stat(join(this.root, dir, name));
          yield {
            locator: formatLocator({ digest: name, size: info.size }),
            size: info.size,
            mtime: info.mtimeMs,
            atime: info.atimeMs,
          };
        } catch (error) {
          if (errorCode(error) !== "ENOENT") {
            throw this.#wrap(error, "list blocks", join(this.root, dir, name));
          }
        }
      }
    }
  }

  async #prefixDirs(): Promise<string[]> {
    try {
      return (await fs.readdir(this.root)).filter((d) => PREFIX_DIR.test(d)).sort();
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw this.#wrap(error, "list the store folder", this.root);
    }
  }

  #wrap(error: unknown, action: string, path: string, retryable?: boolean): Error {
    if (error instanceof StoreError || error instanceof StoreFullError) return error;
    const code = errorCode(error) ?? (error instanceof Error ? error.message : String(error));
    if (isNoSpace(error)) {
      return new StoreFullError(
        `Cannot ${action} in FileStore '${this.root}': no space left (${code}) at '${path}'`,
        { cause: error },
      );
    }
    return new StoreError(`Cannot ${action} in FileStore '${this.root}': ${code} at '${path}'`, {
      cause: error,
      retryable: retryable ?? !isPermanentFsError(error),
    });
  }
}
