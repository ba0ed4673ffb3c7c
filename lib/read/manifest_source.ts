/**
 * `manifestSource`: the bytes a manifest describes (one file, or every file
 * in order) as a {@linkcode RangeSource}, read block by block through a
 * {@linkcode BlockReader}: in practice a `BlockClient`, whose reads go through
 * its block cache and whose `prefetch` fetches the next blocks ahead. Block
 * prefetch fires on the first read and on crossing into a new block, not on
 * every read (seed 000's rule). `BlockClient.readable` and `BlockClient.open`
 * read through it; private to the package.
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
 * ```
 *
 * @module
 */
import type { GetOptions } from "../model/block_store.ts";
import { type Manifest, sliceSegments } from "../model/manifest.ts";
import { parseLocator } from "../model/locator.ts";
import { checkRange } from "../model/_range.ts";
import type { RangeSource } from "./range_source.ts";

/** Where a manifest's blocks are read from: a `BlockClient`, or any `BlockStore`. */
export interface BlockReader {
  /** Reads a block, or a range of one, verified. */
  get(locator: string, options?: GetOptions): Promise<Uint8Array>;
  /** Fetches blocks ahead of need (into a cache); a store without one leaves this out. */
  prefetch?(locators: readonly string[]): void;
}

/** Options for {@linkcode manifestSource}. */
export interface ManifestSourceOptions {
  /** The file to read. @default {every file, in order} */
  file?: string;
  /** Blocks prefetched ahead of the one being read. @default {2} */
  prefetchBlocks?: number;
}

/**
 * A source over a manifest's bytes; see the module doc.
 *
 * @param blocks Where the blocks are read from.
 * @param manifest The manifest.
 * @param options The file, and how far ahead to prefetch blocks.
 * @returns A source.
 * @throws {RangeError} When the file is not in the manifest.
 */
export function manifestSource(
  blocks: BlockReader,
  manifest: Manifest,
  options: ManifestSourceOptions = {},
): RangeSource {
  const segments = manifest.segments(options.file);
  const ahead = options.prefetchBlocks ?? 2;
  const starts: number[] = [];
  let size = 0;
  for (const s of segments) {
    starts.push(size);
    size += s.length;
  }
  let lastSegment = -1;
  const prefetchFrom = (start: number): void => {
    if (blocks.prefetch === undefined || ahead <= 0) return;
    let index = 0;
    while (index + 1 < starts.length && starts[index + 1]! <= start) index++;
    if (index === lastSegment) return;
    lastSegment = index;
    const next = segments.slice(index + 1, index + 1 + ahead).map((s) => s.locator);
    if (next.length > 0) blocks.prefetch(next);
  };
  return {
    size,
    async read(start, end, opts = {}) {
      checkRange(start, end, size);
      prefetchFrom(start);
      const parts = sliceSegments(segments, start, end).filter((s) => s.length > 0);
      const pieces = await Promise.all(parts.map((s) => {
        const whole = s.offset === 0 && s.length === parseLocator(s.locator).size;
        const get: GetOptions = whole
          ? {}
          : { range: { start: s.offset, end: s.offset + s.length } };
        if (opts.signal !== undefined) get.signal = opts.signal;
        return blocks.get(s.locator, get);
      }));
      if (pieces.length === 1) return pieces[0]!;
      const out = new Uint8Array(end - start);
      let at = 0;
      for (const p of pieces) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
  };
}
