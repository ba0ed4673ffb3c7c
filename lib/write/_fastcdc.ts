/**
 * FastCDC (Xia et al., 2016 and 2020): content-defined cut points over a Gear
 * rolling hash, with normalized chunking: below the average size a cut needs
 * more hash bits to be zero (it is rarer), above it fewer, so chunk sizes
 * gather around the average. The first `min` bytes of each chunk are skipped
 * unhashed (cut-point skipping); a chunk never exceeds `max`.
 *
 * Cut points depend only on the bytes: the hash state carries across calls,
 * so the same bytes cut the same way whatever sizes they arrive in, in Node and
 * in Deno alike (32-bit integer arithmetic, a fixed table). Private to the
 * package.
 *
 * @example
 * ```ts
 * import { FastCdc } from "./_fastcdc.ts";
 *
 * const cdc = new FastCdc({ min: 64, avg: 256, max: 1024 });
 * const bytes = new Uint8Array(10_000).map((_, i) => (i * 2654435761) >>> 24);
 * const cuts: number[] = [];
 * for (let at = 0, cut; (cut = cdc.next(bytes, at)) >= 0; at = cut) cuts.push(cut);
 * if (cuts.some((c, i) => c - (cuts[i - 1] ?? 0) > 1024)) throw new Error("chunk over max");
 * ```
 *
 * @module
 */

/** Chunk sizes for content-defined chunking, in bytes. */
export interface ChunkSizes {
  /** Smallest chunk (but the stream's last). @default {16384} */
  min?: number;
  /** Average chunk, a power of two. @default {65536} */
  avg?: number;
  /** Largest chunk. @default {262144} */
  max?: number;
}

/** The defaults: 16 / 64 / 256 KiB. */
export const DEFAULT_CHUNK_SIZES: Readonly<Required<ChunkSizes>> = Object.freeze({
  min: 16 * 1024,
  avg: 64 * 1024,
  max: 256 * 1024,
});

/**
 * The Gear table: 256 pseudo-random 32-bit values from a fixed seed
 * (SplitMix32), so every runtime and every version cuts the same.
 */
const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  let state = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    table[i] = z ^ (z >>> 16);
  }
  return table;
})();

/**
 * A mask of `bits` one-bits at the top of 32: the bits that hold the most
 * history. Signed 32-bit, like the hash, so the loop stays in small integers.
 */
function topMask(bits: number): number {
  return bits >= 32 ? -1 : -1 << (32 - bits);
}

/**
 * Checks chunk sizes and fills in the defaults.
 *
 * @param sizes Wanted sizes.
 * @returns The sizes.
 * @throws {RangeError} Unless 64 ≤ min ≤ avg ≤ max ≤ 64 MiB and avg is a power of two.
 */
export function chunkSizes(sizes: ChunkSizes = {}): Required<ChunkSizes> {
  const min = sizes.min ?? Math.min(DEFAULT_CHUNK_SIZES.min, sizes.avg ?? Infinity);
  const avg = sizes.avg ?? DEFAULT_CHUNK_SIZES.avg;
  const max = sizes.max ?? Math.max(DEFAULT_CHUNK_SIZES.max, avg);
  for (const [name, value] of [["min", min], ["avg", avg], ["max", max]] as const) {
    if (!Number.isSafeInteger(value) || value < 64 || value > 64 * 1024 * 1024) {
      throw new RangeError(
        `Cannot use chunk sizes as ${name} must be an integer from 64 to 67108864: current value is ${value}`,
      );
    }
  }
  if (!(min <= avg && avg <= max)) {
    throw new RangeError(
      `Cannot use chunk sizes as they must satisfy min <= avg <= max: current values are ${min}, ${avg}, ${max}`,
    );
  }
  if ((avg & (avg - 1)) !== 0) {
    throw new RangeError(
      `Cannot use chunk sizes as avg must be a power of two: current value is ${avg}`,
    );
  }
  return { min, avg, max };
}

