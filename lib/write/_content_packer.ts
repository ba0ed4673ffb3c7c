/**
 * The write stream's `chunking: "content"` mode: cuts the stream into
 * content-defined chunks (FastCDC), names each by its SHA-256, keeps the
 * chunks already stored (earlier in this write, or found in the chunk index
 * with their block still there), and packs the new ones into blocks of up to
 * `blockSize`, so a file's blocks and requests stay as few as fixed chunking
 * makes. The file becomes a list of segments into those blocks: plain Keep
 * manifest text. Private to the package.
 *
 * Bytes move in windows of about 8 MiB: copied in once as they arrive, hashed
 * on the hashing threads (one message a window, the buffer transferred), then
 * the new chunks copied into the pack. Windows are processed in order; two may
 * wait, then `push` waits (backpressure).
 *
 * @example
 * ```ts
 * import { ContentPacker } from "./_content_packer.ts";
 *
 * const packs: Uint8Array[] = [];
 * const packer = new ContentPacker({
 *   blockSize: 1 << 20,
 *   sizes: { min: 256, avg: 1024, max: 4096 },
 *   submit: (pack) => Promise.resolve(packs.push(pack.slice()) - 1),
 *   take: (n) => new Uint8Array(n),
 * });
 * const half = new Uint8Array(50_000).map((_, i) => Math.imul(i, 2654435761) >>> 24);
 * await packer.push(half);
 * await packer.push(half); // the same bytes again: stored once
 * await packer.finish();
 * if (packer.stats.bytesStored > 60_000) throw new Error("the repeat was stored again");
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { ChunkEntry, ChunkIndex, ChunkLocation } from "../model/chunk_index.ts";
import { BufferPool } from "../platform/_buffer_pool.ts";
import { HASH_POOL_MIN_BYTES, sharedHashPool } from "../platform/_hash_pool.ts";
import { type ChunkSizes, FastCdc } from "./_fastcdc.ts";

/** Bytes a window holds before it is hashed, besides room for one more chunk. */
const WINDOW = 8 * 1024 * 1024;
/** Windows hashed or waiting before `push` waits. */
const WINDOWS_AHEAD = 4;

/** A run of the file: in a pack of this write (its number) or in a stored block. */
export interface PackedSegment {
  /** The pack's number in this write, or a stored block's locator. */
  block: number | string;
  /** First byte inside it. */
  offset: number;
  /** Bytes. */
  length: number;
}

/** Figures of a content-chunked write. */
export interface PackerStats {
  /** Chunks cut. */
  chunks: number;
  /** Chunks found stored (earlier in the write, or in the index). */
  chunksReused: number;
  /** Bytes of those. */
  bytesReused: number;
  /** Bytes packed into new blocks. */
  bytesStored: number;
}

/** Options for {@linkcode ContentPacker}. */
export interface ContentPackerOptions {
  /** Most bytes a pack (a block) holds. */
  blockSize: number;
  /** Chunk sizes. */
  sizes?: ChunkSizes;
  /** Where chunks stored before are found; none: only repeats within the write. */
  index?: ChunkIndex;
  /** Whether a block the index names is still stored (at the wanted copies). */
  exists?: (locator: string) => Promise<boolean>;
  /** Stores a full pack as the next block (waiting for room); resolves with its number. */
  submit: (pack: Uint8Array) => Promise<number>;
  /** Lends a pack buffer of `blockSize` bytes. */
  take: (size: number) => Uint8Array;
}

interface Window {
  bytes: Uint8Array;
  ranges: Uint32Array;
}

