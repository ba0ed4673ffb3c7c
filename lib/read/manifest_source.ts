/**
 * `manifestSource`: the bytes a manifest describes (one file, or every file
 * in order) as a {@linkcode RangeSource}, read block by block through a
 * {@linkcode BlockReader}: in practice a `BlockClient`, whose reads go through
 * its block cache (one shared fetch a block). Its `boundary` is the end of
 * each block (of each run of segments in one block), so the prefetcher's requests are whole blocks and its
 * concurrency controller decides how many block GETs run ahead: block
 * prefetch happens when the prefetch window moves past a block, not on every
 * read (seed 000's rule). `BlockClient.readable` and `BlockClient.open` read
 * through it; private to the package.
 *
 * @example Reading a manifest's bytes from a store
 * ```ts
 * import { Manifest, MemoryStore } from "stowage";
 * import { manifestSource } from "./manifest_source.ts";
 *
 * const store = new MemoryStore();
 * const { locator } = await store.put(new TextEncoder().encode("hello"));
 * const source = manifestSource(store, Manifest.fromBlocks("a.txt", [locator]));
 * const bytes = await source.read(1, 4);
 * if (new TextDecoder().decode(bytes) !== "ell") throw new Error("wrong bytes");
 * if (source.boundary?.(1) !== 5) throw new Error("the block ends at 5");
 * ```
 *
 * @module
 */
import type { GetOptions } from "../model/block_store.ts";
import { type Manifest, sliceSegments, upperBound } from "../model/manifest.ts";
import { parseLocator } from "../model/locator.ts";
import { checkRange } from "../model/_range.ts";
import { concat } from "../platform/_concat.ts";
import type { RangeSource } from "./range_source.ts";

/** Where a manifest's blocks are read from: a `BlockClient`, or any `BlockStore`. */
export interface BlockReader {
  /** Reads a block, or a range of one, verified. */
  get(locator: string, options?: GetOptions): Promise<Uint8Array>;
}

/** Options for {@linkcode manifestSource}. */
export interface ManifestSourceOptions {
  /** The file to read. @default {every file, in order} */
  file?: string;
}

/**
 * A source over a manifest's bytes; see the module doc.
 *
 * @param blocks Where the blocks are read from.
 * @param manifest The manifest.
 * @param options The file.
 * @returns A source.
 * @throws {RangeError} When the file is not in the manifest.
 */
export function manifestSource(
  blocks: BlockReader,
  manifest: Manifest,
  options: ManifestSourceOptions = {},
): RangeSource {
  const segments = manifest.segments(options.file);
  // Where each run of segments in one block ends, for `boundary` (a binary
  // search). A content-chunked file skips about inside a block (a segment
  // a chunk run, the block read once into the cache): one request a run.
  const ends: number[] = [];
  let size = 0;
  segments.forEach((s, i) => {
    size += s.length;
    if (segments[i + 1]?.locator !== s.locator) ends.push(size);
  });
  // The largest block: a sequential read keeps three blocks' worth ahead.
  let unit = 0;
  for (const s of segments) unit = Math.max(unit, parseLocator(s.locator).size);
  return {
    size,
    unit,
    boundary(offset) {
      return ends[upperBound(ends, offset)] ?? size;
    },
    async read(start, end, opts = {}) {
      checkRange(start, end, size);
      const parts = sliceSegments(segments, start, end).filter((s) => s.length > 0);
      const pieces = await Promise.all(parts.map((s) => {
        const whole = s.offset === 0 && s.length === parseLocator(s.locator).size;
        const get: GetOptions = whole
          ? {}
          : { range: { start: s.offset, end: s.offset + s.length } };
        if (opts.signal !== undefined) get.signal = opts.signal;
        if (opts.onPushback !== undefined) get.onPushback = opts.onPushback;
        return blocks.get(s.locator, get);
      }));
      return pieces.length === 1 ? pieces[0]! : concat(pieces);
    },
  };
}