/** The hash where the last {@linkcode scan} stopped without a cut. */
let scanned = 0;

/**
 * The hot loop, a plain function over locals (V8 keeps it in 32-bit
 * registers): the index past the first cut in `[i, stop)`, or -1 with the
 * hash left in `scanned`.
 */
function scan(bytes: Uint8Array, i: number, stop: number, hash: number, mask: number): number {
  const gear = GEAR;
  // Four bytes a turn: Node's V8 runs this a fifth faster than one a turn.
  for (const last = stop - 3; i < last; i += 4) {
    hash = ((hash << 1) + gear[bytes[i]!]!) | 0;
    if ((hash & mask) === 0) return i + 1;
    hash = ((hash << 1) + gear[bytes[i + 1]!]!) | 0;
    if ((hash & mask) === 0) return i + 2;
    hash = ((hash << 1) + gear[bytes[i + 2]!]!) | 0;
    if ((hash & mask) === 0) return i + 3;
    hash = ((hash << 1) + gear[bytes[i + 3]!]!) | 0;
    if ((hash & mask) === 0) return i + 4;
  }
  for (; i < stop; i++) {
    hash = ((hash << 1) + gear[bytes[i]!]!) | 0;
    if ((hash & mask) === 0) return i + 1;
  }
  scanned = hash;
  return -1;
}

/** See the module doc. */
export class FastCdc {
  /** The sizes in use. */
  readonly sizes: Readonly<Required<ChunkSizes>>;
  #maskS: number;
  #maskL: number;
  #hash = 0;
  /** Bytes of the current chunk seen so far. */
  #length = 0;

  /**
   * Creates a {@linkcode FastCdc}.
   *
   * @param sizes Min, average and max chunk sizes.
   * @throws {RangeError} On sizes {@linkcode chunkSizes} refuses.
   */
  constructor(sizes: ChunkSizes = {}) {
    this.sizes = Object.freeze(chunkSizes(sizes));
    const bits = Math.log2(this.sizes.avg);
    // Normalization level 2, as the paper recommends.
    this.#maskS = topMask(bits + 2);
    this.#maskL = topMask(Math.max(1, bits - 2));
  }

  /** Bytes of the current, unfinished chunk. */
  get pending(): number {
    return this.#length;
  }

  /**
   * Scans `bytes` from `start` for the end of the current chunk.
   *
   * @param bytes The next bytes of the stream (the chunk so far came before them).
   * @param start Where to start in `bytes`.
   * @returns The offset in `bytes` just past the cut (a chunk ends there and
   *   the next begins), or -1 when `bytes` ends first (the chunk continues).
   */
  next(bytes: Uint8Array, start: number): number {
    const { min, avg, max } = this.sizes;
    const end = bytes.length;
    let i = start;
    // The chunk's length at index i is base + i.
    const base = this.#length - start;
    // Cut-point skipping: the first `min` bytes of a chunk are never a cut.
    if (base + i < min) {
      i = Math.min(end, min - base);
      if (base + i < min) {
        this.#length = base + i;
        return -1;
      }
    }
    // Below the average, the strict mask; from there to max, the loose one.
    let stop = Math.min(end, avg - base);
    let cut = scan(bytes, i, stop, this.#hash, this.#maskS);
    if (cut < 0) {
      i = Math.max(i, stop);
      stop = Math.min(end, max - base);
      cut = scan(bytes, i, stop, scanned, this.#maskL);
      if (cut < 0) i = Math.max(i, stop);
    }
    if (cut >= 0) return this.#cut(cut);
    if (base + i >= max) return this.#cut(i);
    this.#hash = scanned;
    this.#length = base + i;
    return -1;
  }

  /** Forgets the current chunk (the stream ended, or starts again). */
  reset(): void {
    this.#hash = 0;
    this.#length = 0;
  }

  #cut(at: number): number {
    this.#hash = 0;
    this.#length = 0;
    return at;
  }
}