/** See the module doc. */
export class ContentPacker {
  /** The figures so far. */
  readonly stats: PackerStats = { chunks: 0, chunksReused: 0, bytesReused: 0, bytesStored: 0 };
  #options: ContentPackerOptions;
  #cdc: FastCdc;
  #windows: BufferPool;
  #window: Uint8Array | undefined;
  #filled = 0;
  /** Completed chunks in the window: start, end pairs. */
  #cuts: number[] = [];
  #chunkStart = 0;
  #ahead: Promise<void>[] = [];
  #chain: Promise<void> = Promise.resolve();
  #pack: Uint8Array | undefined;
  #packFilled = 0;
  #packNumber = 0;
  /** Chunks of each pack, for the index once it is stored. */
  #packChunks = new Map<number, { digest: string; offset: number; length: number }[]>();
  /** Chunks seen in this write: where they lie. */
  #seen = new Map<string, PackedSegment>();
  #exists = new Map<string, Promise<boolean>>();
  #segments: PackedSegment[] = [];

  /**
   * Creates a {@linkcode ContentPacker}.
   *
   * @param options Block size, chunk sizes, index, existence check, pack sink.
   */
  constructor(options: ContentPackerOptions) {
    this.#options = options;
    this.#cdc = new FastCdc(options.sizes);
    if (this.#cdc.sizes.max > options.blockSize) {
      throw new RangeError(
        `Cannot chunk by content as the largest chunk (${this.#cdc.sizes.max} bytes) must fit in a block of ${options.blockSize}`,
      );
    }
    // Windows are one size (room for one more chunk): a class of their own.
    this.#windows = new BufferPool({ blockSize: WINDOW + this.#cdc.sizes.max });
  }

  /**
   * Takes the next bytes of the stream; waits while windows are behind.
   *
   * @param bytes The bytes (copied; the caller may reuse them).
   */
  async push(bytes: Uint8Array): Promise<void> {
    const max = this.#cdc.sizes.max;
    for (let at = 0; at < bytes.length;) {
      const window = this.#window ??= this.#windows.take(WINDOW + max);
      const cut = this.#cdc.next(bytes, at);
      const end = cut < 0 ? bytes.length : cut;
      window.set(bytes.subarray(at, end), this.#filled);
      this.#filled += end - at;
      at = end;
      if (cut < 0) break;
      this.#cuts.push(this.#chunkStart, this.#filled);
      this.#chunkStart = this.#filled;
      // A chunk never outgrows the room left: the window goes once less than max is left.
      if (this.#filled >= WINDOW) await this.#flushWindow();
    }
  }

  /** Ends the stream: the last chunk, the last window, the last pack. */
  async finish(): Promise<void> {
    if (this.#filled > this.#chunkStart) {
      this.#cuts.push(this.#chunkStart, this.#filled);
      this.#chunkStart = this.#filled;
    }
    this.#cdc.reset();
    await this.#flushWindow();
    await Promise.all(this.#ahead);
    await this.#chain;
    if (this.#packFilled > 0) await this.#seal();
    this.#windows.clear();
  }

  /** The file, as segments in order (adjacent runs of one block merged). */
  segments(): PackedSegment[] {
    const out: PackedSegment[] = [];
    for (const s of this.#segments) {
      const last = out.at(-1);
      if (last !== undefined && last.block === s.block && last.offset + last.length === s.offset) {
        last.length += s.length;
      } else out.push({ ...s });
    }
    return out;
  }

  /**
   * The index entries of a stored pack.
   *
   * @param pack The pack's number.
   * @param locator The block it was stored as.
   * @returns The entries (once: the pack is forgotten).
   */
  entriesOf(pack: number, locator: string): ChunkEntry[] {
    const chunks = this.#packChunks.get(pack) ?? [];
    this.#packChunks.delete(pack);
    return chunks.map((c) => ({ ...c, locator }));
  }

  async #flushWindow(): Promise<void> {
    const window = this.#window;
    const cuts = this.#cuts;
    this.#window = undefined;
    this.#cuts = [];
    this.#filled = 0;
    this.#chunkStart = 0;
    if (window === undefined || cuts.length === 0) {
      if (window !== undefined) this.#windows.give(window);
      return;
    }
    const ranges = Uint32Array.from(cuts);
    const end = ranges[ranges.length - 1]!;
    const pool = end < HASH_POOL_MIN_BYTES ? null : sharedHashPool();
    const hashed: Promise<Window & { hexes: string[] }> = pool === null
      ? Promise.resolve({ bytes: window, ranges, hexes: hashRanges(window, ranges) })
      : pool.hash(window.subarray(0, end), "sha256", { transfer: true, ranges, urgent: true }).then(
        (r) => ({
          bytes: r.bytes,
          ranges,
          hexes: r.hexes,
        }),
      );
    const step = this.#chain.then(async () => this.#process(await hashed));
    // A failure reaches the caller through push() or finish(); a write that
    // fails first never awaits the others, which must not go unhandled.
    hashed.catch(() => {});
    step.catch(() => {});
    this.#chain = step;
    this.#ahead.push(step);
    if (this.#ahead.length > WINDOWS_AHEAD) await this.#ahead.shift();
  }

  async #process(window: Window & { hexes: string[] }): Promise<void> {
    const { bytes, ranges, hexes } = window;
    const unknown = [...new Set(hexes.filter((h) => !this.#seen.has(h)))];
    const found = this.#options.index === undefined || unknown.length === 0
      ? new Map<string, ChunkLocation>()
      : await this.#options.index.lookup(unknown);
    await this.#keepExisting(found);
    for (let i = 0; i < hexes.length; i++) {
      const digest = hexes[i]!;
      const start = ranges[2 * i]!;
      const length = ranges[2 * i + 1]! - start;
      this.stats.chunks++;
      const known = this.#seen.get(digest) ??
        (found.has(digest)
          ? { block: found.get(digest)!.locator, ...found.get(digest)! }
          : undefined);
      if (known !== undefined && known.length === length) {
        this.#segments.push({ block: known.block, offset: known.offset, length });
        this.stats.chunksReused++;
        this.stats.bytesReused += length;
        continue;
      }
      if (this.#pack !== undefined && this.#packFilled + length > this.#options.blockSize) {
        await this.#seal();
      }
      const pack = this.#pack ??= this.#options.take(this.#options.blockSize);
      pack.set(bytes.subarray(start, start + length), this.#packFilled);
      const at = { block: this.#packNumber, offset: this.#packFilled, length };
      let chunks = this.#packChunks.get(this.#packNumber);
      if (chunks === undefined) this.#packChunks.set(this.#packNumber, chunks = []);
      chunks.push({ digest, offset: at.offset, length });
      this.#seen.set(digest, at);
      this.#segments.push(at);
      this.#packFilled += length;
      this.stats.bytesStored += length;
    }
    this.#windows.give(bytes);
  }

  /** Drops index hits whose block is gone (and the entries with them). */
  async #keepExisting(found: Map<string, ChunkLocation>): Promise<void> {
    const exists = this.#options.exists;
    if (found.size === 0 || exists === undefined) return;
    const gone: string[] = [];
    for (const [digest, location] of found) {
      let check = this.#exists.get(location.locator);
      if (check === undefined) {
        check = exists(location.locator).catch(() => false);
        this.#exists.set(location.locator, check);
      }
      if (!(await check)) {
        found.delete(digest);
        gone.push(digest);
      }
    }
    if (gone.length > 0) await this.#options.index!.drop(gone);
  }

  async #seal(): Promise<void> {
    const pack = this.#pack!.subarray(0, this.#packFilled);
    this.#pack = undefined;
    this.#packFilled = 0;
    const number = this.#packNumber++;
    const submitted = await this.#options.submit(pack);
    if (submitted !== number) {
      throw new Error(`pack ${number} was stored as block ${submitted}: out of order`);
    }
  }
}

/** Each range's SHA-256, on this thread. */
function hashRanges(bytes: Uint8Array, ranges: Uint32Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < ranges.length; i += 2) {
    out.push(createHash("sha256").update(bytes.subarray(ranges[i]!, ranges[i + 1]!)).digest("hex"));
  }
  return out;
}
